import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import autodiff_log_det, train_a_few_steps
from tfp_realnvp import RealNVP, data
from tfp_realnvp.bijectors import (
    Squeeze,
    TrainingCall,
    VariationalDequantization,
    channel_mask,
    squeezed_checkerboard_mask,
)
from tfp_realnvp.models import flow as flow_module

tfd = tfp.distributions
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/data not present")


def tiny(event_shape=(8, 8, 1), **kw):
    kw = {"num_scales": 2, "hidden_channels": 4, "num_blocks": 1, **kw}
    return RealNVP(event_shape=event_shape, **kw)


def test_is_a_transformed_distribution_over_a_standard_normal_with_the_data_shape():
    flow = tiny(pixel_levels=17)
    assert isinstance(flow, tfd.TransformedDistribution)
    assert flow.event_shape == [8, 8, 1] and flow.batch_shape == []
    assert flow.distribution.event_shape == [8, 8, 1]
    assert flow.num_dims == 64


def test_architecture_follows_the_paper():
    flow = tiny(num_scales=3, event_shape=(16, 16, 1))
    names = [b.name for b in flow.bijector.bijectors]
    assert names[0] == "pixel_logit"
    couplings = [b for b in flow.bijector.bijectors if b.name.startswith("coupling")]
    assert len(couplings) == 6  # 3 checkerboard + 3 channel-wise at the first scale
    assert sum(b.name.startswith("batch_norm") for b in flow.bijector.bijectors) == 6
    widths = [c.conditioner.in_conv.b.shape[0] for c in couplings]
    assert widths == [4] * 6
    inner = flow.bijector.bijectors[-2].inner
    assert inner.bijectors[0].conditioner.in_conv.b.shape[0] == 8  # width doubles at the next scale
    no_bn = tiny(batch_norm=False)
    assert not any(b.name.startswith("batch_norm") for b in no_bn.bijector.bijectors)


@pytest.mark.parametrize(
    "shape, scales", [((8, 8, 1), 2), ((28, 28, 1), 3), ((32, 32, 3), 3), ((64, 64, 3), 4), ((2,), 1), ((6,), 1)]
)
def test_log_prob_and_sample_follow_tfp_shape_rules(shape, scales):
    flow = tiny(event_shape=shape, num_scales=scales, hidden_units=(8,), num_couplings=2)
    x = flow.sample([2, 3], seed=(1, 2))
    assert x.shape == (2, 3, *shape)
    lp = flow.log_prob(x)
    assert lp.shape == (2, 3) and np.all(np.isfinite(lp))
    assert flow.log_prob(x[0, 0]).shape == ()
    assert flow.sample(seed=(3, 4)).shape == shape


def test_image_shape_policy_is_explicit():
    with pytest.raises(ValueError, match=r"supports `num_scales` <= 3"):
        tiny(event_shape=(28, 28, 1), num_scales=4)
    with pytest.raises(ValueError, match="event_shape"):
        RealNVP(event_shape=(4, 4))


@needs_shared
def test_log_prob_is_finite_on_real_mnist_and_cifar10_at_initialization():
    mnist = data.load_local("mnist", os.path.join(SHARED, "mnist"))
    cifar = data.load_local("cifar10", os.path.join(SHARED, "cifar10"))
    for images, scales in ((mnist.test[:16], 3), (cifar.test[:16], 3)):
        flow = tiny(event_shape=images.shape[1:], num_scales=scales, pixel_levels=256)
        x = data.dequantize_draws(images, 256, 1, seed=0)
        lp = flow.log_prob(x).numpy()
        assert np.all(np.isfinite(lp)), lp
        bpd = flow.bits_per_dim(x).numpy()
        assert np.all((bpd > 0) & (bpd < 20)), bpd


@pytest.mark.parametrize(
    "squeeze_first, dequantization",
    [(True, "uniform"), (False, "variational")],  # the plain flow: conformance
)
def test_whole_flow_log_det_equals_autodiff_jacobian_after_training(squeeze_first, dequantization):
    flow = tiny(pixel_levels=17, dtype=tf.float64, squeeze_first=squeeze_first, dequantization=dequantization)
    d = data.load_digits()
    x = tf.constant(data.dequantize_draws(d.train[:32], 17, 1, seed=0), tf.float64)
    train_a_few_steps(
        flow.trainable_variables, lambda: -tf.reduce_mean(flow.log_prob(x, training=True)), steps=4, learning_rate=0.01
    )
    probe = tf.identity(x[:3])
    ildj = flow.bijector.inverse_log_det_jacobian(probe, event_ndims=3)
    np.testing.assert_allclose(ildj, autodiff_log_det(flow.bijector.inverse, probe, [8, 8, 1]), rtol=1e-5)
    z = flow.encode(probe)
    np.testing.assert_allclose(flow.decode(tf.identity(z)), probe, rtol=1e-7, atol=1e-7)
    assert float(tf.reduce_max(tf.abs(z - flow.bijector.bijectors[0].inverse(probe)))) > 1e-3  # not the identity


