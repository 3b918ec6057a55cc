import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_all_gradients_nonzero, check_bijector, train_a_few_steps
from tfp_realnvp.bijectors import MovingAverageBatchNorm

tfd = tfp.distributions
EVENTS = [(4, 4, 2), (5,)]


def randomize(bn, seed=0):
    rng = np.random.default_rng(seed)
    c = bn.running_mean.shape[0]
    bn.running_mean.assign(rng.normal(0, 1, c))
    bn.running_var.assign(rng.uniform(0.5, 2.0, c))
    if bn.affine:
        bn.log_gamma.assign(rng.normal(0, 0.3, c))
        bn.beta.assign(rng.normal(0, 0.3, c))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("event", EVENTS)
def test_inference_mode_is_exact(event, affine, batch, dtype):
    bn = MovingAverageBatchNorm(event, affine=affine, dtype=dtype)
    randomize(bn)
    x = tf.random.stateless_normal([*batch, *event], seed=[1, 2], dtype=dtype)
    f64 = dtype == tf.float64
    check_bijector(bn, x, event, jacobian=f64, rtol=1e-5 if f64 else 1e-4, atol=1e-8 if f64 else 1e-4)


@pytest.mark.parametrize("event", EVENTS)
def test_training_mode_log_det_uses_blended_batch_statistics(event):
    bn = MovingAverageBatchNorm(event, momentum=0.8, dtype=tf.float64)
    randomize(bn)
    old_mean, old_var = bn.running_mean.numpy(), bn.running_var.numpy()
    y = tf.random.stateless_normal([16, *event], seed=[3, 4], dtype=tf.float64) * 3.0 + 1.0
    x = bn.inverse(y, training=True)
    ildj = bn.inverse_log_det_jacobian(y, event_ndims=len(event), training=True)
    flat = y.numpy().reshape(-1, event[-1])
    mean = 0.8 * old_mean + 0.2 * flat.mean(0)
    var = 0.8 * old_var + 0.2 * flat.var(0)
    gamma, beta = np.exp(bn.log_gamma.numpy()), bn.beta.numpy()
    np.testing.assert_allclose(x, (y.numpy() - mean) / np.sqrt(var + bn.epsilon) * gamma + beta, rtol=1e-10)
    positions = int(np.prod(event[:-1]))
    expected = positions * np.sum(np.log(gamma) - 0.5 * np.log(var + bn.epsilon))
    np.testing.assert_allclose(ildj, np.full(16, expected), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-10)  # updated once, to the blend
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-10)
    # Inference afterwards: exact inverse with the updated statistics.
    check_bijector(bn, y, event)


def test_forward_in_training_mode_is_an_error():
    bn = MovingAverageBatchNorm((3,))
    with pytest.raises(ValueError, match="running statistics"):
        bn.forward(tf.zeros([2, 3]), training=True)


def test_after_training_steps_checks_hold_and_gradients_nonzero():
    event = (4, 4, 2)
    bn = MovingAverageBatchNorm(event, dtype=tf.float64)
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), event), bn)
    data = tf.random.stateless_normal([32, *event], seed=[5, 6], dtype=tf.float64) * 2.0 + 3.0

    def loss():
        return -tf.reduce_mean(flow.log_prob(data, bijector_kwargs={"training": True}))

    variables = flow.trainable_variables
    assert {v.name.split("/")[-1] for v in variables} == {"log_gamma:0", "beta:0"}
    train_a_few_steps(variables, loss, steps=5)
    with tf.GradientTape() as tape:
        value = loss()
    assert_all_gradients_nonzero(variables, tape.gradient(value, variables))
    assert not np.allclose(bn.running_mean, 0.0)
    check_bijector(bn, data[:3], event)


def test_argument_errors():
    with pytest.raises(ValueError, match="momentum"):
        MovingAverageBatchNorm((3,), momentum=1.0)
    with pytest.raises(ValueError, match="event_shape"):
        MovingAverageBatchNorm((3, 3))
    with pytest.raises(ValueError, match="does not end in the event shape"):
        MovingAverageBatchNorm((3,)).inverse(tf.zeros([2, 4]))


def _global_batch():
    return tf.random.stateless_normal([8, 4, 4, 2], seed=[7, 8]) * 2.0 + 1.0


def _loss_and_grads(bn, x, global_batch_size):
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 2]), bn)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(dist.log_prob(x, training=True)) / global_batch_size
    return loss, tape.gradient(loss, [bn.log_gamma, bn.beta])


def test_mirrored_strategy_matches_one_device_on_the_global_batch(mirrored):
    x = _global_batch()
    single = MovingAverageBatchNorm((4, 4, 2), momentum=0.5)
    loss1, grads1 = _loss_and_grads(single, x, 8)

    strategy = mirrored
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        mirrored = MovingAverageBatchNorm((4, 4, 2), momentum=0.5)
    local = strategy.experimental_distribute_values_from_function(
        lambda ctx: x[4 * ctx.replica_id_in_sync_group : 4 * (ctx.replica_id_in_sync_group + 1)]
    )

    @tf.function
    def step(local_x):
        return strategy.run(_loss_and_grads, args=(mirrored, local_x, 8))

    loss2, grads2 = step(local)
    sum_ = tf.distribute.ReduceOp.SUM
    np.testing.assert_allclose(strategy.reduce(sum_, loss2, axis=None), loss1, rtol=1e-5)
    for g1, g2 in zip(grads1, grads2):
        np.testing.assert_allclose(strategy.reduce(sum_, g2, axis=None), g1, rtol=1e-5, atol=1e-6)
    for name in ("running_mean", "running_var"):
        for replica_value in strategy.experimental_local_results(getattr(mirrored, name)):
            np.testing.assert_allclose(replica_value, getattr(single, name), rtol=1e-5)
    # Per-replica statistics would differ: the two halves have different moments.
    halves = [tf.reduce_mean(x[:4], [0, 1, 2]), tf.reduce_mean(x[4:], [0, 1, 2])]
    assert float(tf.reduce_max(tf.abs(halves[0] - halves[1]))) > 1e-2
