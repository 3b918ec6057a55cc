"""Export a trained flow (any registered model) as a SavedModel that serves with TensorFlow alone.

`export_saved_model(flow, export_dir)` writes these signatures (`D` is the flow's dtype, float32
unless the flow is float64; `[N, *event]` is a batch of events):

    serving_default, log_prob   images [N, *event] D                          -> {"log_prob": [N]}
    bits_per_dim                images [N, *event] D                          -> {"bits_per_dim": [N]}
    encode                      images [N, *event] D                          -> {"latents": [N, *event]}
    decode                      latents [N, *event] D                         -> {"images": [N, *event]}
    sample                      num_samples [] int32, temperature [] D        -> {"samples": [N, *event]}
    log_prob_parts              images [N, *event] D        -> {<layer>: [N], ..., "prior": [N]} (sum: log_prob)
    latents_by_scale            images [N, *event] D        -> {"scale0": [N, D_0], ...} (finest first)

A conditional flow (`condition_dims` K > 0) takes one more input in every signature except
`metadata`: `condition` [N, K] D (one row per image, latent or sample; a single row [1, K]
serves them all), checked like the images: "Shape of tensor condition ... is not compatible",
"condition contains NaN or Inf", "condition must have 1 row or one per input". Its
`loaded.condition_dims` is K (0 for unconditional flows, and for exports written before the
field existed).

The loaded object (`tf.saved_model.load(export_dir)` or `load_exported`) also has the same
functions as attributes (`loaded.log_prob(images)` returns the same dict), the metadata
`loaded.event_shape` (int32 vector), `loaded.pixel_levels` (int32 scalar, 0 for vector
flows) and `loaded.model` (string: the model's name in `tfp_realnvp.models.MODELS`, or its class
name) as non-trainable variables, `loaded.metadata()` (a dict of those plus `num_dims`), and the
export directory holds `tfp_realnvp.json` (model, prior, event shape, pixel levels, dims, dtype,
parameter counts). Everything runs in inference mode (batch norm uses its running statistics).

Inside the signatures, invalid inputs raise `tf.errors.InvalidArgumentError` with these messages:
"Shape of tensor images [2,8,8,3] is not compatible with expected shape [?,8,8,1]" (same for
`latents`, `num_samples`, `temperature`), "images contain NaN or Inf", for image
flows "pixels must be in [0, K)" (K = pixel levels), "latents contain NaN or Inf",
"num_samples must be >= 0", "temperature must be >= 0" (and finite; T = 0 decodes z = 0).
The shape check matters:
a signature call does not check shapes against its `TensorSpec`; without it a wrong shape
fails deep inside the flow ("Incompatible shapes: [2,16,16,1] vs. [8,8,1]" at a coupling's
mask) or, for a vector flow fed [N, 1] instead of [N, 2], broadcasts and returns numbers.

What a caller sees for a wrong dtype or shape before those checks run, since TensorFlow
itself rejects it:

* `loaded.log_prob(x)` (the restored `tf.function`): `TypeError: Binding inputs to tf.function
  failed due to 'Can not cast TensorSpec(shape=(2, 8, 8, 3), dtype=tf.float32, ...) to
  TensorSpec(shape=(None, 8, 8, 1), dtype=tf.float32, name='images')'`, followed by a print
  of the whole input tensor. Both the wrong shape and the wrong dtype (e.g. int32 or float64
  tensors) end up here; NumPy arrays are converted to the signature's dtype first.
* `loaded.signatures["log_prob"](images=x)` (the concrete signature function): a wrong dtype
  gives `InvalidArgumentError: cannot compute __inference_signature_wrapper_log_prob_...
  as input #0(zero-based) was expected to be a float tensor but is a int32 tensor`; a wrong
  shape is not checked by TensorFlow and reaches the shape check above.

`export_saved_model` is atomic and non-destructive: it writes a hidden temporary sibling of
`export_dir`, then swaps it in with two renames, so a failed export leaves the previous one
untouched. Readers may briefly (between the renames) find no directory at `export_dir`, and a
process killed mid-export can leave a `.<name>.tmp-*` sibling behind. Concurrent exports to
the same path are not supported (the later swap fails cleanly, or the last one wins).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "METADATA_FILENAME",
    "check_export_dir",
    "export_saved_model",
    "exported_condition_dims",
    "exported_model",
    "load_exported",
    "model_name",
]

METADATA_FILENAME = "tfp_realnvp.json"
_FORMAT_VERSION = 3  # 2: the `model` name; 3: `condition_dims`


# ---------------------------------------------------------------------------- in-graph checks
def _check_event_batch(x: tf.Tensor, event_shape: tuple[int, ...], what: str) -> tf.Tensor:
    """Check at run time that `x` is [N, *event_shape] (`EnsureShape`; the message names `what`).

    A signature's placeholder does not check the shape it is fed, and assertions built from
    `tf.shape` / `tf.rank` get constant-folded from the static shape, so this kernel-side check
    is the one that holds."""
    return tf.ensure_shape(x, [None, *event_shape], name=what)


def _check_images(images: tf.Tensor, event_shape: tuple[int, ...], pixel_levels: int) -> tf.Tensor:
    """Shape, then finiteness, then (image flows) the pixel range, in that order."""
    images = _check_event_batch(images, event_shape, "images")
    images = tf.debugging.check_numerics(images, "images contain NaN or Inf")
    if pixel_levels:
        message = f"pixels must be in [0, {pixel_levels})"
        checks = [
            tf.debugging.assert_greater_equal(images, tf.zeros([], images.dtype), message=message),
            tf.debugging.assert_less(images, tf.constant(pixel_levels, images.dtype), message=message),
        ]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
    return images


def _check_latents(latents: tf.Tensor, event_shape: tuple[int, ...]) -> tf.Tensor:
    latents = _check_event_batch(latents, event_shape, "latents")
    return tf.debugging.check_numerics(latents, "latents contain NaN or Inf")


def _check_sample_args(num_samples: tf.Tensor, temperature: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    num_samples = tf.ensure_shape(num_samples, [], name="num_samples")
    temperature = tf.ensure_shape(temperature, [], name="temperature")
    checks = [
        tf.debugging.assert_non_negative(num_samples, message="num_samples must be >= 0"),
        tf.debugging.assert_non_negative(temperature, message="temperature must be >= 0"),
        tf.debugging.Assert(tf.math.is_finite(temperature), ["temperature must be >= 0 and finite, got", temperature]),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(num_samples), tf.identity(temperature)


def _check_condition(condition: tf.Tensor | None, condition_dims: int, rows: tf.Tensor) -> tf.Tensor | None:
    """A conditional signature's `condition`: [1 or `rows`, K], finite; broadcast to [rows, K]."""
    if condition is None:
        return None
    condition = tf.ensure_shape(condition, [None, condition_dims], name="condition")
    condition = tf.debugging.check_numerics(condition, "condition contains NaN or Inf")
    n = tf.shape(condition)[0]
    check = tf.debugging.Assert(
        tf.logical_or(tf.equal(n, 1), tf.equal(n, rows)), ["condition must have 1 row or one per input, got", n]
    )
    with tf.control_dependencies([check]):
        return tf.broadcast_to(condition, tf.stack([rows, condition_dims]))


