"""Masked affine coupling (Real NVP) and its additive special case (NICE)."""

import inspect

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_bool, check_dtype, check_int, check_number, check_positive_int
from tfp_realnvp.bijectors.one_pass import (
    OnePassBijector,
    batch_shape_tensor,
    check_event_shape,
    flatten_batch,
    flatten_condition,
    unflatten_batch,
)

__all__ = [
    "AffineCoupling",
    "alternating_mask",
    "channel_mask",
    "checkerboard_mask",
    "half_mask",
    "squeezed_checkerboard_mask",
]

SCALE_FNS = ("tanh", "sigmoid", "exp")
# The least multiplier of `scale_fn="sigmoid"`: a transformed unit expands by at most e^7 per
# coupling when sampling (bench/README.md, "Glow's coupling layout, its sampling floor").
SIGMOID_FLOOR = float(np.exp(-7.0))


def checkerboard_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """[H, W, C] mask, 1 where (row + col + parity) is even (H * W >= 2, so it has both values)."""
    height, width, channels = _check_grid(height, width, channels)
    _check_parity(parity)
    if height * width < 2:
        raise ValueError(f"a checkerboard needs at least 2 positions, got `height` x `width` = {height} x {width}")
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    board = ((rows + cols + parity) % 2 == 0).astype(np.float32)
    return np.repeat(board[:, :, None], channels, axis=2)


