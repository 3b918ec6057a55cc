"""Dropout whose masks are a function of (seed, each example's position in the global batch)."""

import tensorflow as tf

__all__ = ["per_example_dropout"]


def _mix(x):
    """A bijection of uint32 with full avalanche (Wellons' "lowbias32": xor-shifts and odd multiplies)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _keys(seed):
    """Two uint32 keys that depend on all 128 bits of a stateless seed (two int64s)."""
    words = tf.unstack(tf.reshape(tf.bitcast(tf.cast(seed, tf.int64), tf.uint32), [4]))
    first = _mix(words[0] ^ _mix(words[1]))
    return first, _mix(words[2] ^ _mix(words[3] + first))


def per_example_dropout(x, rate, seed, example_offset=0):
    """`tf.nn.dropout` of `x` [N, ...] with example b's mask drawn from (seed, example_offset + b).

    Unit j of the example at global position p is kept when h(p * U + j) >= rate * 2**32, U the
    units per example and h a keyed 32-bit hash (two rounds of `_mix`, keyed by all of `seed`, a
    stateless seed of two ints): a replica holding rows [k, k + n) of the global batch computes
    exactly those rows, so the masks do not depend on how the batch is split across replicas, and
    the integer arithmetic is the same eagerly, in graph mode and under XLA, so all three draw the
    same masks; under XLA the hash is one fused elementwise loop (why not TF's Philox:
    bench/README.md, "Dropout masks from a hash"). Kept units are scaled by 1 / (1 - rate).
    Positions p * U + j repeat past 2**32 units in one global batch.
    """
    shape = tf.shape(x)
    per_example = tf.reduce_prod(shape[1:])
    first, second = _keys(seed)
    rows = tf.cast(tf.cast(example_offset, tf.int64) + tf.range(shape[0], dtype=tf.int64), tf.uint32)
    units = tf.cast(tf.range(per_example), tf.uint32)
    index = rows[:, None] * tf.cast(per_example, tf.uint32) + units[None, :]
    bits = _mix(_mix(index + first) ^ second)
    threshold = tf.constant(min(round(rate * 2**32), 2**32 - 1), tf.uint32)
    keep = tf.reshape(bits >= threshold, shape)
    return tf.where(keep, x / tf.cast(1.0 - rate, x.dtype), tf.zeros_like(x))
