"""--strategy=multi_worker: two worker processes on localhost reach the parameters of `mirrored`."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfp_realnvp import RealNVP, data
from tfp_realnvp.training import TrainConfig, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, BATCH = 3, 16

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
    return RealNVP(event_shape=(8, 8, 1), pixel_levels=17, hidden_channels=8, num_blocks=1, seed=5)


def dataset():
    return data.image_dataset(data.load_digits().train[:256], 17, BATCH, training=True, seed=1)


def config():
    return TrainConfig(steps=STEPS, batch_size=BATCH, learning_rate=2e-3, log_every=1)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_localhost_workers_match_mirrored_on_two_devices(tmp_path, mirrored):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
        )
        env["CUDA_VISIBLE_DEVICES"] = ""
        out = tmp_path / f"worker{index}.npz"
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(out)],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                ),
                out,
            )
        )
    for proc, _ in procs:
        log, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log.decode()[-3000:]

    strategy = mirrored
    mirrored = Trainer(build, config(), strategy=strategy)
    mirrored.fit(dataset(), verbose=False)
    expected = [v.numpy() for v in mirrored.flow.variables]
    for _, out in procs:
        got = np.load(out)
        got = [got[f"arr_{i}"] for i in range(len(got.files))]
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
