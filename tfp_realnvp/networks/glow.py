"""Glow's conditioner networks: the coupling NN and the learned prior at a split (arXiv:1807.03039)."""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_number, check_positive_int, check_seed
from tfp_realnvp.networks.condition import ConditionBias, check_condition_dims, checked_condition
from tfp_realnvp.networks.dropout import per_example_dropout
from tfp_realnvp.networks.weight_norm import ZeroConv2D, ZeroDense, conv2d_same

__all__ = ["GlowConditioner", "ZeroConvConditioner"]

# Glow's Conv2dZeros multiplies its output by exp(LOGSCALE_FACTOR * logs): a step of the optimizer
# on `logs` moves the output's gain 3x as far as it would without the factor.
LOGSCALE_FACTOR = 3.0


class _Conv2D(tf.Module):
    """Same-padded 2-D convolution (NHWC) with a bias: kernel ~ N(0, 2 / fan_in) (He et al. 2015,
    for the ReLU after it), drawn from the stateless `seed`; bias 0."""

    def __init__(self, in_channels, out_channels, kernel_size, dtype, seed, name):
        super().__init__(name=name)
        shape = [kernel_size, kernel_size, in_channels, out_channels]
        stddev = np.sqrt(2.0 / (kernel_size * kernel_size * in_channels))
        with self.name_scope:
            self.w = tf.Variable(
                tf.random.stateless_normal(shape, seed=seed, stddev=stddev, dtype=dtype), name="kernel"
            )
            self.b = tf.Variable(tf.zeros([out_channels], dtype), name="bias")

    def __call__(self, x):
        # Computes in the input's dtype (mixed precision); the casts are no-ops otherwise.
        return conv2d_same(x, tf.cast(self.w, x.dtype)) + tf.cast(self.b, x.dtype)


class _ZeroConv2DWithGain(tf.Module):
    """Glow's Conv2dZeros: `(conv3x3(x) + b) * exp(3 * logs)`, kernel, bias and per-output-channel
    `logs` all initialised to zero, so the output starts at exactly 0."""

    def __init__(self, in_channels, out_channels, dtype, name):
        super().__init__(name=name)
        with self.name_scope:
            self.conv = ZeroConv2D(in_channels, out_channels, dtype=dtype, name="conv")
            self.logs = tf.Variable(tf.zeros([out_channels], dtype), name="logs")

    def __call__(self, x):
        return self.conv(x) * tf.cast(tf.exp(LOGSCALE_FACTOR * self.logs), x.dtype)


def _check_input(x, in_channels, name):
    if x.shape.rank is not None and (x.shape.rank != 4 or x.shape[-1] not in (None, in_channels)):
        raise ValueError(f"{name}: input of shape {x.shape} is not [N, H, W, {in_channels}] (NHWC)")