def test_squeeze_first_runs_the_checkerboards_on_the_squeezed_grid():
    flow = tiny(pixel_levels=17, squeeze_first=True)  # its exactness: the log-det test above
    layers = flow.bijector.bijectors
    assert isinstance(layers[1].bijector, Squeeze)  # tfb.Invert(Squeeze()): data -> latent squeezes first
    couplings = [b for b in layers if b.name.startswith("coupling")]
    masks = [squeezed_checkerboard_mask(8, 8, 1, i % 2) for i in range(3)] + [
        channel_mask(4, 4, 4, i % 2) for i in range(3)
    ]
    for coupling, mask in zip(couplings, masks, strict=True):
        np.testing.assert_array_equal(coupling.mask, mask)
    inner = layers[-2].inner.bijectors  # the last scale [4, 4, 2]: squeezed to [2, 2, 8] and back
    assert isinstance(inner[0].bijector, Squeeze) and isinstance(inner[-1], Squeeze)
    assert [b.mask.shape for b in inner if b.name.startswith("coupling")] == [(2, 2, 8)] * 4
    odd = tiny(event_shape=(28, 28, 1), num_scales=3, squeeze_first=True)  # 28 -> 14 -> 7: 7x7 stays on pixels
    coarsest = odd.bijector.bijectors[-2].inner.bijectors[-2].inner.bijectors
    assert [b.mask.shape for b in coarsest if b.name.startswith("coupling")] == [(7, 7, 4)] * 4
    assert np.all(np.isfinite(odd.log_prob(odd.sample(2, seed=(1, 2)))))
    with pytest.raises(ValueError, match="squeeze_first"):
        tiny(event_shape=(4,), squeeze_first=True)


def test_variational_dequantization_is_trained_with_the_flow_and_keeps_the_cells():
    flow = tiny(pixel_levels=17, dequantization="variational")  # its exactness: the log-det test above
    dequantizer = flow.bijector.bijectors[0]
    assert isinstance(dequantizer, VariationalDequantization)
    assert [b.name for b in flow.bijector.bijectors[1:2]] == ["pixel_logit"]
    ids = {id(v) for v in flow.trainable_variables}
    assert dequantizer.trainable_variables and all(id(v) in ids for v in dequantizer.trainable_variables)
    d = data.load_digits()
    x = tf.constant(data.dequantize_draws(d.train[:64], 17, 1, seed=0))
    before = flow.log_prob(x)
    np.testing.assert_allclose(before, tiny(pixel_levels=17).log_prob(x), rtol=1e-5)  # the identity at creation
    train_a_few_steps(flow.trainable_variables, lambda: -tf.reduce_mean(flow.log_prob(x, training=True)), steps=5)
    assert float(tf.reduce_max(tf.abs(dequantizer.inverse(x) - x))) > 1e-3
    samples = flow.sample(16, seed=(1, 2))
    np.testing.assert_array_equal(np.floor(dequantizer.inverse(tf.identity(samples))), np.floor(samples))
    checked = tiny(pixel_levels=17, dequantization="variational", validate_args=True)
    assert np.all(np.isfinite(checked.sample(16, seed=(3, 4))))  # validation checks data, not sampled values
    with pytest.raises(ValueError, match="dequantization"):
        tiny(event_shape=(4,), dequantization="variational")
    with pytest.raises(ValueError, match="'uniform' or 'variational'"):
        tiny(pixel_levels=17, dequantization="learned")


def test_log_prob_is_base_log_prob_plus_ildj():
    flow = tiny(pixel_levels=256, dtype=tf.float64)
    for v in flow.trainable_variables:
        v.assign(v + tf.random.stateless_normal(v.shape, seed=[1, 2], stddev=0.05, dtype=tf.float64))
    x = tf.random.stateless_uniform([4, 8, 8, 1], seed=[3, 4], maxval=256, dtype=tf.float64)
    z = flow.encode(x)
    expected = tfd.Normal(tf.constant(0.0, tf.float64), 1.0).log_prob(z)
    expected = tf.reduce_sum(expected, [1, 2, 3]) + flow.bijector.inverse_log_det_jacobian(x, event_ndims=3)
    np.testing.assert_allclose(flow.log_prob(x), expected, rtol=1e-10)
    np.testing.assert_allclose(flow.bits_per_dim(x), -expected / (64 * np.log(2.0)), rtol=1e-10)


