"""Preprocessing: dequantized pixels in [0, K) <-> logit space (Real NVP, section 4.1)."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_realnvp._validation import check_bool, check_int, check_number

__all__ = ["PixelLogit"]

tfb = tfp.bijectors


def pixel_assertions(v, levels, what="input"):
    """Assertions that dequantized pixels `v` are finite and in [0, levels) (run them as control
    deps); the messages name `what`: "`x` contains NaN or Inf", "`x`: pixels must be in [0, 17)"."""
    in_range = f"{what}: pixels must be in [0, {levels})"
    return [
        tf.debugging.assert_all_finite(v, f"{what} contains NaN or Inf"),
        tf.debugging.assert_greater_equal(v, tf.zeros([], v.dtype), message=in_range),
        tf.debugging.assert_less(v, tf.cast(levels, v.dtype), message=in_range),
    ]


def below(levels, dtype):
    """The largest value of `dtype` below `levels`: the top of the pixel domain [0, levels)."""
    dtype = tf.as_dtype(dtype).as_numpy_dtype
    return np.nextafter(np.array(levels, dtype), np.array(0, dtype))


def _check_floating(t, name):
    if not t.dtype.is_floating:
        raise TypeError(f"{name}: input must be a floating tensor (dequantized pixels or logits), got {t.dtype.name}")


class PixelLogit(tfb.Bijector):
    """Elementwise map between logit space (latent side) and dequantized pixels v in [0, K).

        inverse (data -> latent):  u = logit(p),   p = alpha + (1 - 2 alpha) v / K
        forward (latent -> data):  v = K (sigmoid(u) - alpha) / (1 - 2 alpha), clamped into [0, K)
        log|d u / d v| = log((1 - 2 alpha) / K) - log p - log(1 - p)

    With this bijector last in a flow's chain, `log_prob` is the density of dequantized
    pixels in [0, K)^D, so bits/dim = -log_prob / (D ln 2) is in the units of the Real NVP
    and Glow papers (CIFAR-10: 3.49). `alpha` keeps the logit away from +-infinity.
    With `validate_args=True`, `inverse` asserts that the pixels are finite and in [0, K).

    The map's image of all of logit space is (-K alpha / (1 - 2 alpha), K (1 - alpha) / (1 - 2
    alpha)), wider than [0, K) (-14.22 to 270.22 for K = 256, alpha = 0.05), and its float32 ends,
    where the sigmoid saturates to 0 or 1, have an infinite logit. `forward` (sampling) therefore
    clamps its output into the pixel domain [0, K) (the top: the largest float below K): the
    latent-side mass beyond the pixel domain lands on its edges, where a sampled image would be
    clipped anyway, and every sample's `inverse` and density are finite. `forward_log_det_jacobian`
    is that of the unclamped map (the clamp is not differentiable there; on [0, K) nothing changes).

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
        self.levels = check_int(levels, "`levels`", minimum=2)
        self.alpha = check_number(alpha, "`alpha`", 0.0, 0.5, low_open=True, high_open=True)
        check_bool(validate_args, "`validate_args`")
        super().__init__(forward_min_event_ndims=0, validate_args=validate_args, parameters=parameters, name=name)

    def _p(self, v):
        return self.alpha + (1.0 - 2.0 * self.alpha) * v / self.levels

    def _assertions(self, v):
        return pixel_assertions(v, self.levels, self.name) if self.validate_args else []

    def _inverse(self, v):
        _check_floating(v, self.name)
        with tf.control_dependencies(self._assertions(v)):
            p = self._p(v)
            return tf.math.log(p) - tf.math.log1p(-p)

    def _inverse_log_det_jacobian(self, v):
        p = self._p(v)
        return np.log((1.0 - 2.0 * self.alpha) / self.levels) - tf.math.log(p) - tf.math.log1p(-p)

    def _forward(self, u):
        _check_floating(u, self.name)
        v = self.levels * (tf.sigmoid(u) - self.alpha) / (1.0 - 2.0 * self.alpha)
        return tf.clip_by_value(v, tf.zeros([], u.dtype), below(self.levels, u.dtype))

    def _forward_log_det_jacobian(self, u):
        # log sigmoid(u) + log(1 - sigmoid(u)) = -softplus(-u) - softplus(u), stable for large |u|.
        return np.log(self.levels / (1.0 - 2.0 * self.alpha)) - tf.nn.softplus(-u) - tf.nn.softplus(u)
