"""MAF and IAF models: layer stacks (mixing, batch norm), images flattened, conditioning through the
Flow API, the subclass hook for other transformers, and a short fit."""

import inspect

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp import IAF, MAF
from tfp_realnvp.bijectors import AffineTransformer, InvertibleLinear, MaskedAutoregressive, MovingAverageBatchNorm
from tfp_realnvp.models.autoregressive import AutoregressiveFlow


def autoregressive_layers(flow):
    return [m for m in flow.submodules if isinstance(m, MaskedAutoregressive)]


def perturb(flow, stddev=0.2):
    for i, v in enumerate(flow.trainable_variables):
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[11, i], stddev=stddev, dtype=v.dtype))
    return flow


def test_mixing_orders_batch_norm_and_directions():
    flow = MAF((4,), num_layers=3, hidden_units=(8,))
    assert [b.made.order for b in autoregressive_layers(flow)] == [(0, 1, 2, 3), (3, 2, 1, 0), (0, 1, 2, 3)]
    assert not any(b.inverse_autoregressive for b in autoregressive_layers(flow))
    assert all(b.inverse_autoregressive for b in autoregressive_layers(IAF((4,), num_layers=2, hidden_units=(8,))))
    linear = MAF((4,), num_layers=3, hidden_units=(8,), mixing="linear", batch_norm=True)
    kinds = [type(b).__name__ for b in linear.bijector.bijectors]
    assert kinds == ["MaskedAutoregressive", "MovingAverageBatchNorm", "InvertibleLinear"] * 2 + [
        "MaskedAutoregressive",
        "MovingAverageBatchNorm",
    ]
    assert all(b.made.order == (0, 1, 2, 3) for b in autoregressive_layers(linear))
    randoms = {b.made.order for b in autoregressive_layers(MAF((6,), num_layers=4, mixing="random"))}
    assert len(randoms) > 1
    assert all(b.made.residual_blocks == 2 for b in autoregressive_layers(MAF((3,), residual_blocks=2)))
    with pytest.raises(ValueError, match="mixing"):
        MAF((4,), mixing="shuffle")


@pytest.mark.parametrize("cls", [MAF, IAF])
def test_image_flow_works_on_the_flattened_pixels_and_keeps_the_image_shape(cls):
    flow = perturb(cls((4, 4, 1), pixel_levels=17, num_layers=2, hidden_units=(8,), batch_norm=True))
    assert [b.made.features for b in autoregressive_layers(flow)] == [16, 16]
    x = tf.random.stateless_uniform([3, 4, 4, 1], seed=[1, 2], maxval=16.9)
    z = flow.encode(x)
    assert z.shape == x.shape
    np.testing.assert_allclose(flow.decode(tf.identity(z)), x, atol=1e-3)
    assert list(flow.log_prob_parts(x)) == ["pixel_logit", "flattened", "prior"]
    assert flow.sample(2, seed=(1, 2)).shape == (2, 4, 4, 1)


@pytest.mark.parametrize("cls", [MAF, IAF])
def test_a_conditional_flow_scores_and_samples_given_the_condition(cls):
    flow = perturb(cls((3,), num_layers=2, hidden_units=(16,), condition_dims=2), stddev=0.3)
    x = tf.random.stateless_normal([5, 3], seed=[1, 2])
    a, b = tf.constant([1.0, 0.0]), tf.constant([0.0, 1.0])
    log_a, log_b = flow.log_prob(x, condition=a), flow.log_prob(x, condition=b)
    assert np.abs(log_a - log_b).min() > 1e-4
    labels = tf.one_hot([0, 1, 1, 0, 0], 2)
    np.testing.assert_allclose(flow.log_prob(x, condition=labels), np.where(labels[:, 0] > 0, log_a, log_b), rtol=1e-5)
    samples = flow.sample(4, condition=a, seed=(3, 4))
    assert samples.shape == (4, 3)
    other = flow.sample(4, condition=b, seed=(3, 4))  # the same latents, another condition
    assert np.abs(samples - other).max() > 1e-3
    z = flow.encode(samples, condition=a)
    np.testing.assert_allclose(flow.decode(tf.identity(z), condition=a), samples, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="condition"):
        flow.log_prob(x)


class BoundedMAF(AutoregressiveFlow):
    """A subclass that only picks the transformer, with one option of its own."""

    TRANSFORMER_OPTIONS = {"bound": 2.0}

    def _make_transformer(self, bound):
        return AffineTransformer(bound)


