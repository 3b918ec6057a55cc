import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_all_gradients_nonzero, check_bijector, train_a_few_steps
from tfp_realnvp.bijectors import (
    AffineCoupling,
    Squeeze,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    half_mask,
    squeezed_checkerboard_mask,
)
from tfp_realnvp.bijectors.affine_coupling import SIGMOID_FLOOR
from tfp_realnvp.networks import MLPConditioner, ResNetConditioner

tfd = tfp.distributions

IMAGE = (4, 4, 2)
VECTOR = (6,)
MASKS = {
    "checkerboard": lambda p: checkerboard_mask(*IMAGE, parity=p),
    "channel": lambda p: channel_mask(*IMAGE, parity=p),
    "alternating": lambda p: alternating_mask(VECTOR[0], parity=p),
    "half": lambda p: half_mask(VECTOR[0], parity=p),
}
BATCHES = [(), (3,), (2, 2)]


def make_coupling(kind, parity, dtype, additive=False, seed=0, scale_fn="tanh"):
    mask = MASKS[kind](parity)
    k = 1 if additive else 2
    if mask.ndim == 3:
        net = ResNetConditioner(IMAGE[-1], hidden_channels=8, num_blocks=1, num_outputs=k, dtype=dtype, seed=seed)
    else:
        net = MLPConditioner(VECTOR[0], hidden_units=(16, 16), num_outputs=k, dtype=dtype, seed=seed)
    return AffineCoupling(mask, net, additive=additive, dtype=dtype, scale_fn=scale_fn), mask.shape


def perturb(coupling, dtype, scale=0.3, seed=1):
    """Random output weights, so the coupling is not the identity (zero init hides bugs)."""
    rng = np.random.default_rng(seed)
    for v in coupling.trainable_variables:
        v.assign(v + tf.constant(rng.normal(0, scale, v.shape), dtype))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("additive", [False, True])
@pytest.mark.parametrize("parity", [0, 1])
@pytest.mark.parametrize("kind", sorted(MASKS))
def test_exact_inverse_and_log_det(kind, parity, additive, batch, dtype):
    coupling, event = make_coupling(kind, parity, dtype, additive)
    perturb(coupling, dtype)
    x = tf.random.stateless_normal([*batch, *event], seed=[1, 2], dtype=dtype)
    f64 = dtype == tf.float64
    y = check_bijector(coupling, x, event, jacobian=f64, rtol=1e-5 if f64 else 1e-4, atol=1e-8 if f64 else 1e-4)
    mask = MASKS[kind](parity)
    np.testing.assert_array_equal(np.asarray(y) * mask, np.asarray(x) * mask)  # masked units pass through
    if additive:
        np.testing.assert_array_equal(coupling.forward_log_det_jacobian(x, event_ndims=len(event)), 0.0)


@pytest.mark.parametrize("kind", ["checkerboard", "alternating"])
def test_checks_hold_after_training_and_every_variable_gets_gradient(kind):
    coupling, event = make_coupling(kind, 0, tf.float64)
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), event), coupling)
    data = tf.random.stateless_normal([32, *event], seed=[3, 4], dtype=tf.float64) * 2.0 + 0.5
    variables = flow.trainable_variables
    assert len(variables) == len(coupling.conditioner.trainable_variables) + 1  # + the tanh scale
    train_a_few_steps(variables, lambda: -tf.reduce_mean(flow.log_prob(data)), steps=5)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(flow.log_prob(data))
    assert_all_gradients_nonzero(variables, tape.gradient(loss, variables))
    x = tf.random.stateless_normal([3, *event], seed=[5, 6], dtype=tf.float64)
    y = check_bijector(coupling, x, event)
    assert float(tf.reduce_max(tf.abs(y - x))) > 1e-3  # trained away from the identity


def test_instances_with_different_weights_never_share_cache():
    a, event = make_coupling("checkerboard", 0, tf.float32, seed=0)
    b, _ = make_coupling("checkerboard", 0, tf.float32, seed=0)
    perturb(a, tf.float32, seed=1)
    perturb(b, tf.float32, seed=2)
    assert a != b and hash(a) != hash(b)
    x = tf.random.stateless_normal([2, *event], seed=[7, 8])
    ya, yb = a.forward(x), b.forward(x)  # same input tensor object: a shared cache would return ya
    assert float(tf.reduce_max(tf.abs(ya - yb))) > 1e-3
    assert float(tf.reduce_max(tf.abs(a.inverse(ya) - b.inverse(ya)))) > 1e-3


def test_new_coupling_is_identity():
    coupling, event = make_coupling("checkerboard", 1, tf.float32)
    x = tf.random.stateless_normal([2, *event], seed=[1, 1])
    np.testing.assert_array_equal(coupling.forward(x), x)


