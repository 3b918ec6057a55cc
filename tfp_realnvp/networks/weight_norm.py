"""Weight-normalized dense and convolution layers as plain `tf.Module`s."""

import functools

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_number

__all__ = ["WeightNormConv2D", "WeightNormDense", "ZeroConv2D", "ZeroDense", "conv2d_same"]

# Convolutions on grids of at most this many positions, whose matrix has at most this many rows and
# columns, run as one matmul (see `conv2d_same`).
DENSE_CONV_MAX_POSITIONS = 16
DENSE_CONV_MAX_SIZE = 256
# Convolutions with at least this many input channels per output channel take their kernel's
# and input gradients as matmuls (see `_conv2d_few_outputs`).
MATMUL_GRAD_MIN_RATIO = 4


@functools.cache
def _tap_placement(height, width, kernel_height, kernel_width):
    """[P, taps, P] 0/1: entry (p, k, q) is 1 where tap k of a same-padded cross-correlation
    reads input position p for output position q (P = height * width, row-major)."""
    placement = np.zeros([height * width, kernel_height * kernel_width, height * width], np.float32)
    for qy in range(height):
        for qx in range(width):
            for dy in range(kernel_height):
                for dx in range(kernel_width):
                    py, px = qy + dy - (kernel_height - 1) // 2, qx + dx - (kernel_width - 1) // 2
                    if 0 <= py < height and 0 <= px < width:
                        placement[py * width + px, dy * kernel_width + dx, qy * width + qx] = 1.0
    placement.setflags(write=False)  # shared by every call (cached)
    return placement


def conv2d_same(x, kernel):
    """`tf.nn.conv2d(x, kernel, strides=1, padding="SAME")` for NHWC `x`.

    On small grids with few channels (at most `DENSE_CONV_MAX_POSITIONS` positions, and H W C_in
    and H W C_out both at most `DENSE_CONV_MAX_SIZE`: the coarse scales of small images, e.g. 8x8
    digits after a squeeze) it multiplies the flattened images by the convolution's equivalent
    [H W C_in, H W C_out] matrix instead: the same linear map (equal up to float rounding, and
    differentiable in the kernel), one matmul instead of a convolution with a handful of channels.
    The limits come from timings in bench/README.md ("Small convolutions as one matmul").
    Elsewhere a convolution with at least `MATMUL_GRAD_MIN_RATIO` input channels per output
    channel (a coupling network's output layer) takes both gradients as matmuls
    (`_conv2d_few_outputs`); the others are `tf.nn.conv2d` throughout.
    """
    height, width = x.shape[1], x.shape[2]
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    small = (
        height is not None
        and width is not None
        and height * width <= DENSE_CONV_MAX_POSITIONS
        and height * width * max(in_channels, out_channels) <= DENSE_CONV_MAX_SIZE
    )
    if not small:
        return _conv2d_any_batch(x, kernel)
    placement = tf.constant(_tap_placement(height, width, kernel_height, kernel_width), kernel.dtype)
    taps = tf.reshape(kernel, [kernel_height * kernel_width, in_channels, out_channels])
    matrix = tf.reshape(
        tf.einsum("pkq,kio->piqo", placement, taps), [height * width * in_channels, height * width * out_channels]
    )
    y = tf.matmul(tf.reshape(x, [-1, height * width * in_channels]), matrix)
    return tf.reshape(y, [-1, height, width, out_channels])


