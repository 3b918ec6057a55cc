"""The small-grid convolution is the same linear map as `tf.nn.conv2d`, value and gradients."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.networks import conv2d_same, weight_norm
from tfp_realnvp.networks.weight_norm import DENSE_CONV_MAX_POSITIONS, DENSE_CONV_MAX_SIZE


@pytest.mark.parametrize(
    "height, width, kernel_size, in_channels, out_channels",
    [(1, 1, 3, 2, 3), (2, 2, 3, 8, 16), (3, 5, 3, 2, 4), (4, 4, 3, 12, 8), (4, 4, 1, 3, 2), (2, 4, 2, 3, 5)],
)
def test_dense_path_equals_conv2d(height, width, kernel_size, in_channels, out_channels, monkeypatch):
    monkeypatch.setattr(weight_norm, "DENSE_CONV_MAX_SIZE", 10**6)  # every case takes the matmul
    assert "Conv2D" not in _op_types(height, width, in_channels, out_channels)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=[5, height, width, in_channels]), tf.float64)
    kernel = tf.Variable(rng.normal(size=[kernel_size, kernel_size, in_channels, out_channels]))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = conv2d_same(x, kernel)
        reference = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
        weights = tf.constant(rng.normal(size=reference.shape))
        loss_ours, loss_ref = tf.reduce_sum(ours * weights), tf.reduce_sum(reference * weights)
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-10)
    for a, b in zip(tape.gradient(loss_ours, [x, kernel]), tape.gradient(loss_ref, [x, kernel]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def _op_types(height, width, in_channels=2, out_channels=2):
    fn = tf.function(lambda x: conv2d_same(x, tf.ones([3, 3, in_channels, out_channels])))
    graph = fn.get_concrete_function(tf.TensorSpec([None, height, width, in_channels])).graph
    return {op.type for op in graph.get_operations()}


def test_small_grids_with_few_channels_use_one_matmul_and_others_conv2d():
    width = DENSE_CONV_MAX_POSITIONS // 4
    channels = DENSE_CONV_MAX_SIZE // DENSE_CONV_MAX_POSITIONS
    dense = (_op_types(4, width), _op_types(4, width, channels, 1), _op_types(4, width, 1, channels))
    for op_types in dense:
        assert "MatMul" in op_types and "Conv2D" not in op_types
    wider = channels + 1
    convolved = (_op_types(4, width + 1), _op_types(4, width, wider, 1), _op_types(4, width, 1, wider))
    for op_types in convolved:
        assert "Conv2D" in op_types and "MatMul" not in op_types