def test_encode_decode_latents_and_temperature():
    flow = tiny(event_shape=(16, 16, 3), num_scales=3)
    for v in flow.trainable_variables:
        v.assign(v + tf.random.stateless_normal(v.shape, seed=[5, 6], stddev=0.02))
    x = data.dequantize_draws(np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8), 256, 1, 0)
    z = flow.encode(x)
    assert z.shape == x.shape
    parts = flow.split_latents(z)
    assert [p.shape[1:] for p in parts] == [(8, 8, 6), (4, 4, 12), (4, 4, 12)]
    assert sum(int(np.prod(p.shape[1:])) for p in parts) == 16 * 16 * 3
    np.testing.assert_allclose(flow.decode(tf.identity(z)), x, atol=2e-3)
    cold = flow.sample(200, seed=(1, 1), temperature=0.1)
    hot = flow.sample(200, seed=(1, 1), temperature=1.0)
    zc, zh = flow.encode(cold), flow.encode(hot)
    np.testing.assert_allclose(np.std(zc), 0.1 * np.std(zh), rtol=0.05)


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError, match="training="):
        tiny().log_prob(tf.zeros([1, 8, 8, 1]) + 100.0, trainng=True)


@pytest.mark.slow  # 14 s; the main job measures the same
def test_short_digits_training_beats_the_uniform_baseline():
    from tfp_realnvp.training import TrainConfig, Trainer, evaluate

    d = data.load_digits()
    cfg = TrainConfig(steps=150, batch_size=64, learning_rate=2e-3, log_every=150)
    trainer = Trainer(lambda: RealNVP(event_shape=(8, 8, 1), pixel_levels=17, hidden_channels=16), cfg)
    trainer.fit(data.image_dataset(d.train, 17, 64, training=True, seed=0), verbose=False)
    bpd = evaluate(trainer.flow, data.dequantize_draws(d.test, 17, 2, seed=1234))
    print(f"digits test bits/dim (17 levels) after 150 steps: {bpd:.3f}")
    assert bpd < 0.75 * np.log2(17), bpd  # uniform over 17 levels is 4.087


def test_draw_samples_compiles_once_for_any_count_and_temperature():
    flow = tiny(pixel_levels=17)
    shapes = [flow.draw_samples(n, temperature=t, seed=(1, 2)).shape for n, t in ((3, 1.0), (5, 0.5))]
    shapes.append(flow.draw_samples(tf.constant(7), seed=(1, 2)).shape)
    assert shapes == [(3, 8, 8, 1), (5, 8, 8, 1), (7, 8, 8, 1)]
    assert flow._draw_fn.experimental_get_tracing_count() == 1
    a = flow.draw_samples(4, seed=(3, 4))
    np.testing.assert_array_equal(a, flow.draw_samples(4, seed=(3, 4)))  # stateless seeds reproduce


def test_draw_samples_in_chunks_keeps_counts_seeds_and_one_trace():
    flow = tiny(pixel_levels=17)
    # The widest conditioner activation is the first scale's: 8 x 8 positions x 4 maps.
    assert flow.sample_chunk_size == flow_module._SAMPLE_CHUNK_FLOATS // (8 * 8 * 4)
    flow.draw_samples(3, seed=(1, 2))
    flow.sample_chunk_size = 5  # drops the function traced with the old size
    for n in (0, 1, 5, 6, 12):
        assert flow.draw_samples(n, seed=(1, 2)).shape == (n, 8, 8, 1)
    assert flow._draw_fn.experimental_get_tracing_count() == 1
    twelve = flow.draw_samples(12, seed=(1, 2)).numpy()
    np.testing.assert_array_equal(twelve, flow.draw_samples(12, seed=(1, 2)))
    np.testing.assert_array_equal(twelve[:5], flow.draw_samples(5, seed=(1, 2)))  # chunk 0 is the same draw
    assert len(np.unique(twelve.reshape(12, -1), axis=0)) == 12  # every chunk has its own seed
    assert np.isfinite(twelve).all()
    with pytest.raises(ValueError, match="num_samples"):
        flow.draw_samples(-1, seed=(1, 2))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="sample_chunk_size"):
            flow.sample_chunk_size = bad