def _conv2d_any_batch(x, kernel):
    """`tf.nn.conv2d(x, kernel, strides=1, padding="SAME")`, empty batches included.

    oneDNN's CPU Conv2D (TF 2.21) returns an empty batch with the input's channel count,
    [0, H, W, C_in] instead of [0, H, W, C_out], and the next layer fails on it ("Incompatible
    shapes: [0,8,8,4] vs. [2]"); grappler removes a reshape that would fix the shape. A batch known
    to be empty gets its zeros directly; for one unknown when traced a `tf.cond` picks the
    convolution's output or, for an empty batch, the zeros. That costs ~5% of a digits flow's
    forward + gradient traced with an unknown batch (74.9 vs 71.3 ms at batch 64 on 2 CPU cores:
    `compiled_log_prob`, exported signatures) and nothing where the batch is static (the Trainer's
    steps) or under XLA (the predicate is a constant there)."""
    out_channels = kernel.shape[-1]

    def empty():
        return tf.zeros(tf.concat([[0], tf.shape(x)[1:3], [out_channels]], 0), x.dtype)

    if x.shape[0] == 0:
        return empty()
    kernel_height, kernel_width, in_channels, _ = kernel.shape
    few_outputs = (
        kernel_height * kernel_width > 1
        and in_channels >= MATMUL_GRAD_MIN_RATIO * out_channels
        and None not in x.shape[1:3]
    )
    y = _conv2d_few_outputs(x, kernel) if few_outputs else tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
    if x.shape[0] is None:
        y = tf.cond(tf.shape(x)[0] > 0, lambda: y, empty)
        y.set_shape(x.shape[:-1].concatenate([out_channels]))
    return y


@tf.custom_gradient
def _conv2d_few_outputs(x, kernel):
    """`tf.nn.conv2d(x, kernel, strides=1, padding="SAME")` whose gradients are two matmuls.

    oneDNN's gradients (Conv2DBackpropFilter and Conv2DBackpropInput, TF 2.21 on CPU) are slow for
    convolutions with few output channels, such as a coupling network's output layer (hidden ->
    2 C). Here both gradients read the kh kw shifted copies G of the (few-channel) output
    gradient g, tap d's copy holding g[p - d + pad] at input position p: dK[d] = x^T G_d and
    dx = sum_d G_d K[d]^T, one matmul each. From `MATMUL_GRAD_MIN_RATIO` input channels per
    output channel that is the faster (bench/README.md, "Gradients of few-output convolutions").
    The value is TensorFlow's own; the gradients are differentiable again (second order,
    gradient penalties)."""
    kernel = tf.convert_to_tensor(kernel)
    y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")

    def grad(g):
        kernel_height, kernel_width, in_channels, out_channels = kernel.shape
        height, width = x.shape[1], x.shape[2]
        # SAME pads `top` rows before: output q reads input p = q + d - top, so tap d pairs x[p]
        # with g[p - d + top], rows p - d + top for p in [0, H) of g padded as below.
        top, left = (kernel_height - 1) // 2, (kernel_width - 1) // 2
        padded = tf.pad(g, [[0, 0], [kernel_height - 1 - top, top], [kernel_width - 1 - left, left], [0, 0]])
        rows, cols = kernel_height - 1, kernel_width - 1  # the slice of tap (0, 0) starts there
        shifted = tf.stack(
            [
                padded[:, rows - dy : rows - dy + height, cols - dx : cols - dx + width]
                for dy in range(kernel_height)
                for dx in range(kernel_width)
            ],
            axis=3,
        )
        shifted = tf.reshape(shifted, [-1, kernel_height * kernel_width * out_channels])  # [N H W, taps C_out]
        taps = tf.reshape(tf.transpose(kernel, [0, 1, 3, 2]), [-1, in_channels])  # [taps C_out, C_in]
        dx = tf.reshape(tf.matmul(shifted, taps), tf.shape(x))
        dk = tf.matmul(tf.reshape(x, [-1, in_channels]), shifted, transpose_a=True)
        dk = tf.transpose(tf.reshape(dk, [in_channels, kernel_height, kernel_width, out_channels]), [1, 2, 0, 3])
        return dx, dk

    return y, grad


