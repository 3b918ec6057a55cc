"""Batch normalization with a moving average, on the flow's main path (Real NVP, section 3.7)."""

import tensorflow as tf

from tfp_realnvp._validation import check_bool, check_dtype, check_event_shape_arg, check_number
from tfp_realnvp.bijectors.one_pass import OnePassBijector, batch_shape_tensor, check_event_shape

__all__ = ["MovingAverageBatchNorm"]


class MovingAverageBatchNorm(OnePassBijector):
    """Per-channel batch normalization as a bijector, with exact log-det.

    Data -> latent (TFP's `inverse`), per channel c (the last event axis):

        x = (y - mu) / sqrt(var + eps) * gamma + beta
        log|det dx/dy| = P * sum_c (log gamma_c - 1/2 log(var_c + eps))

    where P is the number of positions per channel (H*W for images, 1 for vectors) and
    gamma = exp(log_gamma), beta are learned when `affine=True` (else 1 and 0).
    The latent -> data `forward` is the exact inverse map, with the negated log-det.

    Which (mu, var):
      * `training=True` (pass it to `inverse` / `inverse_log_det_jacobian`, or to the
        distribution's `log_prob`): the batch moments (mu_B, var_B) are blended into the running
        average, mu = rho * mu_run + (1 - rho) * mu_B (same for var, rho = `momentum`); the
        blend is used to normalize and for the log-det, and is stored as the new running
        average. Gradients flow through the batch moments only, as in the paper. Under a
        `tf.distribute` strategy the batch moments are those of the global batch (all-reduced
        across replicas in two passes: mean first, then the centred second moment), so every
        replica normalizes, reports the log-det, and updates the average identically.
      * `training=False` (default): the stored running statistics. Forward and inverse are
        then exact inverses of each other. The forward direction has no batch to take moments
        of, so `forward(..., training=True)` is an error.

    Examples:

    ```python
    bn = MovingAverageBatchNorm(event_shape=[8, 8, 1])
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [8, 8, 1]), bn)
    loss = -tf.reduce_mean(flow.log_prob(images, bijector_kwargs={"training": True}))
    ```

    References:
      Dinh, Sohl-Dickstein & Bengio, Density estimation using Real NVP, arXiv:1605.08803, section 3.7.
      Ioffe & Szegedy, Batch normalization, arXiv:1502.03167.
    """

    _takes_training = True
    syncs_replicas = True  # its training-mode statistics are all-reduced inside the forward pass

    def __init__(
        self,
        event_shape,
        momentum=0.9,
        epsilon=1e-4,
        affine=True,
        dtype=tf.float32,
        validate_args=False,
        name="moving_average_batch_norm",
    ):
        parameters = dict(locals())
        event_shape = tf.TensorShape(check_event_shape_arg(event_shape))
        momentum = check_number(momentum, "`momentum`", 0.0, 1.0, high_open=True)
        epsilon = check_number(epsilon, "`epsilon`", 0.0, low_open=True)
        affine = check_bool(affine, "`affine`")
        dtype = check_dtype(dtype, "`dtype`")
        channels = event_shape[-1]
        with tf.name_scope(name) as scope_name:
            self._event_shape = event_shape
            self.momentum, self.epsilon, self.affine = float(momentum), float(epsilon), bool(affine)
            # MEAN aggregation lets replicas write the (identical, all-reduced) statistics.
            stat = dict(
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_WRITE,
                aggregation=tf.VariableAggregation.MEAN,
            )
            self.running_mean = tf.Variable(tf.zeros([channels], dtype), name="running_mean", **stat)
            self.running_var = tf.Variable(tf.ones([channels], dtype), name="running_var", **stat)
            self.log_gamma = tf.Variable(tf.zeros([channels], dtype), name="log_gamma") if affine else None
            self.beta = tf.Variable(tf.zeros([channels], dtype), name="beta") if affine else None
            super().__init__(
                forward_min_event_ndims=event_shape.rank,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    def _positions(self):
        return float(self._event_shape[:-1].num_elements())

    def _batch_moments(self, y):
        axes = list(range(y.shape.rank - 1))
        ctx = tf.distribute.get_replica_context()
        sync = ctx is not None and ctx.num_replicas_in_sync > 1
        mean = tf.reduce_mean(y, axis=axes)
        if sync:
            mean = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, mean)
        var = tf.reduce_mean(tf.square(y - mean), axis=axes)
        if sync:
            var = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, var)
        return mean, var

    def _statistics(self, y, training):
        if not training:
            return self.running_mean, self.running_var
        batch_mean, batch_var = self._batch_moments(y)
        rho = self.momentum
        mean = rho * tf.stop_gradient(self.running_mean) + (1.0 - rho) * batch_mean
        var = rho * tf.stop_gradient(self.running_var) + (1.0 - rho) * batch_var
        self.running_mean.assign(tf.stop_gradient(mean))
        self.running_var.assign(tf.stop_gradient(var))
        return mean, var

    def _log_det_per_event(self, var):
        """log|det dx/dy| of one event."""
        per_channel = -0.5 * tf.math.log(var + self.epsilon)
        if self.affine:
            per_channel += self.log_gamma
        return self._positions() * tf.reduce_sum(per_channel)

    def _inverse_and_log_det(self, y, training=False):
        check_event_shape(y, self._event_shape, self.name)
        mean, var = self._statistics(y, training)
        x = (y - mean) * tf.math.rsqrt(var + self.epsilon)
        if self.affine:
            x = x * tf.exp(self.log_gamma) + self.beta
        return x, tf.fill(batch_shape_tensor(y, self._event_shape.rank), self._log_det_per_event(var))

    def _forward_and_log_det(self, x, training=False):
        if training:
            raise ValueError(
                f"{self.name}: `forward` (latent -> data) always uses the running statistics; "
                "`training=True` applies to `inverse` / `log_prob` only"
            )
        check_event_shape(x, self._event_shape, self.name)
        h = x
        if self.affine:
            h = (h - self.beta) * tf.exp(-self.log_gamma)
        y = h * tf.sqrt(self.running_var + self.epsilon) + self.running_mean
        return y, -tf.fill(batch_shape_tensor(x, self._event_shape.rank), self._log_det_per_event(self.running_var))
