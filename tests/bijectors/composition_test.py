import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import check_bijector
from tfp_realnvp.bijectors import (
    AffineCoupling,
    FactorOut,
    FlowChain,
    MovingAverageBatchNorm,
    Squeeze,
    TrainingCall,
    channel_mask,
    checkerboard_mask,
)
from tfp_realnvp.networks import ResNetConditioner

tfb, tfd = tfp.bijectors, tfp.distributions


class CountingConditioner(tf.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def __call__(self, x):
        self.calls += 1
        return self.net(x)


def coupling(mask, seed, dtype=tf.float64):
    net = CountingConditioner(ResNetConditioner(mask.shape[-1], 4, 1, dtype=dtype, seed=seed))
    c = AffineCoupling(mask, net, dtype=dtype)
    for v in c.trainable_variables:
        v.assign(v + tf.random.stateless_normal(v.shape, seed=[seed, 9], stddev=0.2, dtype=dtype))
    return c


def small_flow(dtype=tf.float64):
    inner = FlowChain(
        [coupling(checkerboard_mask(2, 2, 2, 0), 3, dtype), MovingAverageBatchNorm((2, 2, 2), dtype=dtype)],
        event_ndims=3,
    )
    return FlowChain(
        [
            coupling(checkerboard_mask(4, 4, 1, 0), 1, dtype),
            MovingAverageBatchNorm((4, 4, 1), dtype=dtype),
            tfb.Invert(Squeeze()),
            coupling(channel_mask(2, 2, 4, 1), 2, dtype),
            FactorOut(inner, 2),
            Squeeze(),
        ],
        event_ndims=3,
    )


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_composite_is_exact(batch):
    flow = small_flow()
    x = tf.random.stateless_normal([*batch, 4, 4, 1], seed=[1, 2], dtype=tf.float64)
    check_bijector(flow, x, [4, 4, 1])


def test_chain_order_matches_tfb_chain():
    bijectors = [tfb.Shift(tf.constant(1.0, tf.float64)), tfb.Scale(tf.constant(3.0, tf.float64))]
    x = tf.constant([[0.5, 2.0]], tf.float64)
    np.testing.assert_allclose(FlowChain(bijectors, 1).forward(x), tfb.Chain(bijectors).forward(x))
    np.testing.assert_allclose(
        FlowChain(bijectors, 1).inverse_log_det_jacobian(x, event_ndims=1),
        tfb.Chain(bijectors).inverse_log_det_jacobian(x, event_ndims=1),
    )


def test_training_flag_reaches_nested_batch_norms():
    flow = small_flow()
    norms = [flow.bijectors[1], flow.bijectors[4].inner.bijectors[1]]
    x = tf.random.stateless_normal([8, 4, 4, 1], seed=[3, 4], dtype=tf.float64) + 2.0
    flow.inverse(x)
    assert all(np.allclose(bn.running_mean, 0.0) for bn in norms)
    flow.inverse(x, training=True)
    assert not any(np.allclose(bn.running_mean, 0.0) for bn in norms)


def test_one_conditioner_evaluation_per_coupling_for_log_prob_and_gradient():
    flow = small_flow(tf.float32)
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 1]), flow)
    nets = [b.conditioner for b in (flow.bijectors[0], flow.bijectors[3], flow.bijectors[4].inner.bijectors[0])]
    x = tf.random.stateless_normal([5, 4, 4, 1], seed=[5, 6])

    @tf.function
    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(x, bijector_kwargs={"training": True}))
        return tape.gradient(loss, dist.trainable_variables)

    loss_and_grads.get_concrete_function(x)  # one trace: count the calls it made
    assert [n.calls for n in nets] == [1, 1, 1]
    for n in nets:
        n.calls = 0
    with tf.GradientTape() as tape:  # eagerly too
        loss = -tf.reduce_mean(dist.log_prob(x))
    tape.gradient(loss, dist.trainable_variables)
    assert [n.calls for n in nets] == [1, 1, 1]


class SeedRecorder(tf.Module):
    """A conditioner that takes the dropout seed: records what it gets."""

    def __init__(self, channels):
        super().__init__()
        self.channels, self.seeds = channels, []

    def __call__(self, x, training=False, seed=None):
        self.seeds.append(None if seed is None else tuple(seed.numpy()))
        return tf.zeros([*x.shape[:-1], 2 * self.channels], x.dtype)


def test_a_seeded_training_call_gives_every_conditioner_its_own_stream():
    nets = [SeedRecorder(1), SeedRecorder(2), SeedRecorder(2)]
    inner = FlowChain(
        [AffineCoupling(channel_mask(2, 2, 2, 0), nets[1]), AffineCoupling(channel_mask(2, 2, 2, 1), nets[2])],
        event_ndims=3,
    )
    flow = FlowChain(
        [
            AffineCoupling(checkerboard_mask(4, 4, 1, 0), nets[0]),
            tfb.Invert(Squeeze()),
            FactorOut(inner, 2),
            Squeeze(),
        ],
        event_ndims=3,
    )
    x = tf.random.stateless_normal([3, 4, 4, 1], seed=[1, 2])
    flow.inverse(x, training=TrainingCall(seed=[7, 8]))
    flow.inverse(tf.identity(x), training=TrainingCall(seed=[7, 8]))  # the same seed again
    flow.inverse(tf.identity(x), training=TrainingCall(seed=[7, 9]))
    flow.inverse(tf.identity(x), training=TrainingCall())  # unseeded: the global generator
    first, again, other, unseeded = zip(*(n.seeds for n in nets))
    assert len(set(first)) == 3  # nested members included
    assert again == first
    assert not set(other) & set(first)
    assert unseeded == (None, None, None)


def test_trainable_variables_are_all_found():
    flow = small_flow(tf.float32)
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 1]), flow)
    # 3 couplings x (1 scale + resnet: in-conv 3, 1 block 2x3, out-conv 2) + 2 batch norms x 2
    assert len(dist.trainable_variables) == 3 * (1 + 3 + 6 + 2) + 2 * 2
    assert len({id(v) for v in dist.trainable_variables}) == len(dist.trainable_variables)
