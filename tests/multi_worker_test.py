"""--strategy=multi_worker: two worker processes on localhost reach the parameters of `mirrored`
(conditioner dropout included: its masks follow each example's position in the global batch)."""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np

from tfp_realnvp import RealNVP, data
from tfp_realnvp.training import TrainConfig, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, BATCH = 3, 16
_BIND_FAILURE = re.compile(r"address already in use|failed to add port|could not bind|bind to", re.I)

WORKER = textwrap.dedent(
    f"""
    import sys
    import numpy as np
    sys.path.insert(0, {ROOT!r})
    from tests.multi_worker_test import build, dataset, config
    from tfp_realnvp.training import Trainer, make_strategy

    trainer = Trainer(build, config(), strategy=make_strategy("multi_worker"))
    trainer.fit(dataset(), verbose=False)
    np.savez(sys.argv[1], *[v.numpy() for v in trainer.flow.variables])
    """
)


def build():
    return RealNVP(event_shape=(8, 8, 1), pixel_levels=17, hidden_channels=8, num_blocks=1, dropout=0.2, seed=5)


def dataset():
    return data.image_dataset(data.load_digits().train[:256], 17, BATCH, training=True, seed=1)


def config():
    return TrainConfig(steps=STEPS, batch_size=BATCH, learning_rate=2e-3, log_every=1)


def free_ports(n, rng):
    """`n` ports that bind now, drawn below the kernel's ephemeral range: a port picked from that
    range can be taken, before its worker binds it, by an outgoing connection of the other worker
    (they connect to each other while starting)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except OSError:  # not Linux: IANA's dynamic range starts at 49152
        ephemeral_low = 49152
    ports = []
    while len(ports) < n:
        port = int(rng.integers(10000, ephemeral_low))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def run_workers(tmp_path, rng):
    """Start both workers and wait for both; a worker that fails ends the other at once (it would
    otherwise wait for its peer until the collective time-out). Returns (ok, logs)."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2, rng)]
    procs = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
            CUDA_VISIBLE_DEVICES="",
        )
        log = open(tmp_path / f"worker{index}.log", "w+b")  # a file, not a pipe: a full pipe blocks the worker
        cmd = [sys.executable, "-c", WORKER, str(tmp_path / f"worker{index}.npz")]
        procs.append((subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))
    deadline = time.monotonic() + 300
    while any(p.poll() is None for p, _ in procs) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p, _ in procs):
            break
        time.sleep(0.2)
    for p, _ in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    logs = []
    for _, log in procs:
        log.seek(0)
        logs.append(log.read().decode(errors="replace"))
        log.close()
    return all(p.returncode == 0 for p, _ in procs), logs


def test_two_localhost_workers_match_mirrored_on_two_devices(tmp_path, mirrored):
    rng = np.random.default_rng()
    for _attempt in range(3):  # only a port lost to another process is retried
        ok, logs = run_workers(tmp_path, rng)
        if ok or not any(_BIND_FAILURE.search(log) for log in logs):
            break
    assert ok, "\n---\n".join(log[-3000:] for log in logs)

    strategy = mirrored
    mirrored = Trainer(build, config(), strategy=strategy)
    mirrored.fit(dataset(), verbose=False)
    expected = [v.numpy() for v in mirrored.flow.variables]
    for index in range(2):
        got = np.load(tmp_path / f"worker{index}.npz")
        got = [got[f"arr_{i}"] for i in range(len(got.files))]
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
