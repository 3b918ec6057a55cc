"""bench/bench_gpu.py, the script a lent GPU runs, also runs on the CPU (slowly): checked here."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "..", "shared", "data", "mnist")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(MNIST), reason="needs ../shared/data/mnist")
def test_bench_gpu_runs_every_model_on_two_cpu_replicas(tmp_path):
    out = tmp_path / "gpu.json"
    args = ["--num_cpu_devices", "2", "--seconds", "1", "--batch_size", "8", "--test_points", "8", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "bench_gpu.py"), *args],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    from tfp_realnvp.models import MODELS

    assert result["replicas"] == 2 and sorted(result["models"]) == sorted(MODELS)
    for model, r in result["models"].items():
        assert r["steps"] >= 2 and r["train_images_per_s"] > 0 and r["samples_per_s"] > 0, (model, r)
        assert 0.5 < r["test_bpd"] < 20.0 and r["nonfinite_samples"] == 0, (model, r)  # a few steps: finite
    assert sum(line.split()[0] in MODELS for line in proc.stdout.splitlines()) == len(MODELS)
