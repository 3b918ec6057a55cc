"""NICE's diagonal scaling layer: a learned scale per event dimension."""

import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_event_shape_arg
from tfp_realnvp.bijectors.one_pass import OnePassBijector, batch_shape_tensor, check_event_shape

__all__ = ["DiagonalScale"]


class DiagonalScale(OnePassBijector):
    """Multiplies every event dimension by its own learned scale (NICE, section 5.6).

    Data -> latent (TFP's `inverse`): `x = y * exp(log_scale)`, with `log_scale` of the event's
    full shape, initialised to 0 (the identity); log|det dx/dy| = sum(log_scale). The latent ->
    data `forward` divides. Volume-preserving (additive) couplings cannot change the density's
    scale; this last layer can, and its large entries mark the dimensions the model treats as
    least important (NICE's figure 3).

    References:
      Dinh, Krueger & Bengio, NICE: Non-linear independent components estimation, arXiv:1410.8516.
    """

    def __init__(self, event_shape, dtype=tf.float32, validate_args=False, name="diagonal_scale"):
        parameters = dict(locals())
        event_shape = tf.TensorShape(check_event_shape_arg(event_shape))
        dtype = check_dtype(dtype, "`dtype`")
        with tf.name_scope(name) as scope_name:
            self._event_shape = event_shape
            self.log_scale = tf.Variable(tf.zeros(event_shape, dtype), name="log_scale")
            super().__init__(
                forward_min_event_ndims=event_shape.rank,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    def _log_det(self, t):
        return tf.fill(batch_shape_tensor(t, self._event_shape.rank), tf.reduce_sum(self.log_scale))

    def _inverse_and_log_det(self, y, **kwargs):
        check_event_shape(y, self._event_shape, self.name)
        return y * tf.exp(self.log_scale), self._log_det(y)

    def _forward_and_log_det(self, x, **kwargs):
        check_event_shape(x, self._event_shape, self.name)
        return x * tf.exp(-self.log_scale), -self._log_det(x)
