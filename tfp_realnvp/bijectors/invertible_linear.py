"""Learned invertible linear map over the last axis: Glow's invertible 1x1 convolution."""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_event_shape_arg, check_seed
from tfp_realnvp.bijectors.one_pass import OnePassBijector, batch_shape_tensor, check_event_shape

__all__ = ["InvertibleLinear"]


class InvertibleLinear(OnePassBijector):
    """An invertible C x C matrix W applied to the last event axis, LU-parametrized.

    Data -> latent (TFP's `inverse`), for every position of the event:

        x = W y,   W = P L (U + diag(sign * exp(log_s)))
        log|det dx/dy| = positions * sum(log_s)

    with P a fixed permutation, L unit lower triangular, U strictly upper triangular, `sign`
    fixed and `log_s` learned, so the log-det costs O(C) and `W` stays invertible (Kingma &
    Dhariwal 2018, section 3.2). On images `[H, W, C]` this is Glow's invertible 1x1
    convolution (positions = H * W); on vectors `[D]` it is a learned rotation/shear that lets
    the next coupling split the features along new directions. `W` starts as a random
    orthogonal matrix drawn from `seed` (log-det 0). The latent -> data `forward` applies W^-1
    through two triangular solves.

    Examples:

    ```python
    mix = InvertibleLinear(event_shape=[16, 16, 12], seed=3)
    z = mix.inverse(images)  # x = W y per pixel
    ```

    References:
      Kingma & Dhariwal, Glow: Generative flow with invertible 1x1 convolutions, arXiv:1807.03039.
    """

    def __init__(self, event_shape, seed=0, dtype=tf.float32, validate_args=False, name="invertible_linear"):
        parameters = dict(locals())
        event_shape = tf.TensorShape(check_event_shape_arg(event_shape))
        seed = check_seed(seed, "`seed`", upper=2**32)  # np.random.RandomState's range
        dtype = check_dtype(dtype, "`dtype`")
        channels = event_shape[-1]
        rotation = np.linalg.qr(np.random.RandomState(seed).standard_normal((channels, channels)))[0]
        lower_upper, perm = (t.numpy() for t in tf.linalg.lu(tf.constant(rotation, tf.float64)))
        diagonal = np.diag(lower_upper)
        with tf.name_scope(name) as scope_name:
            self._event_shape = event_shape
            self._perm = tf.constant(np.eye(channels)[perm].T, dtype)  # rotation == perm @ L @ U
            self._sign = tf.constant(np.sign(diagonal), dtype)
            self._lower_mask = tf.constant(np.tril(np.ones((channels, channels)), -1), dtype)
            self.lower = tf.Variable(np.tril(lower_upper, -1), dtype=dtype, name="lower")
            self.upper = tf.Variable(np.triu(lower_upper, 1), dtype=dtype, name="upper")
            self.log_s = tf.Variable(np.log(np.abs(diagonal)), dtype=dtype, name="log_s")
            super().__init__(
                forward_min_event_ndims=event_shape.rank,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    def _factors(self):
        eye = tf.eye(self._event_shape[-1], dtype=self.dtype)
        lower = self.lower * self._lower_mask + eye
        upper = self.upper * tf.transpose(self._lower_mask) + tf.linalg.diag(self._sign * tf.exp(self.log_s))
        return lower, upper

    def matrix(self):
        """The current W (data -> latent)."""
        lower, upper = self._factors()
        return self._perm @ lower @ upper

    def _log_det(self, t):
        positions = float(self._event_shape[:-1].num_elements())
        return tf.fill(batch_shape_tensor(t, self._event_shape.rank), positions * tf.reduce_sum(self.log_s))

    def _inverse_and_log_det(self, y, **kwargs):
        check_event_shape(y, self._event_shape, self.name)
        return _apply(self.matrix(), y), self._log_det(y)

    def _forward_and_log_det(self, x, **kwargs):
        check_event_shape(x, self._event_shape, self.name)
        lower, upper = self._factors()
        # W^-1 = U^-1 L^-1 P^T, from two triangular solves against P^T.
        w_inv = tf.linalg.triangular_solve(
            upper, tf.linalg.triangular_solve(lower, tf.transpose(self._perm), lower=True), lower=False
        )
        return _apply(w_inv, x), -self._log_det(x)


def _apply(matrix, t):
    """`matrix @ v` for every vector `v` along the last axis of `t` (one GEMM)."""
    flat = tf.reshape(t, [-1, matrix.shape[-1]])
    return tf.reshape(tf.matmul(flat, matrix, transpose_b=True), tf.shape(t))
