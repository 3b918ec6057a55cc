"""Activation normalization (Glow): a learned per-channel affine map with data-dependent init."""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_bool, check_dtype, check_event_shape_arg, check_number
from tfp_realnvp.bijectors.one_pass import OnePassBijector, TrainingCall, batch_shape_tensor, check_event_shape

__all__ = ["ActNorm"]


class ActNorm(OnePassBijector):
    """Per-channel scale and shift with learned parameters, exact log-det.

    Data -> latent (TFP's `inverse`), per channel c (the last event axis):

        x = y * exp(log_scale_c) + bias_c
        log|det dx/dy| = P * sum_c log_scale_c

    where P is the number of positions per channel (H*W for images [H, W, C], 1 for vectors
    [D]); `bias` exists only with `shift=True` (else it is 0). The latent -> data `forward` is
    the exact inverse, y = (x - bias) * exp(-log_scale), with the negated log-det; it never
    initialises anything and ignores `training`.

    Initialisation:
      * `data_init=True` (Glow's ActNorm): the parameters start at 0 (the identity), and the
        first `inverse` call with a truthy `training` (True, or a `TrainingCall`) on a
        non-empty batch, while the non-trainable variable `initialized` is False, sets them from
        that batch's per-channel moments (mean, var over every position of every example):

            log_scale = -1/2 log(var + epsilon),   bias = -mean * exp(log_scale)

        and sets `initialized` to True. The same call already normalizes with the new values
        (its output has per-channel mean 0 and variance var / (var + epsilon) ~ 1, or, with
        `shift=False`, that variance and the scaled mean) and reports their log-det; gradients
        reach the variables as read after the assignment, not through the moments. Later calls
        never re-initialise, nor do calls with `training` False/None (before initialisation the
        layer is the identity). `initialized` is a tracked variable, so a `tf.train.Checkpoint`
        saves and restores it with `log_scale` and `bias`: a resumed run does not re-initialise.
        Under a `tf.distribute` strategy the moments are those of the global batch, summed
        across replicas (sums and the example count first, then the centred second moments), so
        every replica initialises to the same values as one device on the whole batch, whatever
        the split (TFP's `tfb.Glow` initialises each replica on its own share). MirroredStrategy
        cannot run a cross-replica reduction or a replica-context assignment inside a `tf.cond`
        branch, so with more than one replica in sync every training call computes and reduces
        the moments and assigns `tf.where(initialized, current, new)`; with one replica (no
        strategy) a `tf.cond` skips all of that once initialised. Works eagerly, in
        `tf.function`, and with `jit_compile=True`.
      * `data_init=False`: starts as the identity and is only learned (Glow's learned top
        prior; on vectors [D], where a channel is a dimension, `shift=False` gives NICE's
        diagonal scaling layer). `initialized` is then True from the start.

    The variables are created with `aggregation=ONLY_FIRST_REPLICA` (`initialized` too), which
    makes the replica-context assignment legal under a strategy; the values every replica
    assigns are identical, and the first replica's copy is written everywhere (a MEAN of n
    identical floats can differ from them by a rounding step). Optimizers still all-reduce the
    gradients (a sum) and update every copy.

    Examples:

    ```python
    norm = ActNorm(event_shape=[16, 16, 12])
    z = norm.inverse(images, training=True)  # first training call: z has per-channel mean 0, std 1
    ```

    References:
      Kingma & Dhariwal, Glow: Generative flow with invertible 1x1 convolutions, arXiv:1807.03039, section 3.1.
    """

    _takes_training = True

    @property
    def syncs_replicas(self):
        """True with `data_init`: its training calls all-reduce inside the forward pass."""
        return self.data_init

    def __init__(
        self,
        event_shape,
        data_init=True,
        shift=True,
        epsilon=1e-6,
        dtype=tf.float32,
        validate_args=False,
        name="act_norm",
    ):
        parameters = dict(locals())
        event_shape = tf.TensorShape(check_event_shape_arg(event_shape))
        data_init = check_bool(data_init, "`data_init`")
        shift = check_bool(shift, "`shift`")
        epsilon = check_number(epsilon, "`epsilon`", 0.0, low_open=True)
        dtype = check_dtype(dtype, "`dtype`")
        channels = event_shape[-1]
        with tf.name_scope(name) as scope_name:
            self._event_shape = event_shape
            self.data_init, self.shift, self.epsilon = data_init, shift, epsilon
            replicated = dict(
                synchronization=tf.VariableSynchronization.ON_WRITE,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            self.log_scale = tf.Variable(tf.zeros([channels], dtype), name="log_scale", **replicated)
            self.bias = tf.Variable(tf.zeros([channels], dtype), name="bias", **replicated) if shift else None
            self.initialized = tf.Variable(not data_init, trainable=False, name="initialized", **replicated)
            super().__init__(
                forward_min_event_ndims=event_shape.rank,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    def _positions(self):
        return float(self._event_shape[:-1].num_elements())

    def _global_moments(self, y, ctx, sync):
        """Per-channel (mean, var, count) over every position of every example of the global batch."""
        axes = list(range(y.shape.rank - 1))
        channels = self._event_shape[-1]
        count = tf.cast(tf.size(y, out_type=tf.int64) // channels, y.dtype)
        sums = tf.concat([tf.reduce_sum(y, axis=axes), [count]], 0)
        if sync:
            sums = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sums)
        count = sums[-1]
        mean = tf.math.divide_no_nan(sums[:-1], count)
        centred = tf.reduce_sum(tf.square(y - mean), axis=axes)
        if sync:
            centred = ctx.all_reduce(tf.distribute.ReduceOp.SUM, centred)
        return mean, tf.math.divide_no_nan(centred, count), count

    def _assign_initial_values(self, y, ctx, sync):
        """Assign the data-dependent values where `initialized` is False and the batch non-empty."""
        mean, var, count = self._global_moments(tf.stop_gradient(y), ctx, sync)
        pending = tf.logical_and(tf.logical_not(self.initialized), count > 0)
        log_scale = -0.5 * tf.math.log(var + tf.cast(self.epsilon, var.dtype))
        self.log_scale.assign(tf.where(pending, log_scale, self.log_scale))
        if self.shift:
            self.bias.assign(tf.where(pending, -mean * tf.exp(log_scale), self.bias))
        self.initialized.assign(tf.logical_or(self.initialized, pending))
        return pending

    def _maybe_initialize(self, y):
        ctx = tf.distribute.get_replica_context()
        sync = ctx is not None and ctx.num_replicas_in_sync > 1
        if sync:
            # Collectives and replica-context assignments must not sit inside a tf.cond here.
            self._assign_initial_values(y, ctx, sync)
        else:
            tf.cond(
                self.initialized,
                lambda: tf.constant(False),
                lambda: self._assign_initial_values(y, ctx, sync),
            )

    def _log_det_per_event(self):
        return self._positions() * tf.reduce_sum(self.log_scale)

    def _inverse_and_log_det(self, y, training=False):
        if not (training is None or isinstance(training, (bool, np.bool_, TrainingCall))):
            raise TypeError(f"{self.name}: `training` must be a Python bool or a TrainingCall, got {training!r}")
        check_event_shape(y, self._event_shape, self.name)
        if training and self.data_init:
            self._maybe_initialize(y)
        x = y * tf.exp(self.log_scale)
        if self.shift:
            x = x + self.bias
        return x, tf.fill(batch_shape_tensor(y, self._event_shape.rank), self._log_det_per_event())

    def _forward_and_log_det(self, x, training=False):
        check_event_shape(x, self._event_shape, self.name)
        h = x - self.bias if self.shift else x
        y = h * tf.exp(-self.log_scale)
        return y, -tf.fill(batch_shape_tensor(x, self._event_shape.rank), self._log_det_per_event())
