"""Base class for bijectors that compute their output and log-det in one pass."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import cache_util

from tfp_realnvp._validation import check_bool, check_int

__all__ = [
    "OnePassBijector",
    "TrainingCall",
    "batch_shape_tensor",
    "check_event_shape",
    "flatten_batch",
    "flatten_condition",
    "unflatten_batch",
]

tfb = tfp.bijectors


class OnePassBijector(tfb.Bijector):
    """A `tfb.Bijector` whose transform and log-det come from a single evaluation.

    Subclasses implement `_forward_and_log_det(x, **kwargs) -> (y, fldj)` and
    `_inverse_and_log_det(y, **kwargs) -> (x, ildj)`, log-dets reduced over
    `forward_min_event_ndims`. The greedy cache stores the log-det beside the output, so
    `inverse(y)` followed by `inverse_log_det_jacobian(y)` (what `log_prob` does) runs the
    conditioner network once, not twice as in `tfb.RealNVP`.

    Instances compare equal only to themselves: these bijectors own variables, and TFP's
    cache is keyed on bijector equality, so parameter-based equality could hand one
    instance's cached outputs to another with different weights.

    Bijectors that set `_takes_training = True` accept a `training` keyword, and those that set
    `_takes_condition = True` a `condition` keyword (None, or a float tensor [*batch,
    condition_dims] with the input's batch shape); the package's composites forward both.
    """

    _cache = cache_util.BijectorCacheWithGreedyAttrs(
        forward_name="_augmented_forward", inverse_name="_augmented_inverse"
    )
    _takes_training = False
    _takes_condition = False

    def __init__(self, forward_min_event_ndims=None, validate_args=False, **kwargs):
        check_int(forward_min_event_ndims, "`forward_min_event_ndims`", minimum=0)
        check_bool(validate_args, "`validate_args`")
        super().__init__(forward_min_event_ndims=forward_min_event_ndims, validate_args=validate_args, **kwargs)

    def _get_parameterization(self):
        return id(self)

    def _augmented_forward(self, x, **kwargs):
        y, fldj = self._forward_and_log_det(x, **kwargs)
        return y, {"ildj": -fldj}

    def _augmented_inverse(self, y, **kwargs):
        x, ildj = self._inverse_and_log_det(y, **kwargs)
        return x, {"ildj": ildj}

    def _forward(self, x, **kwargs):
        return self._forward_and_log_det(x, **kwargs)[0]

    def _inverse(self, y, **kwargs):
        return self._inverse_and_log_det(y, **kwargs)[0]

    def _forward_log_det_jacobian(self, x, **kwargs):
        return self._forward_and_log_det(x, **kwargs)[1]

    def _inverse_log_det_jacobian(self, y, **kwargs):
        return self._inverse_and_log_det(y, **kwargs)[1]


class TrainingCall:
    """The `training` keyword of one training-mode call: truthy, and fresh per call.

    TFP keys its bijector cache on the call's keyword arguments: with a new token, a second
    training call on the same tensor is evaluated again (and updates the batch-norm statistics
    again) instead of being served from the cache, while `inverse` and its log-det inside one
    call still share a single pass. `seed` (a stateless seed, two ints) makes the conditioners'
    dropout masks a function of the seed; None draws them from TF's global generator.
    Composites give member i `fold_in(i)`, so no two conditioners share a mask stream.
    `example_offset` is the position of this call's first example in a larger batch (the
    replica's share of the global batch): a seeded conditioner draws example b's masks from
    (seed, example_offset + b), so a batch split across any number of replicas gets the masks
    it would get on one device.
    """

    def __init__(self, seed=None, example_offset=0):
        if seed is not None:
            seed = tf.convert_to_tensor(seed)
            if not seed.dtype.is_integer or seed.shape != [2]:
                raise ValueError(
                    f"`seed` must be a stateless seed, two integers, got {seed.dtype.name} of shape {seed.shape}"
                )
            seed = tf.cast(seed, tf.int32)  # what XLA's stateless random ops accept
        if isinstance(example_offset, bool) or not (
            isinstance(example_offset, (int, np.integer))
            and example_offset >= 0
            or tf.is_tensor(example_offset)
            and example_offset.dtype.is_integer
            and example_offset.shape.rank == 0
        ):
            raise ValueError(
                f"`example_offset` must be a non-negative int or an integer scalar, got {example_offset!r}"
            )
        self.seed = seed
        self.example_offset = example_offset

    def __bool__(self):
        return True

    def fold_in(self, i):
        if self.seed is None:
            return self
        return TrainingCall(tf.random.experimental.stateless_fold_in(self.seed, i), self.example_offset)


def check_event_shape(x, event_shape, what):
    """Raise a ValueError naming `what` when the trailing dims of `x` are not `event_shape`."""
    event_shape = tf.TensorShape(event_shape)
    ndims = event_shape.rank
    if x.shape.rank is not None and (
        x.shape.rank < ndims or not x.shape[x.shape.rank - ndims :].is_compatible_with(event_shape)
    ):
        raise ValueError(f"{what}: input of shape {x.shape} does not end in the event shape {event_shape}")


def batch_shape_tensor(x, event_ndims):
    """The batch part of `x`'s shape (all but the last `event_ndims` dims), as a tensor: the shape
    of a per-event log-det."""
    return tf.shape(x)[: tf.rank(x) - event_ndims]


def flatten_batch(x, event_ndims):
    """Reshape [*batch, *event] -> [prod(batch), *event]; returns the tensor and the batch shape.

    Static event dims are kept static (convolutions and XLA want them)."""
    shape = tf.shape(x)
    rank = tf.rank(x)
    batch_shape = shape[: rank - event_ndims]
    event = x.shape[-event_ndims:] if x.shape.rank is not None else tf.TensorShape([None] * event_ndims)
    event_tensor = [shape[rank - event_ndims + i] if d is None else d for i, d in enumerate(event.as_list())]
    flat = tf.reshape(x, tf.stack([-1, *event_tensor]))
    flat.set_shape(tf.TensorShape([None]).concatenate(event))
    batch_static = x.shape[:-event_ndims] if x.shape.rank is not None else tf.TensorShape(None)
    return flat, (batch_shape, batch_static)


def unflatten_batch(x, batch, event_ndims):
    """Inverse of `flatten_batch` for a tensor whose event part may have changed shape."""
    batch_shape, batch_static = batch
    shape = tf.shape(x)
    out = tf.reshape(x, tf.concat([batch_shape, shape[tf.rank(x) - event_ndims :]], 0))
    out.set_shape(batch_static.concatenate(x.shape[-event_ndims:]))
    return out


def flatten_condition(condition):
    """A condition [*batch, K] as [prod(batch), K] (the rows of `flatten_batch`'s output); None stays None."""
    if condition is None:
        return None
    condition = tf.convert_to_tensor(condition)
    flat = tf.reshape(condition, [-1, condition.shape[-1] if condition.shape.rank else tf.shape(condition)[-1]])
    return flat
