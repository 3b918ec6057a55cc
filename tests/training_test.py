import os

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp import RealNVP, data
from tfp_realnvp.training import NonFiniteLossError, TrainConfig, Trainer

BATCH = 16


def digits_dataset(seed=0):
    d = data.load_digits()
    return data.image_dataset(d.train[:256], 17, BATCH, training=True, seed=seed)


def small_flow(dtype=tf.float32):
    return RealNVP(
        event_shape=(8, 8, 1), pixel_levels=17, num_scales=1, hidden_channels=8, num_blocks=1, seed=3, dtype=dtype
    )


def small_flow64():
    # float64: the comparison then shows the algorithm is the same, not float32 summation order
    return small_flow(tf.float64)


def config(steps, **kw):
    return TrainConfig(steps=steps, batch_size=BATCH, learning_rate=2e-3, log_every=1, checkpoint_every=2, **kw)


def weights(trainer):
    return [v.numpy() for v in trainer.flow.variables]


def weights_of(variables):
    return [v.numpy() for v in variables]


def assert_same(a, b, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def test_mirrored_two_devices_equals_one_device_on_the_same_global_batches(mirrored):
    single = Trainer(small_flow64, config(4))
    single.fit(digits_dataset(), verbose=False)
    distributed = Trainer(small_flow64, config(4), strategy=mirrored)
    distributed.fit(digits_dataset(), verbose=False)
    assert distributed.current_step == 4
    moved = [np.abs(a - b).max() for a, b in zip(weights(single), [v.numpy() for v in small_flow64().variables])]
    assert max(moved) > 1e-3  # the steps did something
    assert_same(weights(single), weights(distributed))
    for v in distributed.flow.variables:  # replicas agree with each other too
        values = [t.numpy() for t in distributed.strategy.experimental_local_results(v)]
        assert_same(values[:1], values[1:])


@pytest.mark.slow  # 17 s
def test_xla_request_under_mirrored_falls_back_to_the_graph_step(mirrored, caplog):
    graph = Trainer(small_flow64, config(3), strategy=mirrored)
    graph.fit(digits_dataset(), verbose=False)
    xla = Trainer(small_flow64, config(3, jit_compile=True), strategy=mirrored)
    xla.fit(digits_dataset(), verbose=False)
    assert_same(weights(graph), weights(xla), rtol=1e-12, atol=1e-12)
    assert "jit_compile is ignored with 2 replicas" in caplog.text


@pytest.mark.slow  # 31 s; the XLA fallback under mirrored and XLA on one device stay in CI
def test_xla_under_mirrored_without_batch_norm_matches_one_device(mirrored):
    def flow_fn():
        return RealNVP(
            event_shape=(8, 8, 1), pixel_levels=17, hidden_channels=8, num_blocks=1, batch_norm=False, dtype=tf.float64
        )

    single = Trainer(flow_fn, config(3))
    single.fit(digits_dataset(), verbose=False)
    xla = Trainer(flow_fn, config(3, jit_compile=True), strategy=mirrored)
    xla.fit(digits_dataset(), verbose=False)
    assert_same(weights(single), weights(xla), rtol=1e-6, atol=1e-9)


def test_xla_step_on_one_device_matches_the_graph_step():
    graph = Trainer(small_flow64, config(3))
    graph.fit(digits_dataset(), verbose=False)
    xla = Trainer(small_flow64, config(3, jit_compile=True))
    xla.fit(digits_dataset(), verbose=False)
    assert_same(weights(graph), weights(xla), rtol=1e-6, atol=1e-9)  # float64: only op-order rounding differs


def dropout_flow():
    return RealNVP(
        event_shape=(8, 8, 1), pixel_levels=17, num_scales=1, hidden_channels=8, num_blocks=1, dropout=0.3, seed=3
    )


def dropout_flow_without_batch_norm():  # so the XLA step runs under MirroredStrategy too
    return RealNVP(
        event_shape=(8, 8, 1), pixel_levels=17, hidden_channels=8, num_blocks=1, dropout=0.3, batch_norm=False
    )


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])  # XLA: 38 s
def test_dropout_training_repeats_exactly_for_a_seed(jit_compile):
    seeds = (0, 0) if jit_compile else (0, 0, 1)  # another seed's masks: once is enough (XLA compiles per run)
    runs = [Trainer(dropout_flow, config(3, seed=s, jit_compile=jit_compile)) for s in seeds]
    for t in runs:
        t.fit(digits_dataset(), verbose=False)
    same, again, *other = map(weights, runs)
    assert_same(same, again, rtol=0, atol=0)
    for o in other:
        assert not all(np.allclose(a, b) for a, b in zip(same, o))  # the seed draws the dropout masks


