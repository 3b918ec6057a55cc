"""Argument checks shared by the whole package: each returns the normalized value or raises an
error whose message names the argument (`what`) and says what was wrong, e.g.
"`num_scales` must be a positive int, got 2.5"."""

from __future__ import annotations

import math
import numbers

import numpy as np
import tensorflow as tf

__all__ = [
    "check_bool",
    "check_dtype",
    "check_event_shape_arg",
    "check_int",
    "check_number",
    "check_positive_int",
    "check_seed",
    "check_sizes",
    "check_stateless_seed",
    "is_int",
]


def is_int(value: object) -> bool:
    """A Python or NumPy integer, not a bool (`True` is an int to Python, never a count here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value: object, what: str, minimum: int = 0) -> int:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(value: object, what: str) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def check_seed(seed: object, what: str = "seed", upper: int = 2**63) -> int:
    if not is_int(seed) or not 0 <= seed < upper:
        raise ValueError(f"{what} must be an int in [0, {upper}), got {seed!r}")
    return int(seed)


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a bool, got {value!r}")
    return bool(value)


def check_number(
    value: object,
    what: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (not a bool) within the bounds (None: unbounded on that side)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if high is None:
            where = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
        elif low is None:
            where = f" {'<' if high_open else '<='} {high:g}"
        else:
            where = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{what} must be a finite number{where}, got {value!r}")
    return float(value)


def check_dtype(value: object, what: str, *, allow_none: bool = False) -> tf.DType | None:
    """A floating dtype (anything `tf.as_dtype` takes: tf.float32, "float64", np.float32)."""
    if value is None and allow_none:
        return None
    try:
        dtype = tf.as_dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or not dtype.is_floating:
        got = dtype.name if dtype is not None else repr(value)
        raise TypeError(f"{what} must be a floating dtype such as tf.float32, got {got}")
    return dtype


def check_sizes(values: object, what: str) -> tuple[int, ...]:
    """A non-empty sequence of positive ints (layer widths)."""
    try:
        sizes = tuple(values) if not isinstance(values, (str, bytes)) else None
    except TypeError:
        sizes = None
    if not sizes or not all(is_int(v) and v >= 1 for v in sizes):
        raise ValueError(f"{what} must be a non-empty sequence of positive ints, got {values!r}")
    return tuple(int(v) for v in sizes)


def check_event_shape_arg(event_shape: object, what: str = "`event_shape`", ranks: tuple = (1, 3)) -> tuple[int, ...]:
    """A fully defined shape of positive ints whose rank is in `ranks` (1: [D], 3: [H, W, C])."""
    names = {1: "[D]", 3: "[H, W, C]"}
    try:
        dims = list(event_shape) if not isinstance(event_shape, str) else None
    except (TypeError, ValueError):  # not iterable, or a TensorShape of unknown rank
        dims = None
    if dims is None or len(dims) not in ranks or not all(is_int(d) and d >= 1 for d in dims):
        expected = " or ".join(names.get(r, f"rank {r}") for r in ranks)
        raise ValueError(f"{what} must be a fully defined {expected} of positive ints, got {event_shape!r}")
    return tuple(int(d) for d in dims)


def check_stateless_seed(seed: object, what: str = "seed") -> tf.Tensor:
    """A stateless seed, two ints in int32's range (a pair, a NumPy array or a tensor) -> int32 [2]."""
    try:
        tensor = tf.convert_to_tensor(seed)
    except (TypeError, ValueError):
        tensor = None
    if tensor is None or not tensor.dtype.is_integer or tensor.shape != [2]:
        raise ValueError(f"{what} must be a stateless seed, two ints, got {seed!r}")
    value = tf.get_static_value(tensor)
    if value is not None and not np.all((value >= -(2**31)) & (value < 2**31)):
        raise ValueError(f"{what} must be two ints in [-2**31, 2**31) (int32), got {seed!r}")
    return tf.cast(tensor, tf.int32)