def test_a_subclass_adds_constructor_options_through_transformer_options():
    params = inspect.signature(BoundedMAF).parameters
    assert params["bound"].default == 2.0 and params["name"].default == "BoundedMAF"
    assert list(params)[: len(inspect.signature(MAF).parameters)] == list(inspect.signature(MAF).parameters)
    flow = BoundedMAF((3,), num_layers=2, hidden_units=(4,), bound=1.5)
    assert [b.transformer.bound for b in autoregressive_layers(flow)] == [1.5, 1.5]
    assert flow.parameters["bound"] == 1.5 and flow.name == "BoundedMAF"
    # copy() rebuilds the flow from its parameters (TFP: the constructor's signature), options included.
    assert [b.transformer.bound for b in flow.copy(bound=0.5).bijector.bijectors] == [0.5, 0.5]
    with pytest.raises(TypeError, match="sigmoid_units"):
        BoundedMAF((3,), sigmoid_units=4)
    with pytest.raises(TypeError, match="clash"):
        type("Clash", (AutoregressiveFlow,), {"TRANSFORMER_OPTIONS": {"num_layers": 3}})
    assert "bound" not in inspect.signature(MAF).parameters


def test_maf_fits_a_correlated_gaussian_in_a_few_steps():
    """200 Adam steps on a 2-D Gaussian with correlation 0.9: the test NLL gets within 0.1 nats of
    the true entropy (2.0 nats at this covariance)."""
    import tf_keras

    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    rng = np.random.default_rng(0)
    train = rng.multivariate_normal([1.0, -1.0], cov, 2048).astype(np.float32)
    test = rng.multivariate_normal([1.0, -1.0], cov, 2048).astype(np.float32)
    flow = MAF((2,), num_layers=2, hidden_units=(32, 32))
    opt = tf_keras.optimizers.Adam(3e-3)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        opt.apply_gradients(zip(tape.gradient(loss, flow.trainable_variables), flow.trainable_variables))
        return loss

    for i in range(200):
        step(train[(i % 8) * 256 : (i % 8 + 1) * 256])
    entropy = 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))
    nll = -float(tf.reduce_mean(flow.log_prob(test)))
    assert nll < entropy + 0.1, (nll, entropy)


def test_defaults_and_bad_arguments():
    flow = MAF((2,))
    layers = autoregressive_layers(flow)
    assert len(layers) == 5 and layers[0].made.hidden_units == (128, 128)
    assert not [m for m in flow.submodules if isinstance(m, (MovingAverageBatchNorm, InvertibleLinear))]
    for kw, what in (
        (dict(num_layers=0), "num_layers"),
        (dict(hidden_units=()), "hidden_units"),
        (dict(residual_blocks=-1), "residual_blocks"),
        (dict(batch_norm="yes"), "batch_norm"),
        (dict(condition_dims=-1), "condition_dims"),
        (dict(event_shape=(1,)), "event_shape"),
    ):
        with pytest.raises((ValueError, TypeError), match=what):
            MAF(**{"event_shape": (2,), **kw})


def test_experiment_config_resolves_the_autoregressive_options():
    from tfp_realnvp.experiment import ExperimentConfig, build_flow

    maf = ExperimentConfig(model="maf", dataset="moons")
    assert (maf.num_layers, maf.hidden_units, maf.residual_blocks, maf.mixing, maf.batch_norm) == (
        5,
        (128, 128),
        0,
        "reverse",
        False,
    )
    assert (maf.num_couplings, maf.num_steps, maf.warmup_steps, maf.decay) == (None, None, 300, "cosine")
    iaf = ExperimentConfig(model="iaf", dataset="moons", num_layers=2, hidden_units=(8,), mixing="linear")
    flow = build_flow(iaf, (2,), None)
    assert isinstance(flow, IAF) and len(autoregressive_layers(flow)) == 2
    assert [type(b).__name__ for b in flow.bijector.bijectors] == [
        "MaskedAutoregressive",
        "InvertibleLinear",
        "MaskedAutoregressive",
    ]
    with pytest.raises(ValueError, match="`num_layers` does not apply to model 'realnvp'"):
        ExperimentConfig(num_layers=3)
    with pytest.raises(ValueError, match="`num_couplings` does not apply to model 'maf'"):
        ExperimentConfig(model="maf", num_couplings=3)
    with pytest.raises(ValueError, match="mixing"):
        ExperimentConfig(model="maf", mixing="shuffle")


@pytest.mark.slow
def test_a_two_d_maf_run_trains_exports_and_restores(tmp_path):
    from tfp_realnvp.experiment import ExperimentConfig, restore_flow, run_experiment

    config = ExperimentConfig(
        dataset="moons",
        model="maf",
        num_layers=2,
        hidden_units=(16,),
        steps=6,
        batch_size=16,
        log_every=3,
        checkpoint_every=3,
        eval_every=3,
        num_samples=8,
        model_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "export"),
    )
    metrics = run_experiment(config, verbose=False)
    assert np.isfinite(metrics["test_nll_nats"]) and metrics["steps"] == 6
    flow, restored = restore_flow(str(tmp_path / "run"))
    assert isinstance(flow, MAF) and restored.num_layers == 2
    served = tf.saved_model.load(metrics["export_dir"])
    x = tf.random.stateless_normal([4, 2], seed=[1, 2])
    np.testing.assert_allclose(served.signatures["log_prob"](images=x)["log_prob"], flow.log_prob(x), rtol=1e-5)
