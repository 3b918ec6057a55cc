"""Glow's conditioners: shapes, zero output at init, gradients, empty batches, argument checks."""

import numpy as np
import pytest
import tensorflow as tf

from tests.bijector_checks import assert_all_gradients_nonzero, check_bijector, train_a_few_steps
from tfp_realnvp.bijectors import AffineCoupling, channel_mask
from tfp_realnvp.networks import GlowConditioner, ZeroConvConditioner

NETWORKS = {
    "glow": lambda c, k, dtype=tf.float32: GlowConditioner(c, hidden_channels=8, num_outputs=k, dtype=dtype, seed=3),
    "zero_conv": lambda c, k, dtype=tf.float32: ZeroConvConditioner(c, num_outputs=k, dtype=dtype),
}
GRIDS = [(2, 2), (8, 8)]  # a small grid takes conv2d_same's matmul, a larger one tf.nn.conv2d


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("num_outputs", [1, 2])
@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_shape_and_zero_output_at_init(kind, num_outputs, grid):
    net = NETWORKS[kind](3, num_outputs)
    x = tf.random.stateless_normal([2, *grid, 3], seed=[1, 2])
    out = net(x)
    assert out.shape == (2, *grid, num_outputs * 3)
    np.testing.assert_array_equal(out, 0.0)


def test_glow_conditioner_layers():
    net = GlowConditioner(3, hidden_channels=8, seed=3)
    assert net.in_conv.w.shape == (3, 3, 3, 8)
    assert net.hidden_conv.w.shape == (1, 1, 8, 8)
    assert net.out_conv.conv.w.shape == (3, 3, 8, 6) and net.out_conv.logs.shape == (6,)
    assert len(net.trainable_variables) == 7  # 2 kernels + 2 biases, out kernel + bias + logs
    std = np.std(net.in_conv.w.numpy())
    assert 0.7 * np.sqrt(2 / 27) < std < 1.3 * np.sqrt(2 / 27)  # He initialisation
    other = GlowConditioner(3, hidden_channels=8, seed=4)
    assert not np.allclose(net.in_conv.w, other.in_conv.w)
    np.testing.assert_array_equal(net.in_conv.w, GlowConditioner(3, hidden_channels=8, seed=3).in_conv.w)


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_gradients_reach_every_variable(kind):
    net = NETWORKS[kind](2, 2)
    x = tf.random.stateless_normal([4, 4, 4, 2], seed=[3, 4])
    target = tf.random.stateless_normal([4, 4, 4, 4], seed=[5, 6])
    variables = net.trainable_variables
    grads = train_a_few_steps(variables, lambda: tf.reduce_mean(tf.square(net(x) - target)), steps=3)
    assert_all_gradients_nonzero(variables, grads)


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_empty_batch(kind, grid):
    net = NETWORKS[kind](3, 2)
    empty = tf.zeros([0, *grid, 3])
    assert net(empty).shape == (0, *grid, 6)
    traced = tf.function(net.__call__, input_signature=[tf.TensorSpec([None, *grid, 3])])
    assert traced(empty).shape == (0, *grid, 6)


def test_in_a_glow_coupling_and_split_prior():
    event = (4, 4, 4)
    x = tf.random.stateless_normal([3, *event], seed=[7, 8], dtype=tf.float64)
    rng = np.random.default_rng(0)
    for net, scale_fn in (
        (NETWORKS["glow"](2, 2, tf.float64), "sigmoid"),
        (NETWORKS["zero_conv"](2, 2, tf.float64), "exp"),
    ):
        mask = channel_mask(*event, parity=1)  # as in Glow: the conditioner sees the kept half alone
        coupling = AffineCoupling(mask, net, dtype=tf.float64, scale_fn=scale_fn, split_channels=True)
        for v in coupling.trainable_variables:
            v.assign(v + rng.normal(0, 0.1, v.shape))
        y = check_bijector(coupling, x, event, atol=1e-8)
        assert float(tf.reduce_max(tf.abs(y - x))) > 1e-3


def test_argument_errors():
    for bad in (0, 2.5, "a", True):
        with pytest.raises(ValueError, match="in_channels"):
            GlowConditioner(bad)
        with pytest.raises(ValueError, match="in_channels"):
            ZeroConvConditioner(bad)
        with pytest.raises(ValueError, match="hidden_channels"):
            GlowConditioner(2, hidden_channels=bad)
        with pytest.raises(ValueError, match="num_outputs"):
            ZeroConvConditioner(2, num_outputs=bad)
    with pytest.raises(TypeError, match="dtype"):
        GlowConditioner(2, dtype=tf.int32)
    with pytest.raises(ValueError, match="seed"):
        ZeroConvConditioner(2, seed=-1)
    with pytest.raises(ValueError, match=r"\[N, H, W, 2\]"):
        GlowConditioner(2, hidden_channels=4)(tf.zeros([1, 4, 4, 3]))
    with pytest.raises(ValueError, match=r"\[N, H, W, 2\]"):
        ZeroConvConditioner(2)(tf.zeros([1, 4, 2]))
