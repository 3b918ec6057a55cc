"""tf.data input pipelines: uniformly dequantized image batches and shuffled vector batches."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfp_realnvp.data._validation import check_pixels, check_positive_int, check_seed, resolve_seed

__all__ = ["dequantize_draws", "image_dataset", "vector_dataset"]


def _below(levels: int) -> np.float32:
    # pixel + u with u just below 1 can round up to `levels` in float32 (e.g. 255 + 0.99999994 == 256.0); clamping
    # to the largest float32 below `levels` keeps the promised half-open range [0, levels).
    return np.nextafter(np.float32(levels), np.float32(0))


def _defaults(training: bool, repeat: bool | None, drop_remainder: bool | None) -> tuple[bool, bool]:
    training = bool(training)
    repeat = training if repeat is None else bool(repeat)
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)
    return repeat, drop_remainder


def _index_batches(
    n: int,
    batch_size: int,
    *,
    training: bool,
    seed: int,
    repeat: bool,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """(step, indices) pairs: batches of row indices in [0, n) and a running batch counter (int64)."""
    if drop_remainder and batch_size > n:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {n} examples: with drop_remainder=True no batch would be "
            "produced (and a repeated pipeline would spin forever)"
        )
    # Shuffling indices instead of examples: a permutation costs 8 bytes per example, not a second copy of the
    # data set, and the rows are gathered per batch. Each epoch's permutation is a stateless function of
    # (seed, epoch): unlike `Dataset.shuffle(seed=)`, whose order also follows `tf.random.set_seed`, the batch
    # order is the same whatever the program seeded globally before.
    seed_t = tf.constant(seed, tf.int64)

    def epoch(e):
        order = tf.range(n, dtype=tf.int64)
        if training:
            keys = tf.random.stateless_uniform([n], tf.stack([seed_t, e]), minval=None, maxval=None, dtype=tf.int64)
            order = tf.gather(order, tf.argsort(keys))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    batches = epochs.flat_map(epoch)
    # The counter runs across epochs, so every batch gets fresh (but reproducible) noise.
    return batches.enumerate()


def image_dataset(
    images: np.ndarray,
    levels: int,
    batch_size: int,
    *,
    training: bool,
    seed: int | None = None,
    flip: bool = False,
    repeat: bool | None = None,
    drop_remainder: bool | None = None,
    dequantize: bool = True,
    conditions: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Float32 batches [B, H, W, C] of uniformly dequantized pixels, pixel + U[0, 1), in [0, levels).

    The values are not divided by `levels`; the model's preprocessing bijector does that.

    Args:
      images: integer pixels [N, H, W, C] in [0, levels), e.g. `ImageData.train`.
      levels: number of pixel values (256 for 8-bit images).
      batch_size: examples per batch.
      training: True: shuffle (seeded, reshuffled every epoch), optional random horizontal flips, repeat forever
        and drop the last partial batch, unless overridden. False: one pass in order, keep the partial batch,
        never flip.
      seed: makes shuffling, flips and noise reproducible; None picks a random seed.
      flip: flip each training image horizontally with probability 1/2.
      repeat: overrides the default (training).
      drop_remainder: overrides the default (training); True gives static batch shapes for distributed training.
      dequantize: False yields the integer pixel values as float32 (for models that dequantize themselves).
      conditions: [N, K] numbers, one row per image (e.g. one-hot labels): the dataset then yields
        (images, conditions) pairs, the rows gathered with the images (a flip keeps its row).
    """
    images = np.asarray(images)
    check_pixels(images, levels)
    if len(images) == 0:
        raise ValueError(f"images is empty (shape {images.shape})")
    conditions = _as_conditions(conditions, len(images))
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = resolve_seed(seed)
    if levels <= 256 and images.dtype != np.uint8:
        images = images.astype(np.uint8)  # Values were range-checked above; uint8 is the smallest copy to hold.
    repeat, drop_remainder = _defaults(training, repeat, drop_remainder)
    batches = _index_batches(
        len(images),
        batch_size,
        training=training,
        seed=seed,
        repeat=repeat,
        drop_remainder=drop_remainder,
    )
    event_shape = images.shape[1:]
    static_batch = batch_size if drop_remainder else None
    pixels = tf.constant(images)
    base_seed = tf.constant(seed, tf.int64)
    top = _below(levels)
    do_flip = bool(flip) and training

    def to_batch(step: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        # Vectorized per batch: one gather and two stateless draws instead of per-image map calls.
        x = tf.gather(pixels, index)
        flip_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(tf.stack([base_seed, step]), 2))
        if do_flip:
            coin = tf.random.stateless_uniform([tf.shape(x)[0]], seed=flip_seed) < 0.5
            x = tf.where(coin[:, None, None, None], tf.reverse(x, axis=[2]), x)
        x = tf.cast(x, tf.float32)
        if dequantize:
            x = tf.minimum(x + tf.random.stateless_uniform(tf.shape(x), seed=noise_seed), top)
        return tf.ensure_shape(x, (static_batch, *event_shape))

    to_batch = _with_conditions(to_batch, conditions)
    return batches.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _as_conditions(conditions: np.ndarray | None, n: int) -> tf.Tensor | None:
    """`conditions` [N, K] (one row per example, e.g. one-hot labels) as a float32 constant."""
    if conditions is None:
        return None
    conditions = np.asarray(conditions)
    if conditions.ndim != 2 or len(conditions) != n or not np.issubdtype(conditions.dtype, np.number):
        raise ValueError(f"conditions must be numbers [{n}, K], one row per example, got shape {conditions.shape}")
    conditions = conditions.astype(np.float32)
    if not np.all(np.isfinite(conditions)):
        raise ValueError("conditions contain NaN or Inf")
    return tf.constant(conditions)


