"""Conditional flows: every registered model with `condition_dims`, the condition reaching every
conditioner through every composite, the API, export, training, bad conditions (fuzz cases)."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import train_a_few_steps
from tests.conformance_test import MODEL_KWARGS, SLOW_FLOWS, data_for, perturb
from tests.fuzz import Case, check
from tfp_realnvp.data import image_dataset, load_digits
from tfp_realnvp.export import export_saved_model, exported_condition_dims, load_exported
from tfp_realnvp.models import MODELS
from tfp_realnvp.training import TrainConfig, Trainer, evaluate

tfb = tfp.bijectors
K = 3
FLOWS = [
    pytest.param(f"{m}-{kind}", marks=pytest.mark.slow) if f"{m}-{kind}" in SLOW_FLOWS else f"{m}-{kind}"
    for m in MODELS
    for kind in ("image", "vector")
]


def one_hot(labels):
    return tf.one_hot(labels, K)


@functools.cache
def conditional(flow_id):
    """A tiny conditional flow, trained a few steps and perturbed, so every layer acts."""
    model, kind = flow_id.split("-")
    flow = MODELS[model](**MODEL_KWARGS[model][kind], condition_dims=K)
    x = data_for(flow.event_shape)
    c = one_hot(np.arange(len(x)) % K)
    train_a_few_steps(
        flow.trainable_variables,
        lambda: -tf.reduce_mean(flow.log_prob(x, training=True, condition=c)),
        steps=3,
        learning_rate=0.01,
    )
    perturb(flow.trainable_variables, seed=2)
    return flow


def networks_taking_a_condition(flow):
    """The conditioner networks built with a `condition_dims` (bijectors such as the learned
    dequantization hold their networks' condition themselves, and refuse to run without one)."""
    return [
        m
        for m in flow.submodules
        if isinstance(getattr(m, "condition_dims", None), int) and not isinstance(m, tfb.Bijector)
    ]


@pytest.mark.parametrize("flow_id", FLOWS)
def test_the_condition_reaches_every_conditioner(flow_id, monkeypatch):
    flow = conditional(flow_id)
    nets = networks_taking_a_condition(flow)
    assert nets, "no conditioner network found"
    assert {n.condition_dims for n in nets} == {K}, {n.name: n.condition_dims for n in nets}
    # The flow's conditioner networks are the top-level callables the bijectors call: record each
    # call's condition. (Networks nested inside another network, e.g. NICE's flattening wrapper's
    # MLP, are reached through it.)
    seen = {}

    def recording(original):
        def call(self, *args, condition=None, **kwargs):
            seen.setdefault(id(self), []).append(condition is not None)
            return original(self, *args, condition=condition, **kwargs)

        return call

    for cls in {type(n) for n in nets}:
        monkeypatch.setattr(cls, "__call__", recording(cls.__call__))
    x = data_for(flow.event_shape, n=4, seed=3)
    c = one_hot([0, 1, 2, 0])
    flow.log_prob(tf.identity(x), condition=c)
    flow.sample(4, seed=(1, 1), condition=c)
    called = [n for n in nets if id(n) in seen]
    assert called and all(all(seen[id(n)]) for n in called), {n.name: seen.get(id(n)) for n in nets}
    unreached = [n.name for n in nets if id(n) not in seen and not _nested(n, nets)]
    assert not unreached, unreached


def _nested(net, nets):
    return any(net is not other and net in other.submodules for other in nets)


@pytest.mark.parametrize("flow_id", FLOWS)
def test_conditional_api(flow_id):
    flow = conditional(flow_id)
    x = data_for(flow.event_shape, n=6, seed=4)
    c = one_hot([0, 1, 2, 0, 1, 2])
    log_prob = flow.log_prob(x, condition=c)
    other = flow.log_prob(tf.identity(x), condition=one_hot([1, 2, 0, 1, 2, 0]))
    assert np.all(np.isfinite(log_prob)) and float(tf.reduce_max(tf.abs(log_prob - other))) > 1e-3
    # One condition [K] serves the whole batch, like the same row repeated.
    single = flow.log_prob(tf.identity(x), condition=one_hot(1))
    np.testing.assert_allclose(single, flow.log_prob(tf.identity(x), condition=one_hot([1] * 6)), rtol=1e-5)
    parts = flow.log_prob_parts(x, condition=c)
    np.testing.assert_allclose(tf.add_n(list(parts.values())), log_prob, rtol=1e-5, atol=1e-4)
    z = flow.encode(x, condition=c)
    np.testing.assert_allclose(flow.decode(tf.identity(z), condition=c), x, rtol=1e-4, atol=1e-3)
    samples = flow.draw_samples(5, temperature=0.7, seed=(3, 4), condition=one_hot(2))
    assert samples.shape == (5, *flow.event_shape)
    scored = flow.compiled_log_prob(tf.identity(samples), condition=one_hot([2] * 5))
    assert np.all(np.isfinite(scored))
    each = flow.sample(3, seed=(5, 6), condition=one_hot([0, 1, 2]))
    assert np.all(np.isfinite(flow.log_prob(tf.identity(each), condition=one_hot([0, 1, 2]))))


@pytest.mark.parametrize("model", MODELS)
def test_unconditional_flows_have_no_condition_weights_and_refuse_a_condition(model):
    flow = MODELS[model](**MODEL_KWARGS[model]["vector"])
    assert flow.condition_dims == 0
    assert not [v.name for v in flow.variables if "condition_bias" in v.name or "condition_out" in v.name]
    with pytest.raises(ValueError, match="unconditional"):
        flow.log_prob(data_for(flow.event_shape, n=2), condition=one_hot([0, 1]))


def test_a_conditional_export_serves_the_flows_numbers(tmp_path):
    flow = conditional("nice-image")
    loaded = load_exported(export_saved_model(flow, tmp_path / "model"))
    assert exported_condition_dims(loaded) == K
    x = data_for(flow.event_shape, n=4, seed=7)
    c = one_hot([0, 1, 2, 1])
    np.testing.assert_allclose(loaded.log_prob(x, c)["log_prob"], flow.log_prob(x, condition=c), rtol=1e-5)
    np.testing.assert_allclose(loaded.encode(x, c)["latents"], flow.encode(x, condition=c), rtol=1e-4, atol=1e-4)
    samples = loaded.sample(tf.constant(3), tf.constant(1.0), one_hot([2]))["samples"]
    assert samples.shape == (3, *flow.event_shape)
    with pytest.raises(tf.errors.InvalidArgumentError, match="condition must have 1 row or one per input"):
        loaded.log_prob(x, one_hot([0, 1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="condition contains NaN"):
        loaded.log_prob(x, tf.fill([4, K], np.nan))


def test_two_replicas_train_the_same_conditional_flow_as_one(mirrored):
    """The conditions are split across replicas with their examples."""
    x = data_for((4,), n=64, seed=9).numpy()
    c = np.eye(K, dtype=np.float32)[np.arange(64) % K]
    config = TrainConfig(steps=3, batch_size=16, log_every=3, eval_every=3)
    weights = []
    for strategy in (None, mirrored):
        trainer = Trainer(
            lambda: MODELS["realnvp"](**MODEL_KWARGS["realnvp"]["vector"], condition_dims=K), config, None, strategy
        )
        data = tf.data.Dataset.from_tensor_slices((x, c)).repeat().batch(16, drop_remainder=True)
        trainer.fit(data, verbose=False)
        weights.append([v.numpy() for v in trainer.flow.trainable_variables])
    for one, two in zip(*weights):
        np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_the_trainer_fits_a_class_conditional_flow_and_labels_help():
    """Digits with one-hot labels: the conditional flow's test bits/dim given the true labels is
    below the same flow's given wrong labels after a short fit."""
    digits = load_digits()
    labels = np.eye(10, dtype=np.float32)
    data = image_dataset(digits.train, 17, 64, training=True, seed=0, conditions=labels[digits.train_labels])
    trainer = Trainer(
        lambda: MODELS["realnvp"](
            event_shape=(8, 8, 1), pixel_levels=17, num_scales=2, hidden_channels=8, num_blocks=1, condition_dims=10
        ),
        TrainConfig(steps=150, batch_size=64, log_every=150, eval_every=150),
    )
    trainer.fit(data, verbose=False)
    x = digits.test.astype(np.float32) + 0.5
    right = evaluate(trainer.flow, x, conditions=labels[digits.test_labels])
    wrong = evaluate(trainer.flow, x, conditions=labels[(digits.test_labels + 5) % 10])
    assert right < wrong - 0.02, (right, wrong)


# ---------------------------------------------------------------------------- bad conditions
def _bad_condition_cases():
    cases = []
    for flow_id in ("realnvp-image", "glow-vector", "nice-vector"):
        flow = functools.partial(conditional, flow_id)

        def x(n=2, f=flow):
            return data_for(f().event_shape, n=n)

        calls = {
            "log_prob": lambda c, f=flow, x=x: f().log_prob(x(), condition=c),
            "encode": lambda c, f=flow, x=x: f().encode(x(), condition=c),
            "sample": lambda c, f=flow: f().sample(2, seed=(1, 2), condition=c),
            "draw_samples": lambda c, f=flow: f().draw_samples(2, seed=(1, 2), condition=c),
        }
        for method, call in calls.items():
            for label, condition, names in (
                ("missing", None, ("condition", "conditional")),
                ("wrong-dims", tf.zeros([2, K + 1]), ("condition", "shape")),
                ("int", tf.zeros([2, K], tf.int32), ("condition", "dtype")),
                ("float64", tf.zeros([2, K], tf.float64), ("condition", "dtype")),
                ("scalar", tf.constant(1.0), ("condition", "shape")),
                ("rows", tf.zeros([3, K]), ("condition", "broadcast")),
                ("string", "a", ("condition",)),
            ):
                cases.append(Case(f"{flow_id}-{method}-condition-{label}", functools.partial(call, condition), names))
        for method in ("encode", "sample", "draw_samples"):
            cases.append(
                Case(
                    f"{flow_id}-{method}-condition-nan",
                    functools.partial(calls[method], tf.fill([2, K], np.nan)),
                    ("condition", "NaN"),
                )
            )
    return cases


@pytest.mark.parametrize("case", _bad_condition_cases(), ids=lambda c: c.id)
def test_bad_conditions_are_refused_clearly(case):
    check(case)