class GlowConditioner(tf.Module):
    """Glow's coupling network: maps [N, H, W, C] to [N, H, W, `num_outputs` * C] (raw log-scale
    and shift, or the shift alone).

        3x3 conv (`hidden_channels`, bias) -> ReLU -> 1x1 conv (`hidden_channels`, bias) -> ReLU
        -> 3x3 conv initialised to zero, its output multiplied by exp(3 * logs) with a learned,
           zero-initialised `logs` per output channel (Glow's Conv2dZeros)

    The hidden kernels are plain (not weight-normalized), drawn from N(0, 2 / fan_in) (He
    initialisation, for the ReLUs), the first from the stateless seed (`seed`, 0) and the
    second from (`seed`, 1); biases start at 0. Glow follows each hidden conv with an ActNorm
    (data-initialised, no conv bias); here the conv biases take its place, so the network is the
    same function in training and inference, needs no initialisation pass and behaves the same
    under any distribution strategy. The zero output layer makes a new coupling the identity.
    Same-padded convolutions (`conv2d_same`), so empty batches work; the layers compute in the
    input's dtype (mixed precision). `dropout` > 0 drops hidden units before the output conv
    when called with `training=True`; with a stateless `seed` example b's mask is a function of
    the seed and of `example_offset + b` (`per_example_dropout`), as in `ResNetConditioner`.
    With `condition_dims` > 0 the call takes a `condition` [N, condition_dims], added to the first
    conv's output at every position as a learned bias (`ConditionBias`).
    """

    def __init__(
        self,
        in_channels,
        hidden_channels=512,
        num_outputs=2,
        dropout=0.0,
        dtype=tf.float32,
        seed=0,
        condition_dims=0,
        name="glow_conditioner",
    ):
        super().__init__(name=name)
        self.in_channels = check_positive_int(in_channels, "`in_channels`")
        hidden_channels = check_positive_int(hidden_channels, "`hidden_channels`")
        num_outputs = check_positive_int(num_outputs, "`num_outputs`")
        self.dropout = check_number(dropout, "`dropout`", 0.0, 1.0, high_open=True)
        dtype = check_dtype(dtype, "`dtype`")
        seed = check_seed(seed, "`seed`", upper=2**62)
        self.condition_dims = check_condition_dims(condition_dims)
        with self.name_scope:
            self.condition_bias = (
                ConditionBias(self.condition_dims, hidden_channels, dtype=dtype, seed=seed) if condition_dims else None
            )
            self.in_conv = _Conv2D(self.in_channels, hidden_channels, 3, dtype, [seed, 0], name="in_conv")
            self.hidden_conv = _Conv2D(hidden_channels, hidden_channels, 1, dtype, [seed, 1], name="hidden_conv")
            self.out_conv = _ZeroConv2DWithGain(hidden_channels, num_outputs * self.in_channels, dtype, "out_conv")

    def __call__(self, x, training=False, seed=None, example_offset=0, condition=None):
        _check_input(x, self.in_channels, self.name)
        condition = checked_condition(condition, self.condition_dims, x.shape[0], self.name)
        h = self.in_conv(x)
        h = tf.nn.relu(h if condition is None else h + self.condition_bias(condition, h))
        h = tf.nn.relu(self.hidden_conv(h))
        if training and self.dropout:
            if seed is None:
                h = tf.nn.dropout(h, rate=self.dropout)
            else:
                h = per_example_dropout(h, self.dropout, seed, example_offset)
        return self.out_conv(h)


class ZeroConvConditioner(tf.Module):
    """The network of Glow's learned prior at a split: one zero-initialised 3x3 conv with the
    exp(3 * logs) gain (Glow's Conv2dZeros), mapping [N, H, W, C] to [N, H, W, `num_outputs` * C].

    In an `AffineCoupling` with a channel mask and `scale_fn="exp"` it gives the factored-out
    channels the Gaussian N(mean, exp(log_std)^2) whose mean and log-std are this conv of the
    kept channels; at initialisation the output is 0, a standard normal. `seed` is accepted (and
    checked) for a signature like the other conditioners' and is unused: every weight starts at 0.
    With `condition_dims` > 0 the call takes a `condition` [N, condition_dims] and a
    zero-initialised dense map of it is added to the output at every position: a class-conditional
    prior (Glow's learned prior given y).
    """

    def __init__(
        self, in_channels, num_outputs=2, dtype=tf.float32, seed=0, condition_dims=0, name="zero_conv_conditioner"
    ):
        super().__init__(name=name)
        self.in_channels = check_positive_int(in_channels, "`in_channels`")
        num_outputs = check_positive_int(num_outputs, "`num_outputs`")
        dtype = check_dtype(dtype, "`dtype`")
        check_seed(seed, "`seed`", upper=2**62)
        self.condition_dims = check_condition_dims(condition_dims)
        outputs = num_outputs * self.in_channels
        with self.name_scope:
            self.out_conv = _ZeroConv2DWithGain(self.in_channels, outputs, dtype, "out_conv")
            self.condition_out = (
                ZeroDense(self.condition_dims, outputs, dtype, name="condition_out") if self.condition_dims else None
            )

    def __call__(self, x, condition=None):
        _check_input(x, self.in_channels, self.name)
        condition = checked_condition(condition, self.condition_dims, x.shape[0], self.name)
        out = self.out_conv(x)
        if condition is None:
            return out
        return out + self.condition_out(tf.cast(condition, out.dtype))[:, None, None, :]