def squeezed_checkerboard_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """`checkerboard_mask(height, width, channels, parity)` in `Squeeze`'s layout:
    [H/2, W/2, 4C], 1 on the channels of the 2x2 subsquare's diagonal (parity 0) or
    anti-diagonal (parity 1), the same at every position.

    A coupling with it on squeezed data transforms exactly the pixels that the checkerboard
    coupling transforms on the full grid; its conditioner runs on a grid with 4x fewer positions.
    """
    height, width, channels = _check_grid(height, width, channels)
    if height % 2 or width % 2:
        raise ValueError(f"a squeezed checkerboard needs even `height` and `width`, got {height} x {width}")
    board = checkerboard_mask(height, width, channels, parity)
    blocks = board.reshape(height // 2, 2, width // 2, 2, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(blocks.reshape(height // 2, width // 2, 4 * channels))


def channel_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """[H, W, C] mask, 1 on the first half of the channels (parity 0) or the second (parity 1)."""
    height, width, channels = _check_grid(height, width, channels)
    _check_parity(parity)
    if channels % 2:
        raise ValueError(f"a channel mask needs an even number of channels, got `channels`={channels}")
    half = np.arange(channels) < channels // 2
    keep = half if parity == 0 else ~half
    return np.broadcast_to(keep.astype(np.float32), (height, width, channels)).copy()


def alternating_mask(features: int, parity: int = 0) -> np.ndarray:
    """[D] mask, 1 on even indices (parity 0) or odd indices (parity 1); D >= 2."""
    features = _check_features(features)
    _check_parity(parity)
    return ((np.arange(features) + parity) % 2 == 0).astype(np.float32)


def half_mask(features: int, parity: int = 0) -> np.ndarray:
    """[D] mask, 1 on the first half (parity 0) or the second half (parity 1); D >= 2."""
    features = _check_features(features)
    _check_parity(parity)
    first = np.arange(features) < features // 2
    return (first if parity == 0 else ~first).astype(np.float32)


def _keywords(fn):
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # callables without a Python signature
        return set()


def _check_parity(parity):
    if isinstance(parity, (bool, np.bool_)) or parity not in (0, 1):
        raise ValueError(f"`parity` must be 0 or 1, got {parity!r}")


def _check_grid(height, width, channels):
    return tuple(
        check_positive_int(v, f"`{n}`") for n, v in (("height", height), ("width", width), ("channels", channels))
    )


def _check_features(features):
    # One feature gives a mask of a single value: a coupling that transforms nothing or everything.
    return check_int(features, "`features`", minimum=2)


def _check_mask(mask):
    mask = np.asarray(mask)
    if mask.ndim not in (1, 3) or mask.size == 0:
        raise ValueError(f"`mask` must have the event shape [D] or [H, W, C] (non-empty), got shape {mask.shape}")
    numeric = np.issubdtype(mask.dtype, np.number) or mask.dtype == bool
    if not numeric or not np.all((mask == 0) | (mask == 1)) or mask.min() == mask.max():
        raise ValueError("`mask` must contain only 0s and 1s, and both of them")
    return mask


def _channel_split(mask):
    """(kept channels, moved channels, the order that puts [kept, moved] back) of a mask that is
    the same at every position."""
    per_position = mask.reshape(-1, mask.shape[-1])
    if not np.all(per_position == per_position[0]):
        raise ValueError("`split_channels` needs a mask that is the same at every position (e.g. `channel_mask`)")
    kept, moved = np.flatnonzero(per_position[0] == 1), np.flatnonzero(per_position[0] == 0)
    return kept, moved, np.argsort(np.concatenate([kept, moved]))


def _take(x, channels):
    if np.array_equal(channels, np.arange(channels[0], channels[0] + len(channels))):
        return x[..., channels[0] : channels[0] + len(channels)]
    return tf.gather(x, channels, axis=-1)


class AffineCoupling(OnePassBijector):
    """Masked affine coupling layer of Real NVP.

    With a binary mask `b` over the event and a conditioner `NN` (the s/t network):

        forward:  y = b * x + (1 - b) * (x * exp(s) + t),   (s, t) from NN(b * x)
        inverse:  x = b * y + (1 - b) * (y - t) * exp(-s),  (s, t) from NN(b * y)
        log|det J_forward| = sum over the event of (1 - b) * s

    `b * x == b * y`, so both directions evaluate the conditioner on the same input. How the
    log-scale `s` comes from the conditioner's raw output `s_raw` is `scale_fn`:

      * `"tanh"` (default, Real NVP): bounded as in the paper, `s = scale * tanh(s_raw)` with
        `scale` a learned per-channel multiplier (`self.scale`, initialised to `scale_init`, 1
        by default: each coupling starts able to scale a unit by up to e^±scale_init).
      * `"sigmoid"` (Glow): in the data -> latent direction the transformed units are multiplied
        by `m = eps + (1 - eps) * sigmoid(s_raw + 2)`, `eps = SIGMOID_FLOOR = e^-7`, i.e.
        `s = -log m` in [0, 7) (0.127 at `s_raw = 0`). Glow's multiplier is
        `sigmoid(s_raw + 2)` itself; the floor changes it by a relative `eps / m`, under 1% while
        `m > 0.1`, and bounds the expansion of sampling, where an unbounded `1 / m` on a sample
        outside the training data grows the next conditioner's input, its `s_raw`, and so on
        until the sample overflows. No `scale` variable (`self.scale` is None).
      * `"exp"`: unbounded, `s = s_raw`; no `scale` variable. With a zero-initialised
        conditioner on a channel mask this is a learned conditional Gaussian N(t, exp(s)^2) for
        the transformed units given the others (Glow's prior at a split), written as a bijector
        onto a standard normal.

    `scale_init` applies to `"tanh"` only: another value with another `scale_fn` is refused.
    With `additive=True` the layer is NICE's additive coupling `y = b * x + (1 - b) * (x + t)`
    and the log-det is exactly 0; it has no log-scale, so only the default `scale_fn` is
    accepted with it.

    The conditioner is any callable mapping `[N, *event_shape]` to `[N, *event_shape[:-1],
    k * C]` with `k = 1` (additive: t) or `k = 2` (raw s, then t), `C = event_shape[-1]`.
    With `split_channels=True` the mask must be the same at every position (a channel mask, as
    in Glow): the conditioner then maps only the kept channels, `[N, *event_shape[:-1], C_kept]`,
    to `[N, *event_shape[:-1], k * C_moved]` for the transformed ones (in channel order), so
    neither its input nor its output carries the masked half; the transform and log-det are
    the same as with the masked call.
    Batch dimensions of any rank are flattened before it is called. A conditioner whose call
    takes a `training` keyword (e.g. one with dropout) gets the flow's `training` flag, and one
    that takes `seed` gets the stateless seed of a seeded training call (`TrainingCall`), and one
    that also takes `example_offset` its position in the global batch. A `condition=` keyword
    ([*batch, condition_dims], the input's batch shape; e.g. one-hot labels) is passed on,
    flattened to [N, condition_dims], to a conditioner whose call takes `condition` (one that
    does not take it refuses a condition). With
    `compute_dtype` (e.g. `tf.float16` on GPUs: mixed precision) the conditioner runs in that dtype while the
    scale, the transform and the log-det stay in `dtype`; the coupling remains an exact inverse
    because both directions evaluate the conditioner on the same masked input. Keep its variables
    visible to `tf.Module` tracking (a `tf.Module` or a `tf_keras` layer, not a Keras 3 one).

    Examples:

    ```python
    from tfp_realnvp.bijectors import AffineCoupling, checkerboard_mask
    from tfp_realnvp.networks import ResNetConditioner

    coupling = AffineCoupling(checkerboard_mask(8, 8, 1, parity=0), ResNetConditioner(in_channels=1))
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [8, 8, 1]), coupling)
    loss = -tf.reduce_mean(flow.log_prob(images))
    ```

    References:
      Dinh, Sohl-Dickstein & Bengio, Density estimation using Real NVP, arXiv:1605.08803.
      Dinh, Krueger & Bengio, NICE, arXiv:1410.8516.
    """

    _takes_training = True
    _takes_condition = True

    def __init__(
        self,
        mask,
        conditioner,
        additive=False,
        dtype=tf.float32,
        compute_dtype=None,
        scale_init=1.0,
        validate_args=False,
        name="affine_coupling",
        scale_fn="tanh",
        split_channels=False,
    ):
        parameters = dict(locals())
        mask = _check_mask(mask)
        if not callable(conditioner):
            raise TypeError(f"`conditioner` must be callable, got {type(conditioner).__name__}")
        scale_init = check_number(scale_init, "`scale_init`", 0.0, low_open=True)
        additive = check_bool(additive, "`additive`")
        split_channels = check_bool(split_channels, "`split_channels`")
        if not isinstance(scale_fn, str) or scale_fn not in SCALE_FNS:
            raise ValueError(f"`scale_fn` must be one of {', '.join(map(repr, SCALE_FNS))}, got {scale_fn!r}")
        if scale_fn != "tanh" and scale_init != 1.0:
            raise ValueError(
                f"`scale_init` applies to `scale_fn`='tanh' only (the learned bound), got scale_init={scale_init!r} "
                f"with scale_fn={scale_fn!r}"
            )
        if scale_fn != "tanh" and additive:
            raise ValueError(f"an additive coupling has no log-scale: `scale_fn`={scale_fn!r} needs additive=False")
        dtype = check_dtype(dtype, "`dtype`")
        compute_dtype = check_dtype(compute_dtype, "`compute_dtype`", allow_none=True)
        with tf.name_scope(name) as scope_name:
            self._mask = tf.constant(mask, dtype=dtype)
            self._event_shape = tf.TensorShape(mask.shape)
            self.conditioner = conditioner
            self._conditioner_keywords = _keywords(conditioner) & {"training", "seed", "example_offset", "condition"}
            self.additive = bool(additive)
            self.scale_fn = scale_fn
            self._channels = _channel_split(mask) if split_channels else None
            self.compute_dtype = tf.as_dtype(compute_dtype or dtype)
            self.scale = (
                None
                if additive or scale_fn != "tanh"
                else tf.Variable(
                    tf.fill(
                        [mask.shape[-1] if self._channels is None else len(self._channels[1])],
                        tf.constant(scale_init, dtype),
                    ),
                    name="scale",
                )
            )
            super().__init__(
                forward_min_event_ndims=mask.ndim,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    @property
    def mask(self):
        return self._mask

    def _log_scale_and_shift(self, masked, training, condition):
        """(s, t), zero on the masked units, for a masked input with any batch shape; with
        `split_channels`, (s, t) of the transformed channels for the kept ones."""
        ndims = self._event_shape.rank
        flat, batch_shape = flatten_batch(masked, ndims)
        kwargs = {}
        if condition is not None:
            if "condition" not in self._conditioner_keywords:
                raise ValueError(f"{self.name}: got a `condition`, but the conditioner's call takes none")
            kwargs["condition"] = flatten_condition(condition)
        if "training" in self._conditioner_keywords:
            kwargs["training"] = bool(training)
        if "seed" in self._conditioner_keywords and getattr(training, "seed", None) is not None:
            kwargs["seed"] = training.seed
            if "example_offset" in self._conditioner_keywords:
                kwargs["example_offset"] = training.example_offset
        out = self._check_conditioner_output(self.conditioner(tf.cast(flat, self.compute_dtype), **kwargs))
        out = unflatten_batch(tf.cast(out, self.dtype), batch_shape, ndims)
        if self.additive:
            s, t = None, out
        else:
            s_raw, t = tf.split(out, 2, axis=-1)
            if self.scale_fn == "tanh":
                s = self.scale * tf.tanh(s_raw)
            elif self.scale_fn == "sigmoid":
                # The multiplier is at least eps, so its log needs no care for underflow.
                s = -tf.math.log(SIGMOID_FLOOR + (1.0 - SIGMOID_FLOOR) * tf.sigmoid(s_raw + 2.0))
            else:
                s = s_raw
        if self._channels is not None:
            return s, t  # the transformed channels only: nothing to mask
        inv_mask = 1.0 - self._mask
        return None if s is None else s * inv_mask, t * inv_mask

    def _check_conditioner_output(self, out):
        """The conditioner's output must be [N, *event_shape[:-1], k * C] (k = 1 additive, else 2;
        C the channels it transforms: all of them, or with `split_channels` the moved ones)."""
        k = 1 if self.additive else 2
        channels = self._event_shape[-1] if self._channels is None else len(self._channels[1])
        expected = [*self._event_shape[:-1], k * channels]
        need = f"the coupling needs [N, {', '.join(map(str, expected))}]"
        try:
            tensor = tf.convert_to_tensor(out)
        except (TypeError, ValueError):
            tensor = None
        if tensor is None or not tensor.dtype.is_floating:
            got = type(out).__name__ if tensor is None else f"a {tensor.dtype.name} tensor"
            raise TypeError(f"{self.name}: the conditioner returned {got}; {need} floats")
        out = tensor
        shape = tf.TensorShape(out.shape)
        if shape.rank is not None and (shape.rank != len(expected) + 1 or not shape[1:].is_compatible_with(expected)):
            raise ValueError(f"{self.name}: the conditioner returned shape {shape}, {need}")
        return out

    def _log_det(self, s, x):
        if s is None:
            return tf.zeros(batch_shape_tensor(x, self._event_shape.rank), x.dtype)
        return tf.reduce_sum(s, axis=list(range(-self._event_shape.rank, 0)))

    def _split(self, x):
        kept, moved, _ = self._channels
        return _take(x, kept), _take(x, moved)

    def _merge(self, kept, moved):
        order = self._channels[2]
        both = tf.concat([kept, moved], axis=-1)
        if np.array_equal(order, np.arange(len(order))):
            return both
        if np.array_equal(order, np.roll(np.arange(len(order)), len(self._channels[1]))):
            return tf.concat([moved, kept], axis=-1)  # the moved channels come first
        return tf.gather(both, order, axis=-1)

    def _forward_and_log_det(self, x, training=False, condition=None):
        check_event_shape(x, self._event_shape, self.name)
        if self._channels is not None:
            kept, moved = self._split(x)
            s, t = self._log_scale_and_shift(kept, training, condition)
            moved = moved + t if s is None else moved * tf.exp(s) + t
            return self._merge(kept, moved), self._log_det(s, x)
        masked = x * self._mask
        s, t = self._log_scale_and_shift(masked, training, condition)
        y = x + t if s is None else masked + (1.0 - self._mask) * x * tf.exp(s) + t
        return y, self._log_det(s, x)

    def _inverse_and_log_det(self, y, training=False, condition=None):
        check_event_shape(y, self._event_shape, self.name)
        if self._channels is not None:
            kept, moved = self._split(y)
            s, t = self._log_scale_and_shift(kept, training, condition)
            moved = moved - t if s is None else (moved - t) * tf.exp(-s)
            return self._merge(kept, moved), -self._log_det(s, y)
        masked = y * self._mask
        s, t = self._log_scale_and_shift(masked, training, condition)
        x = y - t if s is None else masked + (1.0 - self._mask) * (y - t) * tf.exp(-s)
        return x, -self._log_det(s, y)
