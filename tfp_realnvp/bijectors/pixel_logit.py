"""Preprocessing: dequantized pixels in [0, K) <-> logit space (Real NVP, section 4.1)."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["PixelLogit"]

tfb = tfp.bijectors


def pixel_assertions(v, levels):
    """Assertions that dequantized pixels `v` are finite and in [0, levels) (run them as control deps)."""
    return [
        tf.debugging.assert_all_finite(v, "pixels contain NaN or Inf"),
        tf.debugging.assert_greater_equal(v, tf.zeros([], v.dtype), message="pixels must be >= 0"),
        tf.debugging.assert_less(v, tf.cast(levels, v.dtype), message=f"pixels must be < levels = {levels}"),
    ]


class PixelLogit(tfb.Bijector):
    """Elementwise map between logit space (latent side) and dequantized pixels v in [0, K).

        inverse (data -> latent):  u = logit(p),   p = alpha + (1 - 2 alpha) v / K
        forward (latent -> data):  v = K (sigmoid(u) - alpha) / (1 - 2 alpha)
        log|d u / d v| = log((1 - 2 alpha) / K) - log p - log(1 - p)

    With this bijector last in a flow's chain, `log_prob` is the density of dequantized
    pixels in [0, K)^D, so bits/dim = -log_prob / (D ln 2) is in the units of the Real NVP
    and Glow papers (CIFAR-10: 3.49). `alpha` keeps the logit away from +-infinity.
    With `validate_args=True`, `inverse` asserts that the pixels are finite and in [0, K).

    Examples:

    ```python
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [8, 8, 1]), PixelLogit(levels=17))
    bits_per_dim = -flow.log_prob(pixels + tf.random.uniform(pixels.shape)) / (64 * np.log(2.))
    ```

    References:
      Dinh, Sohl-Dickstein & Bengio, Density estimation using Real NVP, arXiv:1605.08803, section 4.1.
    """

    def __init__(self, levels=256, alpha=0.05, validate_args=False, name="pixel_logit"):
        parameters = dict(locals())
        if not (isinstance(levels, (int, np.integer)) and levels >= 2):
            raise ValueError(f"`levels` must be an int >= 2, got {levels!r}")
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"`alpha` must be in (0, 0.5), got {alpha!r}")
        self.levels, self.alpha = int(levels), float(alpha)
        super().__init__(forward_min_event_ndims=0, validate_args=validate_args, parameters=parameters, name=name)

    def _p(self, v):
        return self.alpha + (1.0 - 2.0 * self.alpha) * v / self.levels

    def _assertions(self, v):
        return pixel_assertions(v, self.levels) if self.validate_args else []

    def _inverse(self, v):
        with tf.control_dependencies(self._assertions(v)):
            p = self._p(v)
            return tf.math.log(p) - tf.math.log1p(-p)

    def _inverse_log_det_jacobian(self, v):
        p = self._p(v)
        return np.log((1.0 - 2.0 * self.alpha) / self.levels) - tf.math.log(p) - tf.math.log1p(-p)

    def _forward(self, u):
        return self.levels * (tf.sigmoid(u) - self.alpha) / (1.0 - 2.0 * self.alpha)

    def _forward_log_det_jacobian(self, u):
        # log sigmoid(u) + log(1 - sigmoid(u)) = -softplus(-u) - softplus(u), stable for large |u|.
        return np.log(self.levels / (1.0 - 2.0 * self.alpha)) - tf.nn.softplus(-u) - tf.nn.softplus(u)