class _WeightNorm(tf.Module):
    """w = g * v / ||v|| per output unit (Salimans & Kingma, 2016; arXiv:1602.07868).

    The kernel starts He-normal, w0 ~ N(0, 2 / fan_in); `g` (the weight scale) starts at ||w0||
    and `v` at w0 / `direction_step`, so w == w0 at creation whatever `direction_step`. Adam moves
    v by about its learning rate per step whatever its length, so a longer v (`direction_step`
    < 1) turns the direction `direction_step` times less per step: a per-layer step size that
    lives in the architecture. `g` is the parameter the Real NVP paper regularizes with L2 (see
    `regularization_variables`). Plain `tf.Module`s (not Keras 3 layers) so that TFP's
    `trainable_variables`, checkpoints and SavedModel see every weight.
    """

    def __init__(self, kernel_shape, dtype, seed, name, direction_step=1.0):
        super().__init__(name=name)
        direction_step = check_number(direction_step, "`direction_step`", 0.0, low_open=True)
        fan_in = int(np.prod(kernel_shape[:-1]))
        init = tf.random.stateless_normal(kernel_shape, seed=[seed, 0], stddev=np.sqrt(2.0 / fan_in), dtype=dtype)
        axes = list(range(len(kernel_shape) - 1))
        self._axes = axes
        with self.name_scope:
            self.v = tf.Variable(init / direction_step, name="direction")
            self.g = tf.Variable(self._norm(init), name="weight_scale")
            self.b = tf.Variable(tf.zeros(kernel_shape[-1:], dtype), name="bias")

    @property
    def kernel(self):
        return self.v * (self.g / self._norm(self.v))

    def _norm(self, v):
        return tf.sqrt(tf.reduce_sum(tf.square(v), axis=self._axes))


class WeightNormDense(_WeightNorm):
    """Dense layer y = x w + b with a weight-normalized kernel."""

    def __init__(self, in_features, out_features, dtype=tf.float32, seed=0, name="wn_dense", direction_step=1.0):
        super().__init__([in_features, out_features], dtype, seed, name, direction_step)

    def __call__(self, x):
        # The layers compute in the input's dtype (mixed precision: float16/bfloat16 inputs,
        # float32 variables); the casts are no-ops otherwise.
        return tf.matmul(x, tf.cast(self.kernel, x.dtype)) + tf.cast(self.b, x.dtype)


class WeightNormConv2D(_WeightNorm):
    """Same-padded 2-D convolution (NHWC) with a weight-normalized kernel."""

    def __init__(self, in_channels, out_channels, kernel_size=3, dtype=tf.float32, seed=0, name="wn_conv"):
        super().__init__([kernel_size, kernel_size, in_channels, out_channels], dtype, seed, name)

    def __call__(self, x):
        return conv2d_same(x, tf.cast(self.kernel, x.dtype)) + tf.cast(self.b, x.dtype)


class ZeroDense(tf.Module):
    """Dense output layer initialised to zero, so a new coupling is the identity."""

    def __init__(self, in_features, out_features, dtype=tf.float32, name="zero_dense"):
        super().__init__(name=name)
        with self.name_scope:
            self.w = tf.Variable(tf.zeros([in_features, out_features], dtype), name="kernel")
            self.b = tf.Variable(tf.zeros([out_features], dtype), name="bias")

    def __call__(self, x):
        return tf.matmul(x, tf.cast(self.w, x.dtype)) + tf.cast(self.b, x.dtype)


class ZeroConv2D(tf.Module):
    """3x3 same-padded output convolution initialised to zero."""

    def __init__(self, in_channels, out_channels, kernel_size=3, dtype=tf.float32, name="zero_conv"):
        super().__init__(name=name)
        with self.name_scope:
            self.w = tf.Variable(tf.zeros([kernel_size, kernel_size, in_channels, out_channels], dtype), name="kernel")
            self.b = tf.Variable(tf.zeros([out_channels], dtype), name="bias")

    def __call__(self, x):
        return conv2d_same(x, tf.cast(self.w, x.dtype)) + tf.cast(self.b, x.dtype)
