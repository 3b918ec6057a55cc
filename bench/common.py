"""Shared helpers for the benchmarks: the peers' harness, subprocess runs, result files."""

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
MNIST_DIR = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "mnist"))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)
sys.path.insert(0, PEERS)


def machine():
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_result(record, name):
    os.makedirs(RESULTS, exist_ok=True)
    record.setdefault("machine", machine())
    record["written_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path = os.path.join(RESULTS, name)
    with open(path, "w") as f:
        json.dump(record, f, indent=1, default=float)
    print("wrote", path, flush=True)
    return path


def run_peer(script, args, result_name, python=None):
    """Run one of ../shared/peers' scripts from a scratch copy (shared/ is read-only) with
    `python` (default: this interpreter; the PyTorch peers need their own venv's) and return its
    JSON record; the copy's results folder is thrown away afterwards."""
    scratch = tempfile.mkdtemp(prefix="peers-")
    try:
        copy = os.path.join(scratch, "peers")
        shutil.copytree(PEERS, copy, ignore=shutil.ignore_patterns("results", "logs"))
        os.symlink(os.path.join(PEERS, "..", "data"), os.path.join(scratch, "data"))
        proc = subprocess.run(
            [python or sys.executable, os.path.join(copy, script), *args], cwd=copy, capture_output=True, text=True
        )
        if proc.returncode:
            raise RuntimeError(f"{script} {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        with open(os.path.join(copy, "results", result_name)) as f:
            return json.load(f)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_self(script, args):
    """Run a bench script in a fresh process (clean peak-memory figure) and return its JSON."""
    out = tempfile.mktemp(suffix=".json")
    proc = subprocess.run([sys.executable, script, *args, "--json_out", out], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    with open(out) as f:
        return json.load(f)