@pytest.mark.slow  # XLA compiles twice; tests/replica_count_test.py covers dropout under mirrored in CI
def test_dropout_training_under_mirrored_repeats_exactly(mirrored):
    runs = [Trainer(dropout_flow_without_batch_norm, config(3, jit_compile=True), strategy=mirrored) for _ in range(2)]
    for t in runs:
        t.fit(digits_dataset(), verbose=False)
    assert_same(weights(runs[0]), weights(runs[1]), rtol=0, atol=0)


@pytest.mark.slow  # ~14 s; replica_count_test trains 1, 2 and 4 replicas with dropout in CI
def test_examples_at_other_positions_of_the_global_batch_draw_other_masks(mirrored):
    flow_fn = dropout_flow_without_batch_norm
    half = next(iter(digits_dataset()))[: BATCH // 2]
    # Both replicas get the same images; if the second half of the global batch drew the first half's
    # masks, the step would equal one device's on that half.
    two = Trainer(flow_fn, config(1), strategy=mirrored)
    two.fit(tf.data.Dataset.from_tensors(tf.concat([half, half], 0)).repeat(), verbose=False)
    one = Trainer(flow_fn, TrainConfig(steps=1, batch_size=BATCH // 2, learning_rate=2e-3, log_every=1))
    one.fit(tf.data.Dataset.from_tensors(half).repeat(), verbose=False)
    assert not all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(weights(two), weights(one)))


@pytest.mark.parametrize(
    "flow_fn", [pytest.param(small_flow, marks=pytest.mark.slow), dropout_flow], ids=["plain", "dropout"]
)
def test_resume_continues_exactly(tmp_path, flow_fn):
    straight = Trainer(flow_fn, config(6))
    straight.fit(digits_dataset(), verbose=False)

    first = Trainer(flow_fn, config(6), model_dir=str(tmp_path))
    first.fit(digits_dataset(), steps=3, verbose=False)
    # a new process would build everything again from scratch:
    second = Trainer(flow_fn, config(6), model_dir=str(tmp_path))
    history = second.fit(digits_dataset(), resume=True, verbose=False)
    assert second.current_step == 6
    assert history["step"] == [1, 2, 3, 4, 5, 6]
    assert_same(weights(straight), weights(second))
    assert_same([v.numpy() for v in straight.optimizer.variables], [v.numpy() for v in second.optimizer.variables])


def test_new_run_refuses_to_overwrite_checkpoints(tmp_path):
    Trainer(small_flow, config(2), model_dir=str(tmp_path)).fit(digits_dataset(), verbose=False)
    with pytest.raises(FileExistsError, match="resume=True"):
        Trainer(small_flow, config(2), model_dir=str(tmp_path)).fit(digits_dataset(), verbose=False)


def test_non_finite_loss_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path):
    good = digits_dataset().take(4)
    poisoned = good.concatenate(tf.data.Dataset.from_tensors(tf.fill([BATCH, 8, 8, 1], np.nan)).repeat())
    trainer = Trainer(small_flow, config(10), model_dir=str(tmp_path))
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss \(nan\) at step 5.*ckpt-4"):
        trainer.fit(poisoned, verbose=False)
    latest = tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints"))
    assert latest.endswith("ckpt-4")
    restored = small_flow()
    tf.train.Checkpoint(flow=restored).restore(latest).expect_partial()
    assert all(np.all(np.isfinite(v.numpy())) for v in restored.variables)


def test_a_failed_checkpoint_write_leaves_the_previous_one_latest(tmp_path, monkeypatch):
    trainer = Trainer(small_flow, config(4), model_dir=str(tmp_path))
    trainer.fit(digits_dataset(), steps=2, verbose=False)
    before = weights(trainer)
    real_write = tf.train.Checkpoint._write

    def killed_midway(self, file_prefix, options=None):
        # The data files hit the disk, then the process "dies" before the index is updated.
        real_write(self, file_prefix)
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.train.Checkpoint, "_write", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(digits_dataset(), steps=4, resume=True, verbose=False)
    monkeypatch.undo()
    latest = tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints"))
    assert latest.endswith("ckpt-2")
    restored = small_flow()
    tf.train.Checkpoint(flow=restored).restore(latest).expect_partial()
    assert_same(before, [v.numpy() for v in restored.variables])


@pytest.mark.slow  # ~16 s; the resume tests in CI cover exactness, this adds the moving average
def test_weight_average_is_what_evaluation_sees_and_resumes_exactly(tmp_path):
    plain = Trainer(small_flow64, config(4))
    expected = [v.numpy() for v in plain.variables]
    raw = []
    plain.fit(digits_dataset(), verbose=False, callback=lambda step, logs: raw.append(weights_of(plain.variables)))
    for t, values in enumerate(raw, 1):
        d = min(0.9, (1 + t) / (10 + t)) if t > 1 else 0.0  # the average starts at the first step's weights
        expected = [d * e + (1 - d) * w for e, w in zip(expected, values)]

    seen = []
    averaged = Trainer(small_flow64, config(4, ema_decay=0.9), model_dir=str(tmp_path / "a"))
    averaged.fit(
        digits_dataset(), verbose=False, eval_fn=lambda flow: seen.append(weights_of(flow.trainable_variables)) or {}
    )
    assert_same(seen[-1], expected, rtol=1e-10, atol=1e-12)  # evaluation saw the average
    assert_same(weights_of(averaged.variables), expected, rtol=1e-10, atol=1e-12)  # and the flow ends with it
    assert not np.allclose(expected[0], raw[-1][0])
    restored = small_flow64()
    latest = tf.train.latest_checkpoint(str(tmp_path / "a" / "checkpoints"))
    tf.train.Checkpoint(flow=restored).restore(latest).expect_partial()
    assert_same(weights_of(restored.trainable_variables), raw[-1], rtol=1e-10, atol=1e-12)  # checkpoints: raw

    first = Trainer(small_flow64, config(4, ema_decay=0.9), model_dir=str(tmp_path / "b"))
    first.fit(digits_dataset(), steps=2, verbose=False)
    second = Trainer(small_flow64, config(4, ema_decay=0.9), model_dir=str(tmp_path / "b"))
    second.fit(digits_dataset(), resume=True, verbose=False)
    assert_same(weights_of(second.variables), expected, rtol=1e-10, atol=1e-12)


def _statistics(flow):
    from tfp_realnvp.bijectors import MovingAverageBatchNorm

    norms = [m for m in flow.submodules if isinstance(m, MovingAverageBatchNorm)]
    return [v for m in norms for v in (m.running_mean, m.running_var)]


@pytest.mark.parametrize("replicas", [1, 2])
def test_averaged_weights_use_batch_norm_statistics_reestimated_under_them(replicas, mirrored, tmp_path):
    # The running statistics follow the raw weights; the averaged weights are evaluated with their
    # own: from the raw ones, 3 training-mode passes over the dataset's first batches.
    strategy = mirrored if replicas == 2 else None
    make = lambda: Trainer(small_flow64, config(6, ema_decay=0.9, statistics_batches=3), str(tmp_path), strategy)
    make().fit(digits_dataset(), steps=4, verbose=False)
    trainer = make()
    trainer.fit(digits_dataset(), resume=True, verbose=False)  # ends holding the averaged weights
    ending = weights_of(_statistics(trainer.flow))
    assert len(ending) == 2 * 4  # small_flow: 4 batch norms, a mean and a variance each

    checkpointed = small_flow64()
    tf.train.Checkpoint(flow=checkpointed).restore(tf.train.latest_checkpoint(str(tmp_path / "checkpoints")))
    raw = weights_of(_statistics(checkpointed))  # what training left, under the raw weights
    assert max(np.abs(a - b).max() for a, b in zip(ending, raw)) > 1e-3

    expected = small_flow64()
    for v, w in zip(expected.variables, weights_of(checkpointed.variables)):
        v.assign(w)  # the raw statistics,
    for v, w in zip(expected.trainable_variables, weights_of(trainer.flow.trainable_variables)):
        v.assign(w)  # the averaged weights
    from tfp_realnvp.bijectors import TrainingCall

    for k, batch in enumerate(digits_dataset().take(3)):
        expected.log_prob(tf.cast(batch, tf.float64), training=TrainingCall(tf.constant([0, -1 - k], tf.int64)))
    assert_same(weights_of(_statistics(expected)), ending, rtol=1e-9, atol=1e-9)
    with trainer.averaged_weights():
        pass
    assert_same(weights_of(_statistics(trainer.flow)), ending, rtol=0, atol=0)  # put back on exit


def test_statistics_batches_default_scales_with_the_momentum():
    default = Trainer(small_flow, config(2, ema_decay=0.9))
    assert default._statistics_batches == 44  # 0.9^44 < 1% < 0.9^43
    slow = Trainer(
        lambda: RealNVP(
            event_shape=(8, 8, 1), pixel_levels=17, num_scales=1, hidden_channels=4, batch_norm_momentum=0.99
        ),
        config(2, ema_decay=0.9),
    )
    assert slow._statistics_batches == 459
    assert Trainer(small_flow, config(2, ema_decay=0.9, statistics_batches=5))._statistics_batches == 5
    with pytest.raises(ValueError, match="statistics_batches"):
        TrainConfig(statistics_batches=0)


def test_config_validation():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=-1.0)
    with pytest.raises(ValueError, match="decay"):
        TrainConfig(decay="linear")
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)
