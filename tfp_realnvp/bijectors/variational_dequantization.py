"""Variational dequantization (Flow++, arXiv:1902.00275) as a bijector on the data side of a flow."""

import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_event_shape_arg, check_int, check_positive_int, check_seed
from tfp_realnvp.bijectors.affine_coupling import checkerboard_mask
from tfp_realnvp.bijectors.one_pass import (
    OnePassBijector,
    check_event_shape,
    flatten_batch,
    flatten_condition,
    unflatten_batch,
)
from tfp_realnvp.bijectors.pixel_logit import pixel_assertions
from tfp_realnvp.networks.condition import ConditionBias, check_condition_dims, checked_condition
from tfp_realnvp.networks.weight_norm import WeightNormConv2D, ZeroConv2D

__all__ = ["VariationalDequantization"]

# Fractions are kept this far inside (0, 1): a fraction of exactly 0 (pixel + U[0, 1) can draw 0) has logit -inf.
_EDGE = 2.0**-20


class VariationalDequantization(OnePassBijector):
    """Moves dequantization noise within each pixel's unit cell, conditioned on the pixels.

    Data side (`inverse`), for dequantized pixels v = k + e with k = floor(v) and e in [0, 1):

        inverse:  v -> k + f(e; k),   f(.; k) a bijection of (0, 1) for every image k
        log|det d inverse / d v| = sum over pixels of log f'(e; k)

    `f` is logit -> a per-pixel affine map from a context network on k -> `num_couplings`
    checkerboard affine couplings whose conditioners see the context -> sigmoid. Every cell
    [k, k + 1)^D is mapped onto itself, so a flow `p` with this bijector first in its chain is
    a density `p(g(v)) |g'(v)|` whose mass on each cell is exactly p's: the discrete model is
    unchanged, while the usual bound with uniform noise,

        E_{e ~ U[0,1)^D} [log p(g(k + e)) + log|g'(k + e)|]  <=  log P(k),

    becomes Flow++'s variational bound with the learned noise distribution q(u | k) of
    u = f(e; k), e uniform. Training and evaluating on uniformly dequantized pixels, unchanged,
    therefore trains q and reports the tighter bound in the same bits/dim units (Ho et al. 2019).
    `forward` maps latent-side values back into the same cell (sampling): floor() of a sample
    is distributed as the discrete model. In a flow, `PixelLogit.forward` (its latent side) clamps
    its output into [0, levels), so the cells k of a sample are pixels 0..levels-1 and its
    output stays in [0, levels) too: a sample is valid data, and its density is finite.

    At creation the output layers are zero, so the bijector is the identity. Fractions are
    kept within 2^-20 of the cell edges (the logit of 0 is -inf), and an output that float
    rounding would carry to k + 1 is put back below it: the only departures from an exact
    bijection, on sets of negligible volume (the tests bound their effect on a cell's mass).
    `levels` only scales the context network's input (pixels in [0, levels)). The networks
    compute in `dtype` (a `RealNVP`'s `compute_dtype` does not apply to them). With
    `condition_dims` > 0 the noise distribution is q(u | k, c): a `condition` [*batch,
    condition_dims] enters the context network's first layer as a learned bias.
    """

    _takes_condition = True

    def __init__(
        self,
        event_shape,
        levels,
        hidden_channels=16,
        num_couplings=2,
        dtype=tf.float32,
        seed=0,
        validate_args=False,
        condition_dims=0,
        name="variational_dequantization",
    ):
        parameters = dict(locals())
        event_shape = check_event_shape_arg(event_shape, ranks=(3,))
        self.levels = check_int(levels, "`levels`", minimum=2)
        hidden_channels = check_positive_int(hidden_channels, "`hidden_channels`")
        num_couplings = check_int(num_couplings, "`num_couplings`", minimum=0)
        seed = check_seed(seed, "`seed`", upper=2**62)
        dtype = check_dtype(dtype, "`dtype`")
        self.condition_dims = check_condition_dims(condition_dims)
        h, w, c = event_shape
        self._event_shape = tf.TensorShape(event_shape)
        with tf.name_scope(name) as scope_name:
            conv = WeightNormConv2D
            self.context_convs = [
                conv(c, hidden_channels, dtype=dtype, seed=seed, name="context_a"),
                conv(hidden_channels, hidden_channels, dtype=dtype, seed=seed + 1, name="context_b"),
            ]
            self.condition_bias = (
                ConditionBias(condition_dims, hidden_channels, dtype=dtype, seed=seed) if condition_dims else None
            )
            self.elementwise = ZeroConv2D(hidden_channels, 2 * c, dtype=dtype, name="elementwise")
            self.masks = [tf.constant(checkerboard_mask(h, w, c, i % 2), dtype) for i in range(num_couplings)]
            self.couplings = [
                (
                    conv(c + hidden_channels, hidden_channels, dtype=dtype, seed=seed + 2 + i, name=f"coupling{i}"),
                    ZeroConv2D(hidden_channels, 2 * c, dtype=dtype, name=f"coupling{i}_out"),
                )
                for i in range(num_couplings)
            ]
            self.scales = [tf.Variable(tf.ones([c], dtype), name=f"scale{i}") for i in range(num_couplings + 1)]
            super().__init__(
                forward_min_event_ndims=3,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    def _split_cells(self, v, data_side):
        """(pixels k, the logit y of the fraction e = v - k kept inside (0, 1), log dy/de, the
        flattened batch's shape). With `validate_args`, data-side input must be finite pixels in
        [0, levels); latent-side input (from `PixelLogit.forward` when sampling, which keeps it
        in [0, levels)) is not checked."""
        check_event_shape(v, self._event_shape, self.name)
        assertions = pixel_assertions(v, self.levels, self.name) if self.validate_args and data_side else []
        with tf.control_dependencies(assertions):
            flat, batch = flatten_batch(v, 3)
        k = tf.floor(flat)
        e = tf.clip_by_value(flat - k, _EDGE, 1.0 - _EDGE)
        log_e, log_1m_e = tf.math.log(e), tf.math.log1p(-e)
        return k, log_e - log_1m_e, -log_e - log_1m_e, batch

    def _log_scales_and_shifts(self, k, condition):
        """The elementwise (s, t) and the context features, both from the pixels k (and the
        condition) alone."""
        condition = checked_condition(flatten_condition(condition), self.condition_dims, None, self.name)
        h = (k + 0.5) / self.levels - 0.5
        for i, conv in enumerate(self.context_convs):
            h = conv(h)
            h = tf.nn.relu(h if i or condition is None else h + self.condition_bias(condition, h))
        s, t = tf.split(self.elementwise(h), 2, axis=-1)
        return self.scales[0] * tf.tanh(s), t, h

    def _coupling(self, i, y, context):
        mask = self.masks[i]
        conv, out = self.couplings[i]
        raw = out(tf.nn.relu(conv(tf.concat([y * mask, context], axis=-1))))
        s, t = tf.split(raw, 2, axis=-1)
        return self.scales[i + 1] * tf.tanh(s) * (1.0 - mask), t * (1.0 - mask)

    @staticmethod
    def _in_cell(k, y, log_det, batch):
        """k + sigmoid(y), rounded down into [k, k + 1) where float rounding reaches k + 1, and the
        log-det summed per example, both with the input's batch shape."""
        out = tf.minimum(k + tf.sigmoid(y), tf.math.nextafter(k + 1.0, k))
        log_det += -tf.nn.softplus(-y) - tf.nn.softplus(y)  # d sigmoid(y) / dy
        batch_shape, batch_static = batch
        log_det = tf.reshape(tf.reduce_sum(log_det, axis=[1, 2, 3]), batch_shape)
        log_det.set_shape(batch_static)
        return unflatten_batch(out, batch, 3), log_det

    def _inverse_and_log_det(self, v, condition=None):
        k, y, log_det, batch = self._split_cells(v, data_side=True)
        s, t, context = self._log_scales_and_shifts(k, condition)
        y = y * tf.exp(s) + t
        log_det += s
        for i in range(len(self.couplings)):
            s, t = self._coupling(i, y, context)
            y = y * tf.exp(s) + t
            log_det += s
        return self._in_cell(k, y, log_det, batch)

    def _forward_and_log_det(self, v, condition=None):
        k, y, log_det, batch = self._split_cells(v, data_side=False)
        s0, t0, context = self._log_scales_and_shifts(k, condition)
        for i in reversed(range(len(self.couplings))):
            s, t = self._coupling(i, y, context)
            y = (y - t) * tf.exp(-s)
            log_det -= s
        y = (y - t0) * tf.exp(-s0)
        log_det -= s0
        return self._in_cell(k, y, log_det, batch)