# ---------------------------------------------------------------------------- served module
class _ServedFlow(tf.Module):
    """What gets saved: the flow's variables, metadata variables and the signature functions.

    The flow object itself is only captured by the functions' closures, never tracked, so the
    SavedModel holds plain TF objects and loads without `tfp_realnvp` or TFP installed.
    """

    def __init__(self, flow: Any, event_shape: tuple[int, ...], pixel_levels: int, num_dims: int, model: str):
        super().__init__(name="realnvp_export")
        dtype = tf.as_dtype(flow.dtype)
        condition_dims = int(getattr(flow, "condition_dims", 0) or 0)
        self._variables = list(flow.variables)
        self.event_shape = tf.Variable(list(event_shape), dtype=tf.int32, trainable=False, name="event_shape")
        self.pixel_levels = tf.Variable(pixel_levels, dtype=tf.int32, trainable=False, name="pixel_levels")
        self.model = tf.Variable(model, dtype=tf.string, trainable=False, name="model")
        self.condition_dims = tf.Variable(condition_dims, dtype=tf.int32, trainable=False, name="condition_dims")
        batch = tf.TensorShape([None, *event_shape])
        images_spec = tf.TensorSpec(batch, dtype, name="images")
        latents_spec = tf.TensorSpec(batch, dtype, name="latents")
        # Conditional flows: every signature but `metadata` takes the condition last.
        condition_specs = [tf.TensorSpec([None, condition_dims], dtype, name="condition")] if condition_dims else []
        ln2_dims = num_dims * math.log(2.0)

        def given(condition, rows):
            condition = _check_condition(condition, condition_dims, rows)
            return {} if condition is None else {"condition": condition}

        def log_prob(images, condition=None):
            images = _check_images(images, event_shape, pixel_levels)
            kw = given(condition, tf.shape(images)[0])
            return {"log_prob": tf.ensure_shape(flow.log_prob(images, **kw), [None])}

        def bits_per_dim(images, *condition):  # the traced log_prob (it checks the inputs) instead of a retrace
            return {"bits_per_dim": -self.log_prob(images, *condition)["log_prob"] / ln2_dims}

        def encode(images, condition=None):
            images = _check_images(images, event_shape, pixel_levels)
            kw = given(condition, tf.shape(images)[0])
            return {"latents": tf.ensure_shape(flow.encode(images, **kw), batch)}

        def decode(latents, condition=None):
            latents = _check_latents(latents, event_shape)
            kw = given(condition, tf.shape(latents)[0])
            return {"images": tf.ensure_shape(flow.decode(latents, **kw), batch)}

        def log_prob_parts(images, condition=None):
            images = _check_images(images, event_shape, pixel_levels)
            parts = flow.log_prob_parts(images, **given(condition, tf.shape(images)[0]))
            return {_key(name): tf.ensure_shape(t, [None]) for name, t in parts.items()}

        def latents_by_scale(images, *condition):
            z = self.encode(images, *condition)["latents"]
            parts = flow.split_latents(z)
            return {f"scale{i}": tf.reshape(part, [tf.shape(part)[0], -1]) for i, part in enumerate(parts)}

        chunked_sample = getattr(flow, "_sample_in_chunks", None)

        def sample(num_samples, temperature, condition=None):
            num_samples, temperature = _check_sample_args(num_samples, temperature)
            kw = given(condition, num_samples)
            if chunked_sample is None:
                samples = flow.sample(num_samples, temperature=temperature, **kw)
            else:  # in cache-sized chunks, as `draw_samples`
                seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
                samples = chunked_sample(num_samples, temperature, seed, *kw.values())
            return {"samples": tf.ensure_shape(samples, batch)}

        def metadata():
            return {
                "event_shape": tf.constant(event_shape, tf.int32),
                "pixel_levels": tf.constant(pixel_levels, tf.int32),
                "num_dims": tf.constant(num_dims, tf.int32),
                "model": tf.constant(model),
                "condition_dims": tf.constant(condition_dims, tf.int32),
            }

        # No autograph: the flow has no tensor-dependent Python control flow, and tracing is faster.
        def function(fn, *specs):
            return tf.function(fn, input_signature=[*specs, *condition_specs], autograph=False)

        self.log_prob = function(log_prob, images_spec)
        self.bits_per_dim = function(bits_per_dim, images_spec)
        self.encode = function(encode, images_spec)
        self.decode = function(decode, latents_spec)
        self.log_prob_parts = function(log_prob_parts, images_spec)
        self.latents_by_scale = function(latents_by_scale, images_spec)
        self.sample = function(
            sample, tf.TensorSpec([], tf.int32, name="num_samples"), tf.TensorSpec([], dtype, name="temperature")
        )
        self.metadata = tf.function(metadata, input_signature=[], autograph=False)

    def signatures(self) -> dict[str, Any]:
        return {
            "serving_default": self.log_prob,
            "log_prob": self.log_prob,
            "bits_per_dim": self.bits_per_dim,
            "sample": self.sample,
            "encode": self.encode,
            "decode": self.decode,
            "log_prob_parts": self.log_prob_parts,
            "latents_by_scale": self.latents_by_scale,
        }