def test_log_scale_is_bounded_by_learned_scale():
    coupling, event = make_coupling("alternating", 0, tf.float64)
    for v in coupling.conditioner.trainable_variables:
        v.assign(v + 100.0)  # drive tanh into saturation
    x = tf.random.stateless_normal([4, *event], seed=[2, 3], dtype=tf.float64)
    ldj = coupling.forward_log_det_jacobian(x, event_ndims=1)
    n_unmasked = int(np.sum(1 - MASKS["alternating"](0)))
    assert np.all(np.abs(ldj) <= n_unmasked * 1.0 + 1e-9)


@pytest.mark.parametrize("scale_fn", ["sigmoid", "exp"])
@pytest.mark.parametrize("kind", ["checkerboard", "channel", "alternating"])
def test_sigmoid_and_exp_scales_exact_inverse_and_log_det(kind, scale_fn):
    coupling, event = make_coupling(kind, 1, tf.float64, scale_fn=scale_fn)
    assert coupling.scale is None
    assert len(coupling.trainable_variables) == len(coupling.conditioner.trainable_variables)
    perturb(coupling, tf.float64)
    x = tf.random.stateless_normal([3, *event], seed=[1, 2], dtype=tf.float64)
    y = check_bijector(coupling, x, event, atol=1e-8)
    assert float(tf.reduce_max(tf.abs(y - x))) > 1e-3


def _constant_conditioner(s_raw, t):
    return lambda h: tf.concat([tf.fill(tf.shape(h), s_raw), tf.fill(tf.shape(h), t)], -1)


@pytest.mark.parametrize("s_raw", [-1000.0, -1.5, 0.0, 2.0, 1000.0])
def test_scale_fn_formulas(s_raw):
    mask = alternating_mask(4)
    y = tf.constant([[1.0, -2.0, 3.0, 0.5]], tf.float64)
    t = 0.25
    free = (1 - mask).astype(bool)
    log_multiplier = {  # log of the data -> latent multiplier of the transformed units
        # log(eps + (1 - eps) sigmoid(s_raw + 2)): Glow's sigmoid with its floor, log eps at -1000
        "sigmoid": np.logaddexp(np.log(SIGMOID_FLOOR), np.log1p(-SIGMOID_FLOOR) - np.logaddexp(0.0, -(s_raw + 2.0))),
        "exp": -s_raw,
        "tanh": -np.tanh(s_raw),
    }
    for scale_fn, log_m in log_multiplier.items():
        if scale_fn == "exp" and abs(s_raw) > 100:
            continue  # exp(1000) overflows float64, as it should for an unbounded scale
        coupling = AffineCoupling(mask, _constant_conditioner(s_raw, t), dtype=tf.float64, scale_fn=scale_fn)
        x = coupling.inverse(y)
        ildj = coupling.inverse_log_det_jacobian(y, event_ndims=1)
        np.testing.assert_allclose(x.numpy()[0, free], (y.numpy()[0, free] - t) * np.exp(log_m), rtol=1e-12)
        np.testing.assert_array_equal(x.numpy()[0, ~free], y.numpy()[0, ~free])
        np.testing.assert_allclose(ildj, [free.sum() * log_m], rtol=1e-12, atol=1e-12)
    # The default is the explicit "tanh", bit for bit.
    net = _constant_conditioner(s_raw, t)
    np.testing.assert_array_equal(
        AffineCoupling(mask, net, dtype=tf.float64).forward(y),
        AffineCoupling(mask, net, dtype=tf.float64, scale_fn="tanh").forward(y),
    )


def test_errors_name_the_problem():
    net = MLPConditioner(4, (8,))
    with pytest.raises(ValueError, match="only 0s and 1s"):
        AffineCoupling(np.ones(4), net)
    with pytest.raises(ValueError, match="only 0s and 1s"):
        AffineCoupling(np.array([0, 2, 0, 1]), net)
    with pytest.raises(ValueError, match="event shape"):
        AffineCoupling(np.ones((2, 2)), net)
    with pytest.raises(TypeError, match="callable"):
        AffineCoupling(alternating_mask(4), "net")
    with pytest.raises(ValueError, match="parity"):
        checkerboard_mask(4, 4, 1, parity=2)
    with pytest.raises(ValueError, match="even number of channels"):
        channel_mask(4, 4, 3)
    for bad in ("softplus", None, 1, "TANH"):
        with pytest.raises(ValueError, match="scale_fn"):
            AffineCoupling(alternating_mask(4), net, scale_fn=bad)
    with pytest.raises(ValueError, match="scale_init"):
        AffineCoupling(alternating_mask(4), net, scale_fn="sigmoid", scale_init=0.5)
    with pytest.raises(ValueError, match="scale_fn"):
        AffineCoupling(alternating_mask(4), net, scale_fn="exp", additive=True)
    with pytest.raises(ValueError, match="scale_init"):
        AffineCoupling(alternating_mask(4), net, scale_init="1")
    coupling = AffineCoupling(alternating_mask(4), net)
    with pytest.raises(ValueError, match="does not end in the event shape"):
        coupling.forward(tf.zeros([2, 5]))
    bad = AffineCoupling(alternating_mask(4), MLPConditioner(4, (8,), num_outputs=1))
    with pytest.raises(ValueError, match=r"conditioner returned shape \(2, 4\), the coupling needs \[N, 8\]"):
        bad.forward(tf.zeros([2, 4]))


