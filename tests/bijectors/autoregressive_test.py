"""MaskedAutoregressive (MAF / IAF): D-pass inverses exact to rounding both ways (eager, graph, XLA),
one compiled loop whatever D, conditioning, the affine transformer's soft bound, argument checks."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import check_bijector
from tfp_realnvp.bijectors import AffineTransformer, MaskedAutoregressive, Transformer
from tfp_realnvp.networks import MADE

tfd = tfp.distributions
F64 = tf.float64


def layer(features=5, iaf=False, condition_dims=0, residual_blocks=1, order="random", stddev=0.3, dtype=F64, **kw):
    made = MADE(
        features,
        hidden_units=(16, 16),
        order=order,
        residual_blocks=residual_blocks,
        condition_dims=condition_dims,
        dtype=dtype,
        seed=3,
    )
    b = MaskedAutoregressive(made, inverse_autoregressive=iaf, dtype=dtype, **kw)
    for i, v in enumerate(b.trainable_variables):
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[7, i], stddev=stddev, dtype=v.dtype))
    return b


def points(shape, seed=0, dtype=F64):
    return tf.random.stateless_normal(shape, seed=[seed, 1], dtype=dtype)


@pytest.mark.parametrize("iaf", [False, True], ids=["maf", "iaf"])
def test_d_pass_inverse_is_exact_both_ways_eagerly_in_graphs_and_under_xla(iaf):
    b = layer(iaf=iaf)
    x = points([2, 3, 5])  # batch shape [2, 3]

    def round_trips(x):
        z = b.inverse(x)
        x_back = b.forward(tf.identity(z))
        y = b.forward(x)
        return z, x_back, b.inverse(tf.identity(y)), y

    eager = round_trips(x)
    for fn in (round_trips, tf.function(round_trips), tf.function(round_trips, jit_compile=True)):
        z, x_back, y_back, y = fn(x)
        np.testing.assert_allclose(x_back, x, rtol=1e-5, atol=1e-10)  # float64: ~1e-15 in practice
        np.testing.assert_allclose(y_back, x, rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(z, eager[0], rtol=1e-12)
        assert np.abs(z - x).max() > 0.1 and z.shape == x.shape  # the perturbed layer does something


@pytest.mark.parametrize("iaf", [False, True], ids=["maf", "iaf"])
def test_log_dets_match_the_autodiff_jacobian(iaf):
    check_bijector(layer(iaf=iaf, features=4), points([3, 4], seed=2), [4], rtol=1e-9, atol=1e-10)


def count_made_calls(b, monkeypatch):
    calls = []
    original = MADE.__call__

    def counting(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MADE, "__call__", counting)
    return calls


@pytest.mark.parametrize("iaf", [False, True], ids=["maf", "iaf"])
def test_the_slow_direction_is_one_while_loop_whatever_d(iaf, monkeypatch):
    """The D-pass direction traces the MADE once and builds the same graph for D = 3 and D = 12;
    eagerly it makes D passes, the fast direction one."""
    sizes = []
    for features in (3, 12):
        b = layer(features=features, iaf=iaf, residual_blocks=0)
        calls = count_made_calls(b, monkeypatch)
        slow, fast = (b.inverse, b.forward) if iaf else (b.forward, b.inverse)
        x = points([4, features])
        slow(x)
        assert len(calls) == features, calls
        calls.clear()
        fast(tf.identity(x))
        assert len(calls) == 1, calls
        calls.clear()
        graph = tf.function(slow).get_concrete_function(tf.TensorSpec([None, features], F64)).graph
        assert len(calls) == 1, calls
        loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
        assert len(loops) == 1, [op.type for op in graph.get_operations()]
        sizes.append(len(graph.get_operations()))
        monkeypatch.undo()
    assert sizes[0] == sizes[1], sizes


@pytest.mark.parametrize("iaf", [False, True], ids=["maf", "iaf"])
def test_gradients_through_the_loop_match_under_xla(iaf):
    b = layer(features=4, iaf=iaf)
    x = points([6, 4], seed=3)
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(tf.constant(0.0, F64), 1.0), [4]), b)

    def grads(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        return tape.gradient(loss, b.trainable_variables)

    eager = grads(x)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in eager)
    for want, got in zip(eager, tf.function(grads, jit_compile=True)(x), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("iaf", [False, True], ids=["maf", "iaf"])
def test_conditional_layer_round_trips_and_depends_on_the_condition(iaf):
    b = layer(features=3, iaf=iaf, condition_dims=2)
    x = points([2, 4, 3])
    c = points([2, 4, 2], seed=5)
    z = b.inverse(x, condition=c)
    np.testing.assert_allclose(b.forward(tf.identity(z), condition=c), x, rtol=1e-6, atol=1e-10)
    other = b.inverse(x, condition=c + 1.0)
    assert np.all(np.abs(other - z).max(axis=(0, 1)) > 1e-6)  # every dimension, the first one too
    ildj = b.inverse_log_det_jacobian(x, event_ndims=1, condition=c)
    assert ildj.shape == (2, 4)
    with pytest.raises(ValueError, match="condition"):
        b.inverse(x)
    with pytest.raises(ValueError, match="condition"):
        b.inverse(x, condition=points([2, 4, 3]))
    with pytest.raises(ValueError, match="condition"):
        layer(features=3).forward(x, condition=c)


def test_mixed_precision_runs_the_made_in_the_compute_dtype():
    b = layer(features=3, dtype=tf.float32, compute_dtype=tf.bfloat16)
    x = points([4, 3], dtype=tf.float32)
    z = b.inverse(x)
    assert z.dtype == tf.float32 and b.made.trainable_variables[0].dtype == tf.float32
    np.testing.assert_allclose(b.forward(tf.identity(z)), x, atol=1e-4)


def test_affine_transformer_is_the_identity_at_zero_and_its_log_scale_is_soft_bounded():
    t = AffineTransformer(bound=2.0)
    u = tf.constant([[-1.0, 0.5]])
    v, log_det = t.forward(u, tf.zeros([1, 2, 2]))
    np.testing.assert_array_equal(v, u)
    np.testing.assert_array_equal(log_det, 0.0)
    raw = tf.constant([[[0.0, 1e6], [0.0, -1e6]]])
    _, log_det = t.forward(u, raw)
    assert np.all(np.abs(log_det) < 2.0) and np.all(np.abs(log_det) > 1.99)
    with tf.GradientTape() as tape:
        tape.watch(raw)
        s = t.forward(u, raw * 1e-6)[1]  # raw = +-1: slope (1 + 1/2)^-2
    np.testing.assert_allclose(tape.gradient(s, raw)[..., 1] * 1e6, [[4 / 9, 4 / 9]], rtol=1e-5)
    np.testing.assert_allclose(t.inverse(t.forward(u, raw)[0], raw), u, rtol=1e-6)


def test_bad_arguments_name_themselves():
    made = MADE(3, hidden_units=(4,))
    with pytest.raises(TypeError, match="made"):
        MaskedAutoregressive(lambda x: x)
    with pytest.raises(TypeError, match="transformer"):
        MaskedAutoregressive(made, transformer=lambda u, p: u)
    with pytest.raises(ValueError, match="params_per_dim=3.*num_params=2"):
        MaskedAutoregressive(MADE(3, params_per_dim=3))
    with pytest.raises(TypeError, match="inverse_autoregressive"):
        MaskedAutoregressive(made, inverse_autoregressive="yes")
    with pytest.raises(ValueError, match="shape"):
        MaskedAutoregressive(made).forward(tf.zeros([2, 4]))
    with pytest.raises(ValueError, match="bound"):
        AffineTransformer(bound=0.0)
    assert isinstance(AffineTransformer(), Transformer) and AffineTransformer.num_params == 2
