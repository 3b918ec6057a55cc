"""`conv2d_same`'s small-grid matmul and few-output gradients are `tf.nn.conv2d`'s, value and gradients."""

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


def _gradient_op_types(height, width, in_channels, out_channels, kernel_size=3):
    kernel = tf.ones([kernel_size, kernel_size, in_channels, out_channels])

    @tf.function
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = conv2d_same(x, kernel)
        return tape.gradient(y, [x, kernel])

    graph = grads.get_concrete_function(tf.TensorSpec([None, height, width, in_channels])).graph
    return {op.type for op in graph.get_operations()}


def test_few_output_convolutions_take_their_gradients_as_matmuls():
    ratio = weight_norm.MATMUL_GRAD_MIN_RATIO
    few = _gradient_op_types(9, 9, 4 * ratio, 4)
    assert "Conv2D" in few and not {"Conv2DBackpropFilter", "Conv2DBackpropInput"} & few
    for op_types in (_gradient_op_types(9, 9, 4 * ratio - 1, 4), _gradient_op_types(9, 9, 64, 4, kernel_size=1)):
        assert {"Conv2DBackpropFilter", "Conv2DBackpropInput"} <= op_types


@pytest.mark.parametrize(
    "height, width, kernel_size, in_channels, out_channels",
    [(9, 7, 3, 8, 2), (6, 6, 2, 12, 3), (5, 9, 3, 16, 1), (7, 7, 5, 8, 2)],
)
@pytest.mark.parametrize("mode", ["eager", "function, unknown batch", "xla"])
def test_few_output_gradients_equal_conv2d(height, width, kernel_size, in_channels, out_channels, mode):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=[3, height, width, in_channels]))
    kernel = tf.Variable(rng.normal(size=[kernel_size, kernel_size, in_channels, out_channels]))
    weights = tf.constant(rng.normal(size=[3, height, width, out_channels]))

    def grads(x, conv=conv2d_same):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(conv(x, kernel) * weights)
        return tape.gradient(loss, [x, kernel])

    def reference(x, kernel):
        return tf.nn.conv2d(x, kernel, strides=1, padding="SAME")

    if mode == "xla":
        ours = tf.function(grads, jit_compile=True)(x)
    elif mode == "eager":
        ours = grads(x)
    else:
        ours = tf.function(grads, input_signature=[tf.TensorSpec([None, height, width, in_channels], tf.float64)])(x)
    for a, b in zip(ours, grads(x, reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_few_output_gradients_are_differentiable():
    """Second order (a gradient penalty, a Hessian-vector product) equals conv2d's."""
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=[2, 6, 5, 8]))
    kernel = tf.Variable(rng.normal(size=[3, 3, 8, 2]))

    def second_order(conv):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                loss = tf.reduce_sum(tf.square(conv(x, kernel)))
            penalty = tf.reduce_sum(tf.square(inner.gradient(loss, kernel)))
        return outer.gradient(penalty, x)

    np.testing.assert_allclose(
        second_order(conv2d_same),
        second_order(lambda x, k: tf.nn.conv2d(x, k, strides=1, padding="SAME")),
        rtol=1e-9,
        atol=1e-9,
    )