def test_masks():
    cb = checkerboard_mask(2, 2, 1, parity=0)[..., 0]
    np.testing.assert_array_equal(cb, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(checkerboard_mask(2, 2, 1, parity=1)[..., 0], 1 - cb)
    np.testing.assert_array_equal(channel_mask(1, 1, 4, 0)[0, 0], [1, 1, 0, 0])
    np.testing.assert_array_equal(channel_mask(1, 1, 4, 1)[0, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(alternating_mask(5, 1), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(half_mask(4, 0), [1, 1, 0, 0])
    for parity in (0, 1):  # the checkerboard in Squeeze's layout: a coupling with it moves the same pixels
        board = checkerboard_mask(4, 6, 3, parity)
        squeezed = squeezed_checkerboard_mask(4, 6, 3, parity)
        np.testing.assert_array_equal(Squeeze().forward(board[None])[0], squeezed)
        np.testing.assert_array_equal(squeezed, np.broadcast_to(squeezed[0, 0], squeezed.shape))  # a channel mask
    with pytest.raises(ValueError, match="even"):
        squeezed_checkerboard_mask(5, 4, 1)


SPLIT_MASKS = {
    "first_half": np.broadcast_to(np.array([1, 1, 0, 0], np.float32), (2, 3, 4)),
    "second_half": np.broadcast_to(np.array([0, 0, 1, 1], np.float32), (2, 3, 4)),
    "interleaved": np.broadcast_to(np.array([1, 0, 0, 1, 0], np.float32), (2, 3, 5)),  # kept 2, moved 3
    "vector": half_mask(5, parity=1),
}


def _dense(inputs, outputs, seed):
    w = tf.constant(np.random.default_rng(seed).normal(0, 0.7, (inputs, outputs)))
    return lambda h: tf.tanh(tf.einsum("...i,io->...o", h, w))


@pytest.mark.parametrize("scale_fn", ["tanh", "sigmoid", "exp", "additive"])
@pytest.mark.parametrize("name", sorted(SPLIT_MASKS))
def test_split_channels_is_the_masked_coupling_without_the_masked_half(name, scale_fn):
    """A conditioner of the kept channels alone gives the masked coupling's transform and log-det,
    whatever the order of the kept and moved channels."""
    mask = SPLIT_MASKS[name]
    per_position = mask.reshape(-1, mask.shape[-1])[0]
    kept, moved = np.flatnonzero(per_position), np.flatnonzero(per_position == 0)
    additive = scale_fn == "additive"
    k = 1 if additive else 2
    small = _dense(len(kept), k * len(moved), seed=len(kept) + 7 * k)
    # The same function as a masked conditioner: read the kept channels, write the moved ones.
    scatter = np.zeros((k * len(moved), k * mask.shape[-1]))
    for part in range(k):
        scatter[part * len(moved) + np.arange(len(moved)), part * mask.shape[-1] + moved] = 1.0

    def full(h):
        return tf.einsum("...i,io->...o", small(tf.gather(h, kept, axis=-1)), tf.constant(scatter))

    options = dict(additive=True) if additive else dict(scale_fn=scale_fn)
    split = AffineCoupling(mask, small, split_channels=True, dtype=tf.float64, **options)
    masked = AffineCoupling(mask, full, dtype=tf.float64, **options)
    event = mask.shape
    x = tf.random.stateless_normal([3, *event], seed=[4, 5], dtype=tf.float64)
    y = check_bijector(split, x, event, jacobian=True, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(y, masked.forward(tf.identity(x)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        split.forward_log_det_jacobian(x, event_ndims=len(event)),
        masked.forward_log_det_jacobian(tf.identity(x), event_ndims=len(event)),
        rtol=1e-12,
    )
    assert float(tf.reduce_max(tf.abs(y - x))) > 1e-2


def test_split_channels_errors_name_the_problem():
    with pytest.raises(ValueError, match="same at every position"):
        AffineCoupling(checkerboard_mask(2, 2, 2), lambda h: h, split_channels=True)
    with pytest.raises(TypeError, match="split_channels"):
        AffineCoupling(channel_mask(2, 2, 2), lambda h: h, split_channels="yes")
    coupling = AffineCoupling(channel_mask(2, 2, 4), lambda h: tf.concat([h, h, h], -1), split_channels=True)
    with pytest.raises(ValueError, match=r"the coupling needs \[N, 2, 2, 4\]"):
        coupling.forward(tf.zeros([1, 2, 2, 4]))
