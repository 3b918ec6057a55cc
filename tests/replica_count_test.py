"""The same run on 1, 2 or 4 replicas trains the same model, conditioner dropout included."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

from tfp_realnvp import RealNVP, data
from tfp_realnvp.training import TrainConfig, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# 1 and 4 replicas in a process of their own (the suite's conftest splits the CPU in 2); 2 here, on
# the session's strategy: strategies of different sizes in one process collide in TF's collective
# group keys.
SCRIPT = textwrap.dedent(
    f"""
    import sys
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, {ROOT!r})
    from tfp_realnvp.training import split_cpu
    split_cpu(4)
    from tests.replica_count_test import train

    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    np.savez(sys.argv[1], *train(None), *train(tf.distribute.MirroredStrategy(cpus)))
    """
)


def small_flow():
    return RealNVP(
        (8, 8, 1), pixel_levels=17, num_scales=1, hidden_channels=8, num_blocks=1, dropout=0.3, batch_norm=True, seed=5
    )


def train(strategy):
    """Six seeded steps of a small one-scale digits flow with dropout and synchronized batch norm: its
    log_prob on fixed points and its weights."""
    images = data.load_digits().train[:256]
    trainer = Trainer(
        small_flow,
        TrainConfig(steps=6, batch_size=16, learning_rate=2e-3, log_every=1, seed=7),
        strategy=strategy,
    )
    trainer.fit(data.image_dataset(images, 17, 16, training=True, seed=1), verbose=False)
    x = tf.constant(data.dequantize_draws(images[:32], 17, 1, seed=3))
    weights = np.concatenate([v.numpy().ravel() for v in trainer.flow.trainable_variables])
    return trainer.flow.log_prob(x).numpy(), weights


def test_one_two_and_four_replicas_train_the_same_model_with_dropout(tmp_path, mirrored):
    out = tmp_path / "replicas.npz"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, cwd=ROOT, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    got = np.load(out)
    runs = {1: (got["arr_0"], got["arr_1"]), 4: (got["arr_2"], got["arr_3"]), 2: train(mirrored)}
    log_prob, weights = runs[1]
    assert np.all(np.isfinite(log_prob)) and np.ptp(log_prob) > 0
    for replicas in (2, 4):
        # Float32 sums in another order (gradients, batch-norm moments) differ in the last bits only
        # (Adam's normalized steps carry that to ~3e-5 on weights whose gradient is near 0); masks
        # drawn per replica instead of per example move log_prob by ~1.5e-3 (relative) and weights by ~2e-2.
        np.testing.assert_allclose(runs[replicas][0], log_prob, rtol=2e-5, err_msg=f"{replicas} replicas")
        np.testing.assert_allclose(runs[replicas][1], weights, rtol=1e-4, atol=1e-4, err_msg=f"{replicas} replicas")
