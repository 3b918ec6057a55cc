"""Argument checks shared by the data loaders and pipelines."""

from __future__ import annotations

import numbers
import secrets

import numpy as np

from tfp_realnvp._validation import check_positive_int, check_seed  # noqa: F401 - shared, used by the loaders

__all__ = ["check_pixels"]


def check_pixels(images: np.ndarray, levels: int, *, name: str = "images") -> None:
    """Raise ValueError unless `images` is an integer array [N, H, W, C] with values in [0, levels).

    Args:
      images: raw (quantized) pixel values; anything `np.asarray` accepts.
      levels: number of pixel values, e.g. 256 for 8-bit images.
      name: how the array is called in error messages.
    """
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{name} must have rank 4 [N, H, W, C], got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.integer):
        # The usual cause is passing already dequantized or rescaled floats; the pipelines dequantize themselves.
        raise ValueError(f"{name} must have an integer dtype (raw pixel values), got dtype {images.dtype}")
    if images.size:
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi >= levels:
            raise ValueError(f"{name} values must lie in [0, {levels}) for levels={levels}, got min {lo}, max {hi}")


def resolve_seed(seed: object) -> int:
    # Stateless ops need a concrete seed even when the caller wants fresh randomness.
    return secrets.randbits(63) if seed is None else check_seed(seed)
