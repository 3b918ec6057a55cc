"""Tests for tfp_realnvp.export: serving without TFP, input checks, atomic overwrite."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.export import METADATA_FILENAME, export_saved_model, load_exported
from tfp_realnvp.models import RealNVP

IMAGE_EVENT = (8, 8, 1)
LEVELS = 17


def _perturb(flow, seed):
    """Move every trainable variable off its (partly zero) initial value, so the flow is not trivial."""
    tf.random.set_seed(seed)
    for v in flow.trainable_variables:
        v.assign(v + tf.random.normal(v.shape, stddev=0.05, dtype=v.dtype))
    return flow


def _image_flow():
    # With the learned dequantization (the digits recipe's): the served flow includes it.
    flow = RealNVP(
        event_shape=IMAGE_EVENT,
        pixel_levels=LEVELS,
        num_scales=2,
        hidden_channels=8,
        num_blocks=1,
        dequantization="variational",
    )
    return _perturb(flow, seed=1)


def _vector_flow(seed=2, dtype=tf.float32, num_couplings=4):
    return _perturb(RealNVP(event_shape=(2,), hidden_units=(16,), num_couplings=num_couplings, dtype=dtype), seed=seed)


@pytest.fixture(scope="module")
def image_export(tmp_path_factory):
    flow = _image_flow()
    path = export_saved_model(flow, tmp_path_factory.mktemp("image") / "model")
    return flow, path


@pytest.fixture(scope="module")
def loaded_image(image_export):
    return load_exported(image_export[1])


@pytest.fixture(scope="module")
def vector_export(tmp_path_factory):
    flow = _vector_flow()
    path = export_saved_model(flow, tmp_path_factory.mktemp("vector") / "model")
    return flow, path


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(0.0, LEVELS - 1e-3, size=(n, *IMAGE_EVENT)).astype(np.float32)


def _vectors(n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32)


# Runs in a fresh interpreter where tfp_realnvp and tensorflow_probability cannot be imported.
_SERVE_SCRIPT = r"""
import json, sys
sys.modules["tfp_realnvp"] = None
sys.modules["tensorflow_probability"] = None
import numpy as np
import tensorflow as tf
for name in ("tfp_realnvp", "tensorflow_probability"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable")
out = {}
for key, path, inputs in json.loads(sys.argv[1]):
    m = tf.saved_model.load(path)
    x = tf.constant(np.load(inputs))
    sig = m.signatures
    z = sig["encode"](images=x)["latents"]
    out[key] = {
        "log_prob": sig["log_prob"](images=x)["log_prob"].numpy().tolist(),
        "serving_default": sig["serving_default"](images=x)["log_prob"].numpy().tolist(),
        "bits_per_dim": m.bits_per_dim(x)["bits_per_dim"].numpy().tolist(),
        "latents": z.numpy().tolist(),
        "round_trip": sig["decode"](latents=z)["images"].numpy().tolist(),
        "samples3": list(sig["sample"](num_samples=tf.constant(3), temperature=tf.constant(0.7))["samples"].shape),
        "samples5": list(m.sample(tf.constant(5), tf.constant(1.0))["samples"].shape),
        "samples_finite": bool(np.isfinite(m.sample(tf.constant(5), tf.constant(0.5))["samples"].numpy()).all()),
        "event_shape": m.event_shape.numpy().tolist(),
        "pixel_levels": int(m.pixel_levels.numpy()),
        "metadata": {k: v.numpy().decode() if v.dtype == tf.string else v.numpy().tolist()
                     for k, v in m.metadata().items()},
        "model": m.model.numpy().decode(),
        "signatures": sorted(sig.keys()),
        "parts_sum": tf.add_n(list(sig["log_prob_parts"](images=x).values())).numpy().tolist(),
        "scales": [int(v.shape[1]) for _, v in sorted(sig["latents_by_scale"](images=x).items())],
    }
print("RESULT" + json.dumps(out))
"""


def test_export_serves_without_tfp(image_export, vector_export, tmp_path):
    jobs = []
    expected = {}
    for key, (flow, path), x in (("image", image_export, _images()), ("vector", vector_export, _vectors())):
        np.save(tmp_path / f"{key}.npy", x)
        jobs.append((key, path, str(tmp_path / f"{key}.npy")))
        expected[key] = (flow, x)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    served = json.loads(line[len("RESULT") :])

    for key, (flow, x) in expected.items():
        got = served[key]
        np.testing.assert_allclose(got["log_prob"], flow.log_prob(x).numpy(), rtol=1e-5)
        np.testing.assert_allclose(got["serving_default"], got["log_prob"], rtol=0)
        np.testing.assert_allclose(got["bits_per_dim"], flow.bits_per_dim(x).numpy(), rtol=1e-5)
        np.testing.assert_allclose(got["latents"], flow.encode(x).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["round_trip"], x, rtol=1e-5, atol=1e-3)
        event = list(flow.event_shape)
        assert got["samples3"] == [3, *event] and got["samples5"] == [5, *event]
        assert got["samples_finite"]
        assert got["event_shape"] == event
        assert got["signatures"] == [
            "bits_per_dim",
            "decode",
            "encode",
            "latents_by_scale",
            "log_prob",
            "log_prob_parts",
            "sample",
            "serving_default",
        ]
        assert abs(got["parts_sum"][0] - got["log_prob"][0]) <= 1e-5 * abs(got["log_prob"][0])
        assert got["scales"] == [flow.num_dims] if len(event) == 1 else sum(got["scales"]) == flow.num_dims
        levels = LEVELS if key == "image" else 0
        assert got["pixel_levels"] == levels
        meta = {"event_shape": event, "pixel_levels": levels, "num_dims": flow.num_dims, "model": "realnvp"}
        meta["condition_dims"] = 0
        assert got["metadata"] == meta and got["model"] == "realnvp"


def test_metadata_json(image_export, vector_export):
    for (flow, path), levels in ((image_export, LEVELS), (vector_export, 0)):
        assert os.path.isabs(path)
        with open(os.path.join(path, METADATA_FILENAME)) as fh:
            info = json.load(fh)
        assert info["event_shape"] == list(flow.event_shape)
        assert info["pixel_levels"] == levels
        assert info["num_dims"] == flow.num_dims
        assert info["dtype"] == "float32"
        assert info["num_params"] == sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
        assert info["num_params_total"] == sum(int(np.prod(v.shape)) for v in flow.variables)


def _nan_images():
    x = _images(2)
    x[1, 3, 4, 0] = np.nan
    return x


def _set_pixel(value):
    x = _images(2)
    x[0, 0, 0, 0] = value
    return x


@pytest.mark.parametrize(
    "images, error, match",
    [
        (_nan_images(), tf.errors.InvalidArgumentError, "images contain NaN or Inf"),
        (_set_pixel(np.inf), tf.errors.InvalidArgumentError, "images contain NaN or Inf"),
        (_set_pixel(17.0), tf.errors.InvalidArgumentError, r"pixels must be in \[0, 17\)"),
        (_set_pixel(-0.5), tf.errors.InvalidArgumentError, r"pixels must be in \[0, 17\)"),
        # The restored tf.function rejects a wrong shape or dtype while binding its inputs.
        (tf.zeros([2, 8, 8, 3]), TypeError, r"Can not cast TensorSpec\(shape=\(2, 8, 8, 3\)"),
        (tf.zeros([2, 8, 8, 1], tf.int32), TypeError, r"Can not cast TensorSpec\(shape=\(2, 8, 8, 1\), dtype=tf.int32"),
    ],
)
@pytest.mark.parametrize("method", ["log_prob", "bits_per_dim", "encode"])
def test_bad_images_restored_function(loaded_image, method, images, error, match):
    with pytest.raises(error, match=match):
        getattr(loaded_image, method)(images)


@pytest.mark.parametrize(
    "images, match",
    [
        (_nan_images(), "images contain NaN or Inf"),
        (_set_pixel(17.0), r"pixels must be in \[0, 17\)"),
        (_set_pixel(-1e-3), r"pixels must be in \[0, 17\)"),
        # Signature functions do not check shapes themselves; the export's EnsureShape does.
        (
            tf.zeros([2, 8, 8, 3]),
            r"Shape of tensor images \[2,8,8,3\] is not compatible with expected shape \[\?,8,8,1\]",
        ),
        (tf.zeros([2, 16, 16, 1]), r"Shape of tensor images \[2,16,16,1\] is not compatible"),
        (tf.zeros([8, 8, 1]), r"Shape of tensor images \[8,8,1\] is not compatible"),
        (tf.zeros([2, 8, 8, 1], tf.int32), "expected to be a float tensor but is a int32 tensor"),
    ],
)
def test_bad_images_signature(loaded_image, images, match):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        loaded_image.signatures["log_prob"](images=images)


def test_vector_signature_rejects_broadcastable_shape(vector_export):
    # [N, 1] would broadcast against the [2] coupling masks and give numbers without the shape check.
    loaded = load_exported(vector_export[1])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor images \[3,1\] is not compatible"):
        loaded.signatures["log_prob"](images=tf.zeros([3, 1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="images contain NaN or Inf"):
        loaded.signatures["encode"](images=tf.constant([[0.0, np.nan]]))
    assert loaded.signatures["log_prob"](images=tf.constant([[50.0, -50.0]]))["log_prob"].shape == (1,)  # no range


def test_bad_latents_and_sample_args(loaded_image):
    sig = loaded_image.signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match="latents contain NaN or Inf"):
        sig["decode"](latents=tf.fill([1, *IMAGE_EVENT], np.nan))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor latents \[1,8,8,2\]"):
        sig["decode"](latents=tf.zeros([1, 8, 8, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples must be >= 0"):
        sig["sample"](num_samples=tf.constant(-1), temperature=tf.constant(1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor num_samples \[2\]"):
        sig["sample"](num_samples=tf.constant([2, 3]), temperature=tf.constant(1.0))
    for bad in (-1.0, np.inf, np.nan):
        with pytest.raises(tf.errors.InvalidArgumentError, match="temperature must be >= 0"):
            loaded_image.sample(tf.constant(2), tf.constant(bad, tf.float32))
    at_zero = loaded_image.sample(tf.constant(2), tf.constant(0.0))["samples"].numpy()  # T = 0: both are decode(0)
    np.testing.assert_array_equal(at_zero[0], at_zero[1])
    assert sig["sample"](num_samples=tf.constant(0), temperature=tf.constant(1.0))["samples"].shape == (0, *IMAGE_EVENT)


def _listing(path):
    return sorted(os.listdir(path))


def _snapshot(path):
    return {
        os.path.relpath(os.path.join(root, f), path): open(os.path.join(root, f), "rb").read()
        for root, _, files in os.walk(path)
        for f in files
    }


def test_failed_save_leaves_previous_export(image_export, tmp_path, monkeypatch):
    flow, path = image_export
    target = tmp_path / "model"
    shutil.copytree(path, target)  # export A (a copy of the module's export, to save an export's time)
    before = _snapshot(target)
    real_save = tf.saved_model.save

    def broken_save(obj, export_dir, **kwargs):  # writes part of the model, then fails
        os.makedirs(os.path.join(export_dir, "variables"))
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(_image_flow(), target)
    monkeypatch.setattr(tf.saved_model, "save", real_save)
    assert _listing(tmp_path) == ["model"]  # no temporary directory left behind
    assert _snapshot(target) == before
    x = _images(3, seed=5)
    loaded = load_exported(target)  # keep a reference: restored functions hold the variables weakly
    np.testing.assert_allclose(loaded.log_prob(x)["log_prob"], flow.log_prob(x), rtol=1e-5)


def test_failed_swap_restores_then_overwrite_replaces(vector_export, tmp_path, monkeypatch):
    old_flow, old_path = vector_export
    new_flow = _vector_flow(seed=7)
    x = _vectors(5, seed=3)
    target = tmp_path / "served" / "vec"
    shutil.copytree(old_path, target)  # export A
    real_rename = os.rename

    def failing_rename(src, dst):  # A is moved aside, then moving the new export in fails
        if ".tmp-" in os.path.basename(src):
            raise PermissionError("rename refused")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(PermissionError, match="rename refused"):
        export_saved_model(new_flow, target)
    monkeypatch.setattr(os, "rename", real_rename)
    assert _listing(target.parent) == ["vec"]
    loaded = load_exported(target)
    np.testing.assert_allclose(loaded.log_prob(x)["log_prob"], old_flow.log_prob(x), rtol=1e-5)

    monkeypatch.chdir(tmp_path)
    returned = export_saved_model(new_flow, os.path.join("served", "vec"))  # a relative path in, absolute out
    assert os.path.isabs(returned) and os.path.realpath(returned) == os.path.realpath(target)
    assert _listing(target.parent) == ["vec"]
    loaded = load_exported(target)
    np.testing.assert_allclose(loaded.log_prob(x)["log_prob"], new_flow.log_prob(x), rtol=1e-5)
    assert not np.allclose(new_flow.log_prob(x), old_flow.log_prob(x))


def test_refuses_to_replace(vector_export, tmp_path):
    flow, path = vector_export
    before = _snapshot(path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_saved_model(flow, path, overwrite=False)
    assert _snapshot(path) == before
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds no SavedModel"):
        export_saved_model(flow, unrelated)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        export_saved_model(flow, tmp_path / "file")
    assert (unrelated / "todo.txt").read_text() == "keep me"


def test_float64_vector_flow(tmp_path):
    flow = _vector_flow(seed=4, dtype=tf.float64, num_couplings=2)
    loaded = load_exported(export_saved_model(flow, tmp_path / "f64"))
    x = _vectors(4).astype(np.float64)
    sig = loaded.signatures
    assert sig["log_prob"].structured_input_signature[1]["images"].dtype == tf.float64
    np.testing.assert_allclose(sig["log_prob"](images=x)["log_prob"], flow.log_prob(x), rtol=1e-10)
    samples = sig["sample"](num_samples=tf.constant(4), temperature=tf.constant(1.0, tf.float64))["samples"]
    assert samples.dtype == tf.float64 and samples.shape == (4, 2)
    with open(tmp_path / "f64" / METADATA_FILENAME) as fh:
        assert json.load(fh)["dtype"] == "float64"


def test_load_exported_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no export directory"):
        load_exported(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        load_exported(tmp_path / "empty")
