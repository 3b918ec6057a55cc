"""End to end: the experiment runner on tiny configurations (the scripts: tests/fuzz_cli_test.py)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.bijectors import AffineCoupling
from tfp_realnvp.experiment import ExperimentConfig, restore_flow, run_experiment
from tfp_realnvp.models import MODELS


def tiny(tmp_path, **kw):
    base = dict(
        steps=6,
        batch_size=16,
        num_scales=1,
        hidden_channels=4,
        num_blocks=1,
        hidden_units=(16,),
        num_couplings=2,
        log_every=3,
        checkpoint_every=3,
        eval_every=3,
        num_samples=8,
        model_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "export"),
        test_draws=1,
        jit_compile=False,
    )
    return ExperimentConfig(**{**base, **kw})


@pytest.mark.slow  # 24 s; the CLI fixture run and the replica tests cover its parts in CI
def test_digits_run_under_mirrored_writes_everything(tmp_path, mirrored):
    strategy = mirrored
    metrics = run_experiment(tiny(tmp_path), strategy=strategy, verbose=False)
    run = tmp_path / "run"
    for name in ("config.json", "history.json", "metrics.json", "training_curve.png", "samples.png"):
        assert (run / name).stat().st_size > 0, name
    assert (run / "logs").is_dir() and list((run / "checkpoints").glob("ckpt-6*"))
    assert metrics["steps"] == 6 and metrics["pixel_levels"] == 17 and 0 < metrics["test_bits_per_dim"] < 5
    assert metrics["chosen_step"] in (3, 6)  # picked on the validation split
    assert os.path.exists(os.path.join(metrics["export_dir"], "saved_model.pb"))
    flow, config = restore_flow(str(run))
    assert config.dataset == "digits"
    served = tf.saved_model.load(metrics["export_dir"])
    x = tf.random.stateless_uniform([3, 8, 8, 1], seed=[1, 2], maxval=17.0)
    lp = served.signatures["log_prob"](images=x)["log_prob"]
    np.testing.assert_allclose(lp, flow.log_prob(x), rtol=1e-5)  # the export holds the chosen weights


def test_two_d_run_writes_panels_and_nll_and_keeps_its_output_scale(tmp_path):
    metrics = run_experiment(tiny(tmp_path, dataset="moons"), verbose=False)
    assert (tmp_path / "run" / "panels.png").stat().st_size > 0
    assert np.isfinite(metrics["test_nll_nats"]) and "pixel_levels" not in metrics
    # `output_scale` multiplies the trained outputs: a run keeps the one it was built with.
    config_path = tmp_path / "run" / "config.json"
    saved = json.loads(config_path.read_text())
    assert saved["config"]["output_scale"] == 0.1
    flow, _ = restore_flow(str(tmp_path / "run"))
    points = tf.constant([[0.5, -0.2], [1.0, 0.3]])
    served = flow.log_prob(points).numpy()
    assert flow.bijector.bijectors[0].conditioner.output_scale == 0.1
    del saved["config"]["output_scale"]  # as a run saved before the field existed (built with 0.3)
    config_path.write_text(json.dumps(saved))
    old, config = restore_flow(str(tmp_path / "run"))
    assert config.output_scale == 0.3 and old.bijector.bijectors[0].conditioner.output_scale == 0.3
    assert np.abs(old.log_prob(points).numpy() - served).max() > 1e-6  # the same weights, scaled otherwise
    with pytest.raises(ValueError, match=r"output_scale=0.3 \(now 0.1\)"):
        run_experiment(tiny(tmp_path, dataset="moons", steps=9, resume=True), verbose=False)


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'"):
        ExperimentConfig(dataset="mnsit")
    with pytest.raises(ValueError, match="validation_size"):
        run_experiment(tiny(tmp_path, validation_size=5000), verbose=False)
    with pytest.raises(FileNotFoundError, match="config.json"):
        restore_flow(str(tmp_path))


def test_recipes_resolve_by_kind_then_dataset_and_yield_to_explicit_values():
    digits, mnist, moons = (ExperimentConfig(dataset=d) for d in ("digits", "mnist", "moons"))
    assert (digits.hidden_channels, digits.num_blocks, digits.steps, digits.dropout) == (20, 1, 4000, 0.2)
    assert (mnist.hidden_channels, mnist.num_blocks, mnist.steps, mnist.dropout) == (32, 2, 1000, 0.2)
    assert (moons.batch_norm, moons.decay, moons.hidden_channels) == (False, "cosine", 32)  # RealNVP's default
    assert (digits.warmup_steps, mnist.warmup_steps, moons.warmup_steps) == (0, 0, 300)
    assert ExperimentConfig(dataset="moons", warmup_steps=0).warmup_steps == 0
    assert digits.squeeze_first is mnist.squeeze_first is moons.squeeze_first is False
    assert (digits.dequantization, mnist.dequantization, moons.dequantization) == (
        "variational",
        "variational",
        "uniform",
    )
    assert (digits.batch_norm, mnist.batch_norm) == (False, True)
    mine = ExperimentConfig(dataset="digits", hidden_channels=8, steps=7, dropout=0.0)
    assert (mine.hidden_channels, mine.num_blocks, mine.steps, mine.dropout) == (8, 1, 7, 0.0)
    # Real NVP on vectors peaks at 2e-3 (its gentle vector start); other models and images at 1e-3.
    maf, breast = ExperimentConfig(dataset="moons", model="maf"), ExperimentConfig(dataset="breast_cancer")
    assert (moons.learning_rate, breast.learning_rate, maf.learning_rate) == (2e-3, 2e-3, 1e-3)
    assert (digits.learning_rate, mnist.learning_rate) == (1e-3, 1e-3)
    assert ExperimentConfig(dataset="moons", learning_rate=5e-4).train_config().learning_rate == 5e-4


def test_each_model_takes_its_own_options_from_the_recipes_and_its_defaults():
    glow, nice = ExperimentConfig(model="glow"), ExperimentConfig(model="nice", dataset="moons")
    assert (glow.hidden_channels, glow.num_steps, glow.num_scales, glow.dequantization) == (32, 8, 2, "variational")
    assert (glow.dropout, glow.num_blocks, glow.batch_norm, glow.prior) == (0.2, None, None, None)  # not Glow's
    assert (nice.num_couplings, nice.hidden_units, nice.prior, nice.steps) == (4, (1000,) * 5, "logistic", 3000)
    with pytest.raises(ValueError, match="`num_blocks` does not apply to model 'glow'"):
        ExperimentConfig(model="glow", num_blocks=1)
    with pytest.raises(ValueError, match=f"unknown model 'flow'; choose from {', '.join(MODELS)}"):
        ExperimentConfig(model="flow")
    # A run saved before models existed has no `model` field: it is a Real NVP.
    assert (
        ExperimentConfig(**{k: v for k, v in ExperimentConfig().to_json().items() if k != "model"}).model == "realnvp"
    )


def test_resume_refuses_a_run_built_with_another_flow_and_writes_nothing(tmp_path):
    # Built as before the digits recipe learned its dequantization and before squeeze_first existed.
    run_experiment(tiny(tmp_path, dequantization="uniform"), verbose=False)
    config_path = tmp_path / "run" / "config.json"
    before = config_path.read_bytes()
    with pytest.raises(ValueError, match=r"cannot resume.*hidden_channels=4 \(now 6\)"):
        run_experiment(tiny(tmp_path, hidden_channels=6, dequantization="uniform", resume=True), verbose=False)
    assert config_path.read_bytes() == before
    old_run = json.loads(before)
    del old_run["config"]["squeeze_first"], old_run["config"]["dequantization"]  # as an older run saved it
    config_path.write_text(json.dumps(old_run))
    with pytest.raises(ValueError, match=r"squeeze_first=False \(now True\); pass --squeeze_first=False"):
        run_experiment(tiny(tmp_path, squeeze_first=True, dequantization="uniform", resume=True), verbose=False)
    # The recipe's default changed, not the saved run: it restores and resumes as it was built.
    recipe_changed = r"dequantization='uniform' \(now 'variational'\); pass --dequantization=uniform"
    with pytest.raises(ValueError, match=recipe_changed):
        run_experiment(tiny(tmp_path, resume=True), verbose=False)
    flow, config = restore_flow(str(tmp_path / "run"))
    assert config.squeeze_first is False and config.dequantization == "uniform"
    assert flow.bijector.bijectors[0].name == "pixel_logit" and isinstance(flow.bijector.bijectors[1], AffineCoupling)


@pytest.mark.slow  # ~22 s: two digits runs; the resume refusals stay in CI (test_resume_refuses_...)
def test_resume_checks_only_the_fields_of_the_runs_kind_and_keeps_its_schedule(tmp_path):
    run_experiment(tiny(tmp_path, dequantization="uniform"), verbose=False)
    config_path = tmp_path / "run" / "config.json"
    old_run = json.loads(config_path.read_text())
    old_run["config"].update(num_couplings=8, hidden_units=[256, 256])  # the vector defaults of its time
    config_path.write_text(json.dumps(old_run))
    metrics = run_experiment(tiny(tmp_path, dequantization="uniform", steps=9, resume=True), verbose=False)
    assert metrics["steps"] == 9
    toy = tmp_path / "toy"  # a 2-D run saved before the recipe's warm-up (the check reads only its config)
    old_toy = tiny(toy, dataset="moons", warmup_steps=0)
    os.makedirs(old_toy.model_dir)
    (toy / "run" / "config.json").write_text(json.dumps({"config": old_toy.to_json()}))
    with pytest.raises(ValueError, match=r"warmup_steps=0 \(now 300\); pass --warmup_steps=0 to continue"):
        run_experiment(tiny(toy, dataset="moons", resume=True), verbose=False)
    # ... and a 2-D Real NVP run saved before the recipe's rate became 2e-3.
    old_toy = tiny(toy, dataset="moons", learning_rate=1e-3)
    (toy / "run" / "config.json").write_text(json.dumps({"config": old_toy.to_json()}))
    with pytest.raises(ValueError, match=r"learning_rate=0.001 \(now 0.002\); pass --learning_rate=0.001 to continue"):
        run_experiment(tiny(toy, dataset="moons", resume=True), verbose=False)