def _key(name: str) -> str:
    """A layer name as a signature output key (letters, digits and underscores)."""
    return re.sub(r"\W", "_", name)


def model_name(flow: Any) -> str:
    """The flow's name in `tfp_realnvp.models.MODELS`, else its class name."""
    from tfp_realnvp.models import MODELS

    return next((name for name, cls in MODELS.items() if type(flow) is cls), type(flow).__name__)


def _flow_metadata(flow: Any) -> tuple[tuple[int, ...], int, int, tf.DType]:
    """(event_shape, pixel_levels (0 without), num_dims, dtype) of a RealNVP-like flow."""
    for method in ("log_prob", "encode", "decode", "sample", "variables"):
        if not hasattr(flow, method):
            raise TypeError(f"`flow` must be a RealNVP-like distribution with `{method}`, got {type(flow).__name__}")
    event = tf.TensorShape(flow.event_shape)
    if not event.is_fully_defined():
        raise ValueError(f"`flow` must have a fully defined event shape, got {event}")
    event_shape = tuple(int(d) for d in event)
    dtype = tf.as_dtype(flow.dtype)
    if dtype not in (tf.float32, tf.float64):
        raise ValueError(f"`flow` must be float32 or float64, got {dtype.name}")
    pixel_levels = int(getattr(flow, "pixel_levels", None) or 0)
    num_dims = int(np.prod(event_shape))
    return event_shape, pixel_levels, num_dims, dtype


