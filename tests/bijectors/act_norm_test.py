import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_all_gradients_nonzero, check_bijector, train_a_few_steps
from tfp_realnvp.bijectors import ActNorm, TrainingCall

tfd = tfp.distributions
EVENTS = [(4, 4, 2), (5,)]


def data(event, n=16, seed=0, dtype=tf.float64):
    """Channels with different means and spreads, so the init has something to undo."""
    channels = event[-1]
    loc = tf.constant(np.linspace(-2.0, 3.0, channels), dtype)
    scale = tf.constant(np.linspace(0.5, 4.0, channels), dtype)
    return tf.random.stateless_normal([n, *event], seed=[seed, 1], dtype=dtype) * scale + loc


def per_channel(t, fn):
    return fn(np.asarray(t).reshape(-1, np.shape(t)[-1]), axis=0)


def perturb(norm, seed=1):
    rng = np.random.default_rng(seed)
    for v in norm.trainable_variables:
        v.assign(v + tf.constant(rng.normal(0, 0.3, v.shape), v.dtype))


@pytest.mark.parametrize("shift", [True, False])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
@pytest.mark.parametrize("event", EVENTS)
def test_exact_inverse_and_log_det_after_init_and_perturbation(event, batch, shift):
    norm = ActNorm(event, shift=shift, dtype=tf.float64)
    norm.inverse(data(event), training=True)
    assert bool(norm.initialized)
    x = tf.random.stateless_normal([*batch, *event], seed=[1, 2], dtype=tf.float64)
    check_bijector(norm, x, event, atol=1e-8)
    perturb(norm)
    check_bijector(norm, x, event, atol=1e-8)


@pytest.mark.parametrize("event", EVENTS)
def test_first_training_call_initialises_to_zero_mean_unit_variance(event):
    norm = ActNorm(event, dtype=tf.float64)
    assert not bool(norm.initialized)
    y = data(event)
    x = norm.inverse(y, training=True)
    ildj = norm.inverse_log_det_jacobian(y, event_ndims=len(event), training=True)
    assert bool(norm.initialized)
    np.testing.assert_allclose(per_channel(x, np.mean), 0.0, atol=1e-10)
    np.testing.assert_allclose(per_channel(x, np.std), 1.0, rtol=1e-5)  # var / (var + eps)
    var = per_channel(y, np.var)
    np.testing.assert_allclose(norm.log_scale, -0.5 * np.log(var + norm.epsilon), rtol=1e-12)
    np.testing.assert_allclose(norm.bias, -per_channel(y, np.mean) * np.exp(norm.log_scale), rtol=1e-12)
    positions = int(np.prod(event[:-1]))
    np.testing.assert_allclose(ildj, np.full(16, positions * np.sum(norm.log_scale)), rtol=1e-12)


def test_without_shift_init_sets_the_scale_only():
    norm = ActNorm((3,), shift=False, dtype=tf.float64)
    x = norm.inverse(data((3,)), training=True)
    assert norm.bias is None and len(norm.trainable_variables) == 1
    np.testing.assert_allclose(per_channel(x, np.std), 1.0, rtol=1e-5)
    assert np.all(np.abs(per_channel(x, np.mean)) > 0.1)


def test_later_training_calls_never_reinitialise():
    norm = ActNorm((4, 4, 2), dtype=tf.float64)
    norm.inverse(data((4, 4, 2)), training=TrainingCall())  # a TrainingCall is a training call too
    first = [v.numpy() for v in norm.trainable_variables]
    x = norm.inverse(data((4, 4, 2), seed=5) * 3.0 + 1.0, training=TrainingCall())
    for v, value in zip(norm.trainable_variables, first):
        np.testing.assert_array_equal(v, value)
    assert abs(float(tf.math.reduce_std(x)) - 1.0) > 0.5  # not normalized again


@pytest.mark.parametrize("training", [False, None])
def test_inference_call_before_init_is_the_identity_and_does_not_init(training):
    norm = ActNorm((4, 4, 2))
    y = data((4, 4, 2), dtype=tf.float32)
    np.testing.assert_array_equal(norm.inverse(y, training=training), y)
    np.testing.assert_array_equal(norm.forward(y, training=True), y)  # forward never initialises
    assert not bool(norm.initialized)
    np.testing.assert_array_equal(norm.inverse_log_det_jacobian(y, event_ndims=3), 0.0)


def test_empty_training_batch_does_not_init():
    norm = ActNorm((3,))
    f = tf.function(lambda y: norm.inverse(y, training=True), input_signature=[tf.TensorSpec([None, 3])])
    assert f(tf.zeros([0, 3])).shape == (0, 3)
    assert not bool(norm.initialized)
    np.testing.assert_array_equal(norm.log_scale, 0.0)
    f(data((3,), dtype=tf.float32))  # the same trace initialises on a real batch
    assert bool(norm.initialized)


def test_without_data_init_starts_as_identity_and_is_only_learned():
    norm = ActNorm((3,), data_init=False, dtype=tf.float64)
    assert bool(norm.initialized)
    y = data((3,))
    np.testing.assert_array_equal(norm.inverse(y, training=True), y)
    np.testing.assert_array_equal(norm.log_scale, 0.0)


