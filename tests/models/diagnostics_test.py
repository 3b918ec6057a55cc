"""`log_prob_parts`, `latent_statistics` and Lab3's puzzle (docs/diagnostics.md).

The puzzle: a 2-D Real NVP whose latents came out far wider than N(0, 1), "fixed" by weighting the
log-det by 0.001. Its loss summed the log-det over the batch but averaged the prior term, which
weighs the log-det batch-size times too much; 0.001 is about 1 / batch size, so the weight undid
the bug. A flow's `log_prob` is per example (its log-det has the batch shape), so
`-mean(log_prob)` cannot make that mistake, and the diagnostic shows std near 1 after training.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_realnvp import RealNVP
from tfp_realnvp.data import toy2d_split

BATCH = 1000  # 0.001 = 1 / BATCH, Lab3's weight


@pytest.fixture(scope="module")
def moons():
    train, _ = toy2d_split("moons", seed=0)
    return tf.constant(train[: 20 * BATCH], tf.float32)


def _train(points, loss, steps=400):
    flow = RealNVP(event_shape=(2,), num_couplings=4, hidden_units=(32, 32), seed=0)
    opt = tf_keras.optimizers.Adam(1e-3)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            value = loss(flow, x)
        grads = tape.gradient(value, flow.trainable_variables)
        opt.apply_gradients(zip(grads, flow.trainable_variables))

    for i in range(steps):
        step(points[(i % 20) * BATCH : (i % 20 + 1) * BATCH])
    return flow


def lab3_loss(log_det_weight):
    """The report's loss: prior term averaged over the batch, log-det summed over it."""

    def loss(flow, x):
        z = flow.bijector.inverse(x)
        log_det = flow.bijector.inverse_log_det_jacobian(x, event_ndims=1)
        return -(tf.reduce_mean(flow.distribution.log_prob(z)) + log_det_weight * tf.reduce_sum(log_det))

    return loss


def ours(flow, x):
    return -tf.reduce_mean(flow.log_prob(x))


def test_parts_sum_to_log_prob_per_example_and_name_every_layer(moons):
    flow = RealNVP(event_shape=(2,), num_couplings=3, hidden_units=(8,), seed=1)
    for v in flow.trainable_variables:
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[1, 2], stddev=0.3))
    x = moons[:7]
    parts = flow.log_prob_parts(x)
    assert list(parts) == ["coupling1", "coupling2", "coupling3", "prior"]
    assert all(p.shape == [7] for p in parts.values())
    np.testing.assert_allclose(tf.add_n(list(parts.values())), flow.log_prob(x), rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        flow.log_prob_parts(tf.constant([[np.nan, 0.0]], tf.float32))


def test_lab3_puzzle_summed_log_det_widens_the_latents_and_the_diagnostic_shows_it(moons):
    test = moons[-BATCH:]
    buggy = _train(moons, lab3_loss(1.0)).latent_statistics(test)[0]
    patched = _train(moons, lab3_loss(1.0 / BATCH)).latent_statistics(test)[0]
    mine = _train(moons, ours)
    stats = mine.latent_statistics(test)[0]
    assert buggy["std"] > 3.0, buggy  # far wider than N(0, 1)
    assert 0.8 < patched["std"] < 1.25, patched  # "fixed" by the weight: 0.001 = 1 / batch
    # Near N(0, 1) after 400 steps (the gentle vector start: the mean is still ~0.15 off 0, the std ~0.97).
    assert 0.8 < stats["std"] < 1.25 and abs(stats["mean"]) < 0.25 and stats["outside_3_sigma"] < 0.01, stats
    assert mine.log_prob(test).shape == [BATCH]  # one log_prob per example: no batch sum to mis-weigh