def _looks_like_export(path: str) -> bool:
    names = set(os.listdir(path))
    return not names or bool(names & {"saved_model.pb", "saved_model.pbtxt", METADATA_FILENAME})


def _remove(path: str) -> None:
    """Best-effort removal of a temporary or replaced export; never raises (it runs in cleanup)."""
    try:
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass


# ---------------------------------------------------------------------------- public API
def check_export_dir(export_dir: str | os.PathLike, *, overwrite: bool = True) -> str:
    """The absolute path of `export_dir` if `export_saved_model` may write there (see its Raises);
    lets a caller refuse a destination before spending time on training."""
    if not isinstance(export_dir, (str, os.PathLike)) or not os.fspath(export_dir):
        raise ValueError(f"`export_dir` must be a non-empty path, got {export_dir!r}")
    export_dir = os.path.abspath(os.fspath(export_dir))
    if not os.path.split(export_dir)[1]:
        raise ValueError(f"`export_dir` must name a directory below a parent, got {export_dir!r}")
    if os.path.lexists(export_dir):
        if not os.path.isdir(export_dir):
            raise FileExistsError(f"`export_dir` {export_dir!r} exists and is not a directory")
        if os.listdir(export_dir) and not overwrite:
            raise FileExistsError(
                f"`export_dir` {export_dir!r} exists and is not empty; pass overwrite=True to replace it"
            )
        if not _looks_like_export(export_dir):
            raise FileExistsError(
                f"`export_dir` {export_dir!r} is not empty and holds no SavedModel; refusing to replace it"
            )
    return export_dir