def test_checkpoint_keeps_initialized_and_values(tmp_path):
    norm = ActNorm((4, 4, 2))
    norm.inverse(data((4, 4, 2), dtype=tf.float32), training=True)
    path = tf.train.Checkpoint(norm=norm).write(str(tmp_path / "ckpt"))
    restored = ActNorm((4, 4, 2))
    assert not bool(restored.initialized)
    tf.train.Checkpoint(norm=restored).read(path).assert_consumed()
    assert bool(restored.initialized)
    y = data((4, 4, 2), seed=3, dtype=tf.float32) * 2.0
    restored.inverse(y, training=True)  # a resumed run does not re-initialise
    for a, b in zip(restored.trainable_variables, norm.trainable_variables):
        np.testing.assert_array_equal(a, b)


def test_xla_init_equals_eager_init():
    y = data((4, 4, 2), dtype=tf.float32)
    eager, compiled = ActNorm((4, 4, 2)), ActNorm((4, 4, 2))
    x_eager = eager.inverse(y, training=True)
    x_xla = tf.function(lambda t: compiled.inverse(t, training=True), jit_compile=True)(y)
    assert bool(compiled.initialized)
    np.testing.assert_allclose(x_xla, x_eager, atol=1e-5)
    for a, b in zip(compiled.trainable_variables, eager.trainable_variables):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_gradients_reach_log_scale_and_bias():
    event = (4, 4, 2)
    norm = ActNorm(event, dtype=tf.float64)
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), event), norm)
    y = data(event)

    def loss():
        return -tf.reduce_mean(flow.log_prob(y, bijector_kwargs={"training": TrainingCall()}))

    variables = flow.trainable_variables
    assert {v.name.split("/")[-1] for v in variables} == {"log_scale:0", "bias:0"}
    grads = train_a_few_steps(variables, loss, steps=3)
    assert_all_gradients_nonzero(variables, grads)


def test_argument_errors():
    with pytest.raises(ValueError, match="event_shape"):
        ActNorm((3, 3))
    with pytest.raises(TypeError, match="data_init"):
        ActNorm((3,), data_init=1)
    with pytest.raises(ValueError, match="epsilon"):
        ActNorm((3,), epsilon=0.0)
    with pytest.raises(ValueError, match="does not end in the event shape"):
        ActNorm((3,)).inverse(tf.zeros([2, 4]))
    with pytest.raises(TypeError, match="training"):
        ActNorm((3,)).inverse(tf.zeros([2, 3]), training="yes")


def _replica_shares(strategy, x, sizes):
    starts = np.cumsum([0, *sizes])
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: x[starts[ctx.replica_id_in_sync_group] : starts[ctx.replica_id_in_sync_group + 1]]
    )


@pytest.mark.parametrize("sizes", [(4, 4), (5, 3)])
def test_mirrored_init_is_that_of_the_global_batch_on_every_replica(mirrored, sizes):
    event = (4, 4, 2)
    x = data(event, n=8, dtype=tf.float32)
    single = ActNorm(event)
    single.inverse(x, training=True)
    strategy = mirrored
    with strategy.scope():
        norm = ActNorm(event)
    out = tf.function(lambda t: strategy.run(lambda y: norm.inverse(y, training=True), args=(t,)))(
        _replica_shares(strategy, x, sizes)
    )
    np.testing.assert_allclose(tf.concat(strategy.experimental_local_results(out), 0), single.inverse(x), atol=1e-5)
    for name in ("log_scale", "bias", "initialized"):
        first, second = strategy.experimental_local_results(getattr(norm, name))
        np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(first, getattr(single, name), rtol=1e-6, atol=1e-6)
    # Each replica on its own share would differ: the halves have different moments.
    assert float(tf.reduce_max(tf.abs(tf.reduce_mean(x[:4], [0, 1, 2]) - tf.reduce_mean(x[4:], [0, 1, 2])))) > 1e-2


def test_mirrored_adam_steps_match_one_device(mirrored):
    """tf_keras Adam applies the all-reduced gradients to the replicated variables; the training
    calls after init keep re-assigning the (unchanged) values, which must not undo the updates."""
    import tf_keras

    event = (4, 4, 2)
    x = data(event, n=8, dtype=tf.float32)
    other = x * 0.5 + 1.0  # trained on after the init on x: the gradients are not ~0 there

    def step_fn(norm, opt, y):
        dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), event), norm)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(dist.log_prob(y, bijector_kwargs={"training": True})) / 8.0
        variables = norm.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    single, single_opt = ActNorm(event), tf_keras.optimizers.Adam(0.1)
    single.inverse(x, training=True)
    strategy = mirrored
    with strategy.scope():
        norm, opt = ActNorm(event), tf_keras.optimizers.Adam(0.1)
    init = tf.function(lambda t: strategy.run(lambda y: norm.inverse(y, training=True), args=(t,)))
    init(_replica_shares(strategy, x, (4, 4)))
    step = tf.function(lambda t: strategy.run(step_fn, args=(norm, opt, t)))
    shares = _replica_shares(strategy, other, (4, 4))
    for _ in range(3):
        step_fn(single, single_opt, other)
        step(shares)
    for a, b in zip(norm.trainable_variables, single.trainable_variables):
        first, second = strategy.experimental_local_results(a)
        np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(first, b, rtol=1e-5, atol=1e-5)
    fresh = ActNorm(event)
    fresh.inverse(x, training=True)
    assert np.max(np.abs(single.log_scale.numpy() - fresh.log_scale.numpy())) > 0.1  # Adam moved it