def _with_conditions(to_batch, conditions):
    """Batches (x, c) when there are conditions: c is the rows of `conditions` the batch gathered."""
    if conditions is None:
        return to_batch
    return lambda step, index: (to_batch(step, index), tf.gather(conditions, index))


def _as_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"points must have rank 2 [N, D], got shape {points.shape}")
    real = np.issubdtype(points.dtype, np.floating) or np.issubdtype(points.dtype, np.integer)
    if not real:
        raise ValueError(f"points must be real numbers (float or int dtype), got dtype {points.dtype}")
    if len(points) == 0:
        raise ValueError(f"points is empty (shape {points.shape})")
    # Checked after the cast, because float64 values beyond the float32 range become Inf (reported just below).
    with np.errstate(over="ignore"):
        points = points.astype(np.float32)
    bad = ~np.all(np.isfinite(points), axis=1)
    if bad.any():
        raise ValueError(f"points contain NaN or Inf ({int(bad.sum())} rows, the first is row {int(np.argmax(bad))})")
    return points


def vector_dataset(
    points: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int | None = None,
    repeat: bool | None = None,
    drop_remainder: bool | None = None,
    conditions: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Float32 batches [B, D] of `points` [N, D], with the shuffle/repeat/drop semantics of
    `image_dataset`; with `conditions` [N, K], (points, conditions) pairs."""
    points = _as_points(points)
    conditions = _as_conditions(conditions, len(points))
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = resolve_seed(seed)
    repeat, drop_remainder = _defaults(training, repeat, drop_remainder)
    batches = _index_batches(
        len(points),
        batch_size,
        training=training,
        seed=seed,
        repeat=repeat,
        drop_remainder=drop_remainder,
    )
    static_batch = batch_size if drop_remainder else None
    table = tf.constant(points)

    def to_batch(step: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        del step  # No per-batch randomness for vectors.
        return tf.ensure_shape(tf.gather(table, index), (static_batch, points.shape[1]))

    to_batch = _with_conditions(to_batch, conditions)
    return batches.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def dequantize_draws(images: np.ndarray, levels: int, draws: int, seed: int) -> np.ndarray:
    """Float32 [draws * N, H, W, C]: `draws` fixed uniform dequantizations of `images`, stacked draw by draw.

    Averaging a test bits/dim over several draws lowers the variance of the dequantization noise. Noise comes from
    np.random.RandomState(seed), one `rand(*images.shape)` per draw.
    """
    images = np.asarray(images)
    check_pixels(images, levels)
    draws = check_positive_int(draws, "draws")
    rs = np.random.RandomState(check_seed(seed, upper=2**32))
    n = len(images)
    out = np.empty((draws * n, *images.shape[1:]), np.float32)
    for d in range(draws):
        # Summed in float64 and rounded once into the float32 output.
        out[d * n : (d + 1) * n] = images + rs.rand(*images.shape)
    return np.minimum(out, _below(levels), out=out)