def export_saved_model(flow: Any, export_dir: str | os.PathLike, *, overwrite: bool = True) -> str:
    """Write `flow` as a SavedModel with `log_prob`, `bits_per_dim`, `sample`, `encode` and `decode` signatures.

    Args:
      flow: a `tfp_realnvp.models.RealNVP` (or any distribution with its API: `log_prob`,
        `encode`, `decode`, `sample(n, temperature=)`, `variables`, a fully defined
        `event_shape`, float32/float64 `dtype`, optional `pixel_levels`).
      export_dir: the directory to create or replace.
      overwrite: replace an existing export at `export_dir`. An existing directory is only
        replaced when it is empty or holds a SavedModel / `tfp_realnvp.json`, so a mistyped
        path never deletes unrelated files.

    Returns:
      The absolute path of the export directory.

    Raises:
      FileExistsError: `export_dir` is a non-empty directory and `overwrite=False`, it holds
        something other than an export, or it is a file.
      TypeError, ValueError: `flow` lacks the API or has an unsupported event shape/dtype.
      Anything `tf.saved_model.save` raises; the previous export is then left intact.
    """
    event_shape, pixel_levels, num_dims, dtype = _flow_metadata(flow)
    export_dir = check_export_dir(export_dir, overwrite=overwrite)
    parent, base = os.path.split(export_dir)
    os.makedirs(parent, exist_ok=True)

    token = uuid.uuid4().hex[:12]
    tmp_dir = os.path.join(parent, f".{base}.tmp-{token}")
    old_dir = os.path.join(parent, f".{base}.old-{token}")
    moved_aside = False
    try:
        module = _ServedFlow(flow, event_shape, pixel_levels, num_dims, model_name(flow))
        tf.saved_model.save(module, tmp_dir, signatures=module.signatures())
        info = {
            "format": "tfp_realnvp.export",
            "format_version": _FORMAT_VERSION,
            "model": model_name(flow),
            "prior": getattr(flow, "prior", "normal"),
            "condition_dims": int(getattr(flow, "condition_dims", 0) or 0),
            "event_shape": list(event_shape),
            "pixel_levels": pixel_levels,
            "num_dims": num_dims,
            "dtype": dtype.name,
            "num_params": int(sum(int(np.prod(v.shape)) for v in flow.trainable_variables)),
            "num_params_total": int(sum(int(np.prod(v.shape)) for v in flow.variables)),
            "signatures": sorted(module.signatures()),
        }
        with open(os.path.join(tmp_dir, METADATA_FILENAME), "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2)
        if not os.path.isfile(os.path.join(tmp_dir, "saved_model.pb")):
            raise RuntimeError(f"tf.saved_model.save wrote no saved_model.pb to {tmp_dir!r}")
        if os.path.lexists(export_dir):
            os.rename(export_dir, old_dir)
            moved_aside = True
        try:
            os.rename(tmp_dir, export_dir)
        except BaseException:
            if moved_aside:
                os.rename(old_dir, export_dir)
                moved_aside = False
            raise
    except BaseException:
        _remove(tmp_dir)
        raise
    if moved_aside:
        _remove(old_dir)
    return export_dir


def exported_condition_dims(loaded: Any) -> int:
    """K of a conditional export (its signatures take `condition` [N, K]); 0 for unconditional ones."""
    dims = getattr(loaded, "condition_dims", None)
    return int(dims.numpy()) if dims is not None else 0


def exported_model(loaded: Any) -> str:
    """The model name a loaded export holds ("realnvp" for exports written before the name was kept)."""
    model = getattr(loaded, "model", None)
    return model.numpy().decode() if model is not None else "realnvp"


def load_exported(export_dir: str | os.PathLike) -> Any:
    """Load an export of `export_saved_model` with `tf.saved_model.load` (TFP not needed).

    Args:
      export_dir: the export directory.

    Returns:
      The restored object: `.signatures[...]`, the functions `.log_prob`, `.bits_per_dim`,
      `.sample`, `.encode`, `.decode`, `.metadata` and the variables `.event_shape`,
      `.pixel_levels`. Keep a reference to it while using its functions:
      `load_exported(d).log_prob(x)` fails ("Called a function referencing variables which
      have been deleted") because the restored functions hold the variables weakly.

    Raises:
      FileNotFoundError: `export_dir` is missing or holds no `saved_model.pb`.
    """
    export_dir = os.path.abspath(os.fspath(export_dir))
    if not os.path.isdir(export_dir):
        raise FileNotFoundError(f"no export directory at {export_dir!r}")
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise FileNotFoundError(f"{export_dir!r} holds no saved_model.pb; is it an export of export_saved_model?")
    return tf.saved_model.load(export_dir)
