"""Dropout whose masks are a function of (seed, each example's position in the global batch)."""

import tensorflow as tf

__all__ = ["per_example_dropout"]

_PHILOX = 1  # tf.random.Algorithm.PHILOX: a counter-based generator, so a draw can start at any row


def per_example_dropout(x, rate, seed, example_offset=0):
    """`tf.nn.dropout` of `x` [N, ...] with example b's mask drawn from (seed, example_offset + b).

    The mask of the example at global position p is row p of one Philox stream keyed by `seed`
    (a stateless seed, two ints): a replica holding rows [k, k + n) of the global batch draws
    exactly those rows (its counter starts at row k), so the masks do not depend on how the batch
    is split across replicas. The same seed gives the same masks in graph mode and eagerly; XLA
    draws its own (equally reproducible) stream. Kept units are scaled by 1 / (1 - rate).
    """
    shape = tf.shape(x)
    per_example = tf.reduce_prod(shape[1:])
    width = (per_example + 3) // 4 * 4  # a Philox counter step yields 4 numbers: rows start on one
    key, _ = tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.cast(seed, tf.int64))
    start = tf.cast(example_offset, tf.uint64) * tf.cast(width // 4, tf.uint64)
    counter = tf.stack([start, tf.zeros([], tf.uint64)])
    uniform = tf.raw_ops.StatelessRandomUniformV2(
        shape=tf.stack([shape[0], width]), key=key, counter=counter, alg=_PHILOX, dtype=tf.float32
    )
    keep = tf.reshape(uniform[:, :per_example] >= rate, shape)
    return tf.where(keep, x / tf.cast(1.0 - rate, x.dtype), tf.zeros_like(x))
