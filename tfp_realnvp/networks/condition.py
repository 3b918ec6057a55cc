"""How a condition (e.g. a one-hot class label) enters a conditioner network."""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_int

__all__ = ["ConditionBias", "check_condition_dims", "checked_condition"]


def check_condition_dims(condition_dims):
    """`condition_dims`: an int >= 0 (0: the network takes no condition)."""
    return check_int(condition_dims, "`condition_dims`", minimum=0)


def checked_condition(condition, condition_dims, batch_rows, name):
    """A conditioner's `condition`: None when `condition_dims` is 0, else a float tensor
    [N, condition_dims] with the N rows of the network's input (`batch_rows`: its first dim)."""
    if not condition_dims:
        if condition is not None:
            raise ValueError(f"{name}: built with `condition_dims`=0 (unconditional), but got a `condition`")
        return None
    if condition is None:
        raise ValueError(
            f"{name}: built with `condition_dims`={condition_dims}, it needs `condition=` [N, {condition_dims}]"
        )
    condition = tf.convert_to_tensor(condition)
    if not condition.dtype.is_floating:
        raise TypeError(f"{name}: `condition` must be floats, got dtype {condition.dtype.name}")
    shape = condition.shape
    if shape.rank is not None and (shape.rank != 2 or shape[-1] not in (None, condition_dims)):
        raise ValueError(f"{name}: `condition` must have shape [N, {condition_dims}], got {shape}")
    if shape.rank == 2 and shape[0] is not None and batch_rows is not None and shape[0] != batch_rows:
        raise ValueError(f"{name}: `condition` has {shape[0]} rows for an input of {batch_rows}")
    return condition


class ConditionBias(tf.Module):
    """A learned linear map of the condition, [N, condition_dims] -> [N, units]: what a
    conditioner adds to the pre-activation of its first hidden layer (broadcast over the
    positions of an image), which is the same as feeding the condition as extra inputs (or, for a
    convolution, as constant extra channels) to that layer. The kernel starts at N(0, 1 /
    condition_dims), so a one-hot label shifts each unit by about one standard deviation; the
    bias is the first layer's own. The kernel is drawn from the stateless stream [seed, stream]:
    a network whose layers draw from streams [seed, k] of their own passes a `stream` they leave free."""

    def __init__(self, condition_dims, units, dtype=tf.float32, seed=0, stream=7, name="condition_bias"):
        super().__init__(name=name)
        stddev = 1.0 / np.sqrt(condition_dims)
        with self.name_scope:
            self.w = tf.Variable(
                tf.random.stateless_normal([condition_dims, units], seed=[seed, stream], stddev=stddev, dtype=dtype),
                name="kernel",
            )

    def __call__(self, condition, like):
        """The bias for hidden activations `like` ([N, units] or [N, H, W, units]), in their dtype."""
        bias = tf.matmul(tf.cast(condition, like.dtype), tf.cast(self.w, like.dtype))
        for _ in range(like.shape.rank - 2):
            bias = bias[:, None]
        return bias