def test_discrete_bits_per_dim_averages_uniform_dequantizations():
    flow = tiny(pixel_levels=17)
    images = data.load_digits().test[:5]
    by_hand = np.mean(
        [
            flow.bits_per_dim(images.astype(np.float32) + tf.random.stateless_uniform(images.shape, seed=[3, 4 + i]))
            for i in range(3)
        ],
        axis=0,
    )
    np.testing.assert_allclose(flow.discrete_bits_per_dim(images, draws=3, seed=(3, 4)), by_hand, rtol=1e-6)
    with pytest.raises(ValueError, match="integer pixels"):
        flow.discrete_bits_per_dim(images.astype(np.float32))
    with pytest.raises(ValueError, match=r"pixels must be in \[0, 17\), got values in \[0, 20\]"):
        flow.discrete_bits_per_dim(np.full((1, 8, 8, 1), 20, np.uint8) * np.eye(8, dtype=np.uint8)[None, :, :, None])
    with pytest.raises(ValueError, match="shape"):
        flow.discrete_bits_per_dim(np.zeros((2, 8, 8), np.uint8))


def test_each_training_call_updates_batch_norm_even_on_the_same_tensor():
    flow = tiny(pixel_levels=17)
    bn = next(b for b in flow.bijector.bijectors if b.name.startswith("batch_norm"))
    x = tf.random.stateless_uniform([8, 8, 8, 1], seed=[1, 2], maxval=17.0)
    flow.log_prob(x, training=True)
    once = bn.running_mean.numpy().copy()
    flow.log_prob(x, training=True)  # same tensor object: must not come from TFP's cache
    assert not np.allclose(bn.running_mean.numpy(), once)
    before = bn.running_mean.numpy().copy()
    flow.log_prob(x)  # inference never touches the statistics
    np.testing.assert_array_equal(bn.running_mean.numpy(), before)


def test_dropout_acts_only_while_training_and_inference_stays_exact():
    flow = tiny(pixel_levels=17, dropout=0.5, batch_norm=False)
    x = tf.random.stateless_uniform([4, 8, 8, 1], seed=[1, 2], maxval=17.0)
    train_a_few_steps(flow.trainable_variables, lambda: -tf.reduce_mean(flow.log_prob(x, training=True)), steps=3)
    np.testing.assert_array_equal(flow.log_prob(x), flow.log_prob(tf.identity(x)))  # deterministic inference
    assert not np.allclose(flow.log_prob(x, training=True), flow.log_prob(x, training=True))  # dropout masks
    z = flow.encode(x)
    np.testing.assert_allclose(flow.decode(tf.identity(z)), x, rtol=1e-4, atol=1e-3)
    seeded = flow.log_prob(x, training=True, seed=[3, 4])  # stateless masks: a function of the seed
    np.testing.assert_array_equal(flow.log_prob(tf.identity(x), training=True, seed=[3, 4]), seeded)
    assert not np.allclose(flow.log_prob(x, training=True, seed=[3, 5]), seeded)
    with pytest.raises(ValueError, match="seed.*training=True"):
        flow.log_prob(x, seed=[3, 4])
    two_calls = tf.function(lambda x, **kw: (flow.log_prob(x, **kw), flow.log_prob(x, **kw)))
    for spelling in ({"training": True}, {"bijector_kwargs": {"training": True}}):  # in one graph TFP's cache
        first, second = two_calls(x, **spelling)  # could serve the second call: each must draw its own masks
        assert not np.allclose(first, second), spelling
    first, second = tf.function(lambda x: (flow.encode(x, training=True), flow.encode(x, training=True)))(x)
    assert not np.allclose(first, second)
    with pytest.raises(ValueError, match="not both"):
        flow.log_prob(x, training=TrainingCall((1, 2)), seed=[3, 4])
    via_tfp_kwargs = flow.log_prob(tf.identity(x), bijector_kwargs={"training": True}, seed=[3, 4])
    np.testing.assert_array_equal(via_tfp_kwargs, seeded)  # the seed is not dropped on that path
    for bad in (42, [1.0, 2.0], [1, 2, 3]):
        with pytest.raises(ValueError, match="two integers"):
            flow.log_prob(x, training=True, seed=bad)
    with pytest.raises(ValueError, match="dropout"):
        tiny(dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        tiny(event_shape=(2,), dropout=0.1)
