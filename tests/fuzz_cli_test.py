"""Bad flags, files and inputs to the experiment scripts, the SavedModel and the export and data
APIs: each must give a clear error (the CLI: one `error:` line naming the flag or file, exit
status 2, no traceback) and leave every file that existed before as it was (tests/fuzz.py)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.fuzz import Case, check, judge, record
from tfp_realnvp import data
from tfp_realnvp.experiment import _FIELD_RULES, MODEL_FIELDS, ExperimentConfig, model_options
from tfp_realnvp.export import check_export_dir, export_saved_model, load_exported
from tfp_realnvp.models import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--steps=2", "--batch_size=16", "--hidden_channels=4", "--num_blocks=1", "--test_draws=1", "--num_samples=4"]
TINY += ["--validation_size=30", "--eval_every=0", "--checkpoint_every=1"]


def _script(name, *args):
    """The script as a user runs it (without the log level this suite's conftest sets)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    path = os.path.join(ROOT, "experiments", name)
    return subprocess.run([sys.executable, path, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A tiny finished digits run and its export, plus damaged copies and odd paths."""
    root = tmp_path_factory.mktemp("cli")
    run, export = root / "run", root / "export"
    proc = _script("train.py", *TINY, f"--model_dir={run}", f"--export_dir={export}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    p = {"root": root, "run": run, "export": export}
    p["corrupt_config"] = root / "corrupt_config"
    shutil.copytree(run, p["corrupt_config"])
    (p["corrupt_config"] / "config.json").write_text('{"config": {"dataset": "dig')
    p["truncated"] = root / "truncated"
    shutil.copytree(run, p["truncated"])
    for name in ("checkpoints", "best"):
        for shard in (p["truncated"] / name).glob("*.data-*"):
            shard.write_bytes(shard.read_bytes()[:100])
    p["config_only"] = root / "config_only"
    p["config_only"].mkdir()
    shutil.copy(run / "config.json", p["config_only"])
    p["empty"] = root / "empty"
    p["empty"].mkdir()
    p["file"] = root / "a_file"
    p["file"].write_text("not a directory")
    p["unrelated"] = root / "unrelated"
    p["unrelated"].mkdir()
    (p["unrelated"] / "notes.txt").write_text("keep me")
    return p


# (script, id, args with {placeholders}, words the error must name)
CLI_CASES = [
    ("train.py", "existing_run_more_steps", ["--model_dir={run}", "--steps=40"], ["resume"]),
    ("train.py", "existing_run_other_width", ["--model_dir={run}", "--hidden_channels=8"], ["resume"]),
    ("train.py", "existing_run_batch_0", ["--model_dir={run}", "--batch_size=0"], ["batch_size"]),
    ("train.py", "resume_negative_steps", ["--model_dir={run}", "--resume", "--steps=-5"], ["steps"]),
    ("train.py", "resume_other_width", ["--model_dir={run}", "--resume", "--hidden_channels=8"], ["hidden_channels"]),
    ("train.py", "resume_empty_dir", ["--model_dir={empty}", "--resume"], ["resume", "empty"]),
    (
        "train.py",
        "resume_config_only",
        ["--model_dir={config_only}", "--resume", "--hidden_channels=4", "--num_blocks=1"],
        ["resume", "checkpoint"],
    ),
    ("train.py", "resume_corrupt_config", ["--model_dir={corrupt_config}", "--resume"], ["config.json"]),
    (
        "train.py",
        "resume_truncated_checkpoint",
        ["--model_dir={truncated}", "--resume", "--steps=4", "--hidden_channels=4", "--num_blocks=1"],
        ["checkpoint"],
    ),
    ("train.py", "num_scales_too_many", ["--model_dir={root}/new", "--num_scales=4"], ["num_scales"]),
    ("train.py", "model_unknown", ["--model_dir={root}/new", "--model=glwo"], ["glwo"]),
    (
        "train.py",
        "option_of_another_model",
        ["--model_dir={root}/new", "--model=glow", "--num_blocks=1"],
        ["num_blocks"],
    ),
    (
        "train.py",
        "glow_num_scales_too_many",
        ["--model_dir={root}/new", "--model=glow", "--num_scales=4"],
        ["num_scales"],
    ),
    ("train.py", "resume_as_another_model", ["--model_dir={run}", "--resume", "--model=nice"], ["model"]),
    ("train.py", "num_scales_0", ["--model_dir={root}/new", "--num_scales=0"], ["num_scales"]),
    ("train.py", "num_cpu_devices_negative", ["--num_cpu_devices=-1"], ["num_cpu_devices"]),
    ("train.py", "condition_unknown", ["--condition=class"], ["condition"]),
    (
        "train.py",
        "condition_label_without_labels",
        ["--model_dir={root}/new", "--dataset=moons", "--condition=label"],
        ["condition", "labels"],
    ),
    ("train.py", "resume_with_a_condition", ["--model_dir={run}", "--resume", "--condition=label"], ["condition"]),
    ("sample.py", "label_of_an_unconditional_run", ["--model_dir={run}", "--label=3"], ["label", "unconditional"]),
    ("train.py", "hidden_units_abc", ["--hidden_units=abc"], ["hidden_units"]),
    ("train.py", "hidden_units_empty", ["--hidden_units="], ["hidden_units"]),
    ("train.py", "hidden_units_zero", ["--hidden_units=0,8"], ["hidden_units"]),
    ("train.py", "epochs_negative", ["--epochs=-1"], ["epochs"]),
    ("train.py", "epochs_no_full_batch", ["--model_dir={root}/new", "--epochs=1", "--batch_size=5000"], ["epochs"]),
    ("train.py", "temperature_nan", ["--temperature=nan"], ["temperature"]),
    ("train.py", "temperature_negative", ["--temperature=-1"], ["temperature"]),
    ("train.py", "time_budget_negative", ["--time_budget=-5"], ["time_budget"]),
    ("train.py", "learning_rate_0", ["--model_dir={root}/new", "--learning_rate=0"], ["learning_rate"]),
    ("train.py", "learning_rate_inf", ["--learning_rate=inf"], ["learning_rate"]),
    ("train.py", "learning_rate_nan", ["--learning_rate=nan"], ["learning_rate"]),
    ("train.py", "l2_negative", ["--l2=-1"], ["l2"]),
    ("train.py", "l2_nan", ["--l2=nan"], ["l2"]),
    ("train.py", "clip_norm_negative", ["--clip_norm=-1"], ["clip_norm"]),
    ("train.py", "ema_decay_1", ["--model_dir={root}/new", "--ema_decay=1"], ["ema_decay"]),
    ("train.py", "dropout_1_5", ["--model_dir={root}/new", "--dropout=1.5"], ["dropout"]),
    ("train.py", "dropout_negative", ["--model_dir={root}/new", "--dropout=-0.1"], ["dropout"]),
    ("train.py", "momentum_2", ["--model_dir={root}/new", "--batch_norm_momentum=2"], ["batch_norm_momentum"]),
    ("train.py", "validation_size_minus_2", ["--validation_size=-2"], ["validation_size"]),
    ("train.py", "validation_size_all", ["--model_dir={root}/new", "--validation_size=100000"], ["validation_size"]),
    ("train.py", "export_dir_file", ["--model_dir={root}/new", "--export_dir={file}"], ["export_dir"]),
    ("train.py", "export_dir_unrelated", ["--model_dir={root}/new", "--export_dir={unrelated}"], ["export_dir"]),
    ("train.py", "seed_negative", ["--seed=-1"], ["seed"]),
    ("train.py", "steps_abc", ["--steps=abc"], ["steps"]),
    ("train.py", "steps_0", ["--steps=0"], ["steps"]),
    ("train.py", "batch_size_negative", ["--batch_size=-3"], ["batch_size"]),
    ("train.py", "strategy_unknown", ["--strategy=foo"], ["strategy"]),
    (
        "train.py",
        "multi_worker_without_tf_config",
        ["--model_dir={root}/new", "--strategy=multi_worker"],
        ["TF_CONFIG"],
    ),
    ("train.py", "dequantization_unknown", ["--dequantization=foo"], ["dequantization"]),
    ("train.py", "decay_unknown", ["--decay=linear"], ["decay"]),
    ("train.py", "dataset_unknown", ["--dataset=mnsit"], ["mnsit"]),
    (
        "train.py",
        "data_dir_missing",
        ["--model_dir={root}/new", "--dataset=mnist", "--data_dir={root}/nowhere"],
        ["nowhere"],
    ),
    ("train.py", "data_dir_file", ["--model_dir={root}/new", "--dataset=mnist", "--data_dir={file}"], ["a_file"]),
    ("train.py", "data_dir_empty", ["--model_dir={root}/new", "--dataset=mnist", "--data_dir={empty}"], ["empty"]),
    ("train.py", "tabular_without_data_dir", ["--model_dir={root}/new", "--dataset=power"], ["power", "data_dir"]),
    (
        "train.py",
        "tabular_data_dir_missing",
        ["--model_dir={root}/new", "--dataset=hepmass", "--data_dir={root}/nowhere"],
        ["nowhere"],
    ),
    (
        "train.py",
        "tabular_file_missing",
        ["--model_dir={root}/new", "--dataset=miniboone", "--data_dir={empty}"],
        ["miniboone/data.npy", "nothing is downloaded"],
    ),
    ("train.py", "vector_dropout", ["--model_dir={root}/new", "--dataset=moons", "--dropout=0.2"], ["dropout"]),
    ("train.py", "vector_squeeze_first", ["--model_dir={root}/new", "--dataset=moons", "--squeeze_first"], ["squeeze"]),
    ("train.py", "num_couplings_0", ["--num_couplings=0"], ["num_couplings"]),
    ("train.py", "hidden_channels_0", ["--hidden_channels=0"], ["hidden_channels"]),
    ("train.py", "num_blocks_negative", ["--num_blocks=-1"], ["num_blocks"]),
    ("train.py", "warmup_negative", ["--warmup_steps=-1"], ["warmup_steps"]),
    ("train.py", "checkpoint_every_0", ["--checkpoint_every=0"], ["checkpoint_every"]),
    ("train.py", "log_every_0", ["--log_every=0"], ["log_every"]),
    ("train.py", "eval_every_negative", ["--eval_every=-1"], ["eval_every"]),
    ("train.py", "test_draws_0", ["--test_draws=0"], ["test_draws"]),
    ("train.py", "num_samples_0", ["--num_samples=0"], ["num_samples"]),
    ("train.py", "unknown_flag", ["--hidden_chanels=8"], ["hidden_chanels"]),
    ("train.py", "positional_argument", ["digits"], ["unexpected"]),
    ("evaluate.py", "dataset_of_other_shape", ["--model_dir={run}", "--dataset=moons"], ["moons", "shape"]),
    ("evaluate.py", "model_of_another_run", ["--model_dir={run}", "--model=glow"], ["glow", "realnvp"]),
    (
        "evaluate.py",
        "model_of_another_export",
        ["--saved_model={export}", "--dataset=digits", "--model=nice"],
        ["nice"],
    ),
    ("evaluate.py", "export_dataset_of_other_shape", ["--saved_model={export}", "--dataset=moons"], ["moons", "shape"]),
    (
        "evaluate.py",
        "export_on_tabular_data",
        ["--saved_model={export}", "--dataset=breast_cancer"],
        ["breast_cancer", "shape [30]"],
    ),
    (
        "evaluate.py",
        "pixel_levels_mismatch",
        ["--model_dir={run}", "--dataset=mnist", "--data_dir=" + os.path.join(ROOT, "..", "shared", "data", "mnist")],
        ["17-level", "256-level"],
    ),
    ("evaluate.py", "batch_size_0", ["--model_dir={run}", "--batch_size=0"], ["batch_size"]),
    ("evaluate.py", "batch_size_negative", ["--model_dir={run}", "--batch_size=-5"], ["batch_size"]),
    ("evaluate.py", "test_draws_0", ["--model_dir={run}", "--test_draws=0"], ["test_draws"]),
    ("evaluate.py", "model_dir_missing", ["--model_dir={root}/nowhere"], ["nowhere"]),
    ("evaluate.py", "saved_model_missing", ["--saved_model={root}/nowhere", "--dataset=digits"], ["nowhere"]),
    ("evaluate.py", "saved_model_not_export", ["--saved_model={unrelated}", "--dataset=digits"], ["saved_model.pb"]),
    ("evaluate.py", "neither", [], ["model_dir", "saved_model"]),
    ("evaluate.py", "both", ["--model_dir={run}", "--saved_model={export}"], ["model_dir", "saved_model"]),
    ("evaluate.py", "saved_model_without_dataset", ["--saved_model={export}"], ["dataset"]),
    ("evaluate.py", "corrupt_config", ["--model_dir={corrupt_config}"], ["config.json"]),
    ("evaluate.py", "truncated_checkpoint", ["--model_dir={truncated}"], ["checkpoint"]),
    ("evaluate.py", "config_only", ["--model_dir={config_only}"], ["checkpoint"]),
    ("evaluate.py", "dataset_unknown", ["--model_dir={run}", "--dataset=mnsit"], ["mnsit"]),
    ("sample.py", "temperature_nan", ["--model_dir={run}", "--temperature=nan"], ["temperature"]),
    ("sample.py", "model_of_another_export", ["--saved_model={export}", "--model=glow"], ["glow"]),
    ("sample.py", "temperature_negative", ["--model_dir={run}", "--temperature=-1"], ["temperature"]),
    ("sample.py", "temperature_inf", ["--saved_model={export}", "--temperature=inf"], ["temperature"]),
    ("sample.py", "num_samples_0", ["--model_dir={run}", "--num_samples=0"], ["num_samples"]),
    ("sample.py", "out_directory", ["--model_dir={run}", "--out={empty}"], ["out", "directory"]),
    ("sample.py", "too_many_pairs", ["--model_dir={run}", "--interpolate", "--pairs=1000"], ["pairs"]),
    ("sample.py", "steps_negative", ["--model_dir={run}", "--interpolate", "--steps=-1"], ["steps"]),
    ("sample.py", "steps_1", ["--model_dir={run}", "--interpolate", "--steps=1"], ["steps"]),
    ("sample.py", "interpolate_saved_model", ["--saved_model={export}", "--interpolate"], ["interpolate"]),
    ("sample.py", "neither", [], ["model_dir", "saved_model"]),
    ("sample.py", "model_dir_missing", ["--model_dir={root}/nowhere"], ["nowhere"]),
    ("sample.py", "saved_model_missing", ["--saved_model={root}/nowhere"], ["nowhere"]),
    ("sample.py", "corrupt_config", ["--model_dir={corrupt_config}"], ["config.json"]),
    ("sample.py", "truncated_checkpoint", ["--model_dir={truncated}"], ["checkpoint"]),
    ("sample.py", "seed_negative", ["--model_dir={run}", "--seed=-1"], ["seed"]),
    ("diagnose.py", "neither", [], ["model_dir", "saved_model"]),
    ("diagnose.py", "both", ["--model_dir={run}", "--saved_model={export}"], ["model_dir", "saved_model"]),
    ("diagnose.py", "saved_model_without_dataset", ["--saved_model={export}"], ["dataset"]),
    ("diagnose.py", "model_dir_missing", ["--model_dir={root}/nowhere"], ["nowhere"]),
    ("diagnose.py", "saved_model_not_export", ["--saved_model={unrelated}", "--dataset=digits"], ["saved_model.pb"]),
    ("diagnose.py", "corrupt_config", ["--model_dir={corrupt_config}"], ["config.json"]),
    ("diagnose.py", "truncated_checkpoint", ["--model_dir={truncated}"], ["checkpoint"]),
    ("diagnose.py", "out_directory", ["--model_dir={run}", "--out={empty}"], ["out", "directory"]),
    ("diagnose.py", "num_points_0", ["--model_dir={run}", "--num_points=0"], ["num_points"]),
    ("diagnose.py", "dataset_of_other_shape", ["--model_dir={run}", "--dataset=moons"], ["moons", "shape"]),
    ("diagnose.py", "model_of_another_run", ["--model_dir={run}", "--model=nice"], ["nice"]),
]


# Runs judged by their own tests, through the same driver: (script, id, args with {placeholders}).
OWN_CASES = [
    (
        "diagnose.py",
        "model_dir",
        ["--model_dir={run}", "--dataset=digits", "--out={out}/model_dir.png", "--num_points=50"],
    ),
    (
        "diagnose.py",
        "saved_model",
        ["--saved_model={export}", "--dataset=digits", "--out={out}/saved_model.png", "--num_points=50"],
    ),
    ("train.py", "verbose_error", ["--model_dir={out}/r", "--num_scales=4", "--verbose"]),
]


@pytest.fixture(scope="module")
def driver_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("driver")


@pytest.fixture(scope="module")
def cli_results(places, driver_dir):
    """Every case of CLI_CASES and OWN_CASES, in one driver process (TensorFlow starts once)."""
    values = {**places, "out": driver_dir}
    cases = [
        {"id": case_id, "script": s, "args": [a.format(**values) for a in args], "watch": str(places["root"])}
        for s, case_id, args, _ in CLI_CASES
    ]
    cases += [
        {"id": case_id, "script": s, "args": [a.format(**values) for a in args]} for s, case_id, args in OWN_CASES
    ]
    (driver_dir / "cases.json").write_text(json.dumps(cases))
    driver = [sys.executable, os.path.join(ROOT, "tests", "cli_fuzz_driver.py")]
    proc = subprocess.run(
        [*driver, str(driver_dir / "cases.json"), str(driver_dir / "out.json")],
        cwd=ROOT,
        capture_output=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return json.loads((driver_dir / "out.json").read_text())


def _judge_cli(result, names):
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    if result["changed"]:
        return "damage", f"changed {result['changed']}"
    if result["code"] == 0:
        return "silent", "exit status 0"
    if "Traceback" in result["stderr"] or len(lines) != 1 or not lines[0].startswith("error: "):
        return "unclear", f"exit {result['code']}, stderr: {result['stderr'][-500:]}"
    missing = [n for n in names if n.lower() not in lines[0].lower()]
    if missing or result["code"] != 2:
        return "unclear", f"exit {result['code']}, misses {missing}: {lines[0]}"
    return "clear", lines[0]


@pytest.mark.parametrize("script, case_id, args, names", CLI_CASES, ids=[f"{c[0]}:{c[1]}" for c in CLI_CASES])
def test_cli_bad_input(cli_results, script, case_id, args, names):
    outcome, detail = _judge_cli(cli_results[f"{script}:{case_id}"], names)
    record(f"{script}:{case_id}", outcome, detail)
    assert outcome == "clear", detail


@pytest.mark.parametrize("source", ["model_dir", "saved_model"])
def test_diagnose_prints_the_terms_and_the_latents_and_writes_the_picture(cli_results, driver_dir, source):
    result = cli_results[f"diagnose.py:{source}"]
    assert result["code"] == 0, result["stderr"]
    lines = result["stdout"].splitlines()
    assert any(line.startswith("prior ") for line in lines) and any("bits/dim" in line for line in lines)
    assert any(line.startswith("scale 1 ") for line in lines)  # two scales
    assert (driver_dir / f"{source}.png").stat().st_size > 10_000


def test_cli_error_is_one_line_without_start_up_noise_in_a_real_process(cli_results):
    """As a user sees it: no TensorFlow notices, one line, exit status 2; --verbose adds the traceback."""
    proc = _script("train.py", "--batch_size=0")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: flag --batch_size=0: 0 is not a positive integer"]
    verbose = cli_results["train.py:verbose_error"]
    assert verbose["code"] == 2 and "Traceback" in verbose["stderr"]
    assert "num_scales" in verbose["stderr"].splitlines()[-1]


def test_cli_uneven_replica_split_is_refused_before_anything_is_written(tmp_path):
    """Its own process: --num_cpu_devices splits the CPU before TensorFlow starts."""
    proc = _script(
        "train.py", "--batch_size=3", "--strategy=mirrored", "--num_cpu_devices=2", f"--model_dir={tmp_path}/r"
    )
    outcome, detail = _judge_cli(
        {"code": proc.returncode, "stderr": proc.stderr, "changed": []}, ["batch_size", "2 replicas"]
    )
    record("train.py:uneven_replica_split", outcome, detail)
    assert outcome == "clear", detail
    assert not os.path.exists(tmp_path / "r")


# ---------------------------------------------------------------------------- the config, in Python
_BAD_FIELD_VALUES = {
    "a positive int": [0, -1, 2.5, True, "3"],
    "an int >= 0": [-1, 1.5, False],
    "an int >= -1 (-1: automatic)": [-2, 0.5],
    "True or False": [1, "yes"],
    "a number in [0, 1)": [1.0, -0.1, float("nan"), "0.5"],
    "a finite number > 0": [0, -1e-3, float("inf"), float("nan"), True],
    "a finite number >= 0": [-1, float("nan"), float("inf")],
    "a finite number > 0 or None": [0, float("nan"), -1],
    "a finite number of seconds > 0 or None": [0, -5, float("inf")],
    "'uniform' or 'variational'": ["gaussian", 3],
    "'none' or 'cosine'": ["linear", 0],
    "'none' or 'label'": ["labels", "class", 1],
    "'logistic' or 'normal'": ["gaussian", 1],
    "'reverse', 'random', 'linear' or 'none'": ["shuffle", "REVERSE", 1],
    "a non-empty path": ["", 3, None],
    "a path or None": ["", 3],
}


def _model_taking(field):
    """A registered model whose constructor takes `field` (Real NVP for the training fields)."""
    return next((m for m in MODELS if field not in MODEL_FIELDS or field in model_options(m)), "realnvp")


CONFIG_CASES = [
    Case(
        f"config_{name}_{value!r}",
        lambda n=name, v=value: ExperimentConfig(model=_model_taking(n), **{n: v}),
        (name,),
    )
    for name, (what, _) in _FIELD_RULES.items()
    for value in _BAD_FIELD_VALUES[what]
] + [
    Case("config_dataset", lambda: ExperimentConfig(dataset="mnsit"), ("mnsit",)),
    Case("config_model", lambda: ExperimentConfig(model="glwo"), ("glwo",)),
    Case("config_option_of_another_model", lambda: ExperimentConfig(model="nice", num_blocks=1), ("num_blocks",)),
    Case("config_hidden_units_str", lambda: ExperimentConfig(hidden_units="128"), ("hidden_units",)),
    Case("config_hidden_units_empty", lambda: ExperimentConfig(hidden_units=()), ("hidden_units",)),
    Case("config_hidden_units_float", lambda: ExperimentConfig(hidden_units=(1.5,)), ("hidden_units",)),
]


@pytest.mark.parametrize("case", CONFIG_CASES, ids=lambda c: c.id)
def test_config_bad_input(case):
    check(case)


# ---------------------------------------------------------------------------- SavedModel, export, data
def _signature_cases(export):
    loaded = load_exported(export)
    sig = loaded.signatures
    ok = tf.fill([2, 8, 8, 1], 3.0)

    def call(name, **kw):
        return lambda: sig[name](**kw)

    return [
        Case("sig_log_prob_shape", call("log_prob", images=tf.zeros([2, 8, 8, 3])), ("images", "shape")),
        Case("sig_log_prob_rank", call("log_prob", images=tf.zeros([8, 8, 1])), ("images", "shape")),
        Case("sig_log_prob_nan", call("log_prob", images=tf.fill([2, 8, 8, 1], np.nan)), ("images", "nan")),
        Case("sig_log_prob_inf", call("log_prob", images=tf.fill([2, 8, 8, 1], np.inf)), ("images", "inf")),
        Case("sig_log_prob_levels", call("log_prob", images=tf.fill([2, 8, 8, 1], 17.0)), ("pixels", "[0, 17)")),
        Case("sig_log_prob_negative", call("log_prob", images=tf.fill([2, 8, 8, 1], -0.5)), ("pixels", "[0, 17)")),
        Case("sig_log_prob_dtype", call("log_prob", images=tf.zeros([2, 8, 8, 1], tf.int32)), ("float", "int32")),
        Case("sig_bits_per_dim_nan", call("bits_per_dim", images=tf.fill([1, 8, 8, 1], np.nan)), ("nan",)),
        Case("sig_encode_levels", call("encode", images=ok + 20.0), ("pixels",)),
        Case("sig_decode_shape", call("decode", latents=tf.zeros([1, 8, 8, 2])), ("latents", "shape")),
        Case("sig_decode_nan", call("decode", latents=tf.fill([1, 8, 8, 1], np.nan)), ("latents", "nan")),
        Case(
            "sig_sample_negative",
            call("sample", num_samples=tf.constant(-1), temperature=tf.constant(1.0)),
            ("num_samples",),
        ),
        Case(
            "sig_sample_shape",
            call("sample", num_samples=tf.constant([2]), temperature=tf.constant(1.0)),
            ("num_samples", "shape"),
        ),
        Case(
            "sig_sample_temperature_nan",
            call("sample", num_samples=tf.constant(2), temperature=tf.constant(np.nan)),
            ("temperature",),
        ),
        Case(
            "sig_sample_temperature_negative",
            call("sample", num_samples=tf.constant(2), temperature=tf.constant(-1.0)),
            ("temperature",),
        ),
        Case("fn_log_prob_shape", lambda: loaded.log_prob(tf.zeros([2, 8, 8, 3])), ("images",)),
    ]


def test_savedmodel_signatures_bad_input(places):
    cases = _signature_cases(places["export"])
    failures = []
    for case in cases:
        outcome, detail = judge(case, str(places["root"]))
        if outcome != "clear":
            failures.append(f"{case.id}: {outcome}: {detail}")
    assert not failures, "\n".join(failures)


API_CASES = [
    Case("export_not_a_flow", lambda: export_saved_model(42, "/tmp/never"), ("flow",)),
    Case("export_dir_empty", lambda: check_export_dir(""), ("export_dir",)),
    Case("export_dir_none", lambda: check_export_dir(None), ("export_dir",)),
    Case("load_exported_missing", lambda: load_exported("/nonexistent/export"), ("/nonexistent/export",)),
    Case(
        "load_digits_bad_pipeline_float",
        lambda: data.image_dataset(np.zeros([4, 8, 8, 1], np.float32), 17, 2, training=True),
        ("dtype",),
    ),
    Case(
        "image_dataset_out_of_range",
        lambda: data.image_dataset(np.full([4, 8, 8, 1], 17, np.uint8), 17, 2, training=True),
        ("[0, 17)",),
    ),
    Case(
        "image_dataset_batch_0",
        lambda: data.image_dataset(np.zeros([4, 8, 8, 1], np.uint8), 17, 0, training=True),
        ("batch_size",),
    ),
    Case(
        "vector_dataset_nan",
        lambda: data.vector_dataset(np.full([4, 2], np.nan, np.float32), 2, training=True),
        ("nan",),
    ),
    Case("vector_dataset_rank", lambda: data.vector_dataset(np.zeros([4], np.float32), 2, training=True), ("shape",)),
    Case("dequantize_draws_0", lambda: data.dequantize_draws(np.zeros([2, 8, 8, 1], np.uint8), 17, 0, 0), ("draws",)),
    Case("toy2d_unknown", lambda: data.toy2d("spiral", 10, 0), ("spiral",)),
    Case("toy2d_n_0", lambda: data.toy2d("moons", 0, 0), ("n",)),
    Case("load_images_unknown", lambda: data.load_images("imagenet"), ("imagenet",)),
    Case(
        "read_mnist_missing", lambda: data.read_mnist_idx("/nonexistent/train-images-idx3-ubyte.gz"), ("/nonexistent",)
    ),
]


@pytest.mark.parametrize("case", API_CASES, ids=lambda c: c.id)
def test_export_and_data_bad_input(case):
    check(case)


def test_corrupt_data_files_are_named(tmp_path):
    """Corrupt or truncated local files: the loader names the file."""
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"this is not gzip")
    check(Case("read_mnist_not_gzip", lambda: data.read_mnist_idx(bad), (bad.name,)))
    cifar = tmp_path / "data_batch_1.bin"
    cifar.write_bytes(b"\x00" * 100)
    check(Case("read_cifar_truncated", lambda: data.read_cifar10_bin(cifar), (cifar.name,)))
    (tmp_path / "miniboone").mkdir()
    npy = tmp_path / "miniboone" / "data.npy"
    np.save(npy, np.ones((40, 43)))
    npy.write_bytes(npy.read_bytes()[:-50])
    check(Case("miniboone_truncated", lambda: data.load_miniboone(tmp_path), (str(npy), "truncated")))
    (tmp_path / "BSDS300").mkdir()
    hdf5 = tmp_path / "BSDS300" / "BSDS300.hdf5"
    hdf5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    check(Case("bsds300_corrupt", lambda: data.load_bsds300(tmp_path), (str(hdf5), "HDF5")))


def test_trainer_resume_from_a_truncated_checkpoint_names_it(places):
    from tfp_realnvp.experiment import _saved_run, build_flow
    from tfp_realnvp.training import TrainConfig, Trainer

    config = _saved_run(str(places["truncated"]))["config"]
    trainer = Trainer(
        lambda: build_flow(config, (8, 8, 1), 17), TrainConfig(steps=4, batch_size=16), str(places["truncated"])
    )
    batches = data.image_dataset(data.load_digits().train[:64], 17, 16, training=True, seed=0)
    before = sorted(os.listdir(places["truncated"] / "checkpoints"))
    check(Case("trainer_resume_truncated", lambda: trainer.fit(batches, resume=True, verbose=False), ("checkpoint",)))
    assert sorted(os.listdir(places["truncated"] / "checkpoints")) == before


@pytest.mark.slow  # ~18 s: a second training run; the fixture run itself is checked by every CLI case
def test_the_fixture_run_saved_every_flag_and_resumes(places, tmp_path):
    """The good path of the same script: every flag reaches config.json (unset ones take the digits
    recipe) and `--resume` with more steps continues the run."""
    saved = json.loads((places["run"] / "config.json").read_text())["config"]
    fields = ("validation_size", "hidden_channels", "batch_norm", "l2")
    assert tuple(saved[k] for k in fields) == (30, 4, False, 5e-5)
    assert saved["dequantization"] == "variational" and saved["steps"] == 2
    run = tmp_path / "run"
    shutil.copytree(places["run"], run)
    more = [a for a in TINY if not a.startswith("--steps")]
    proc = _script("train.py", *more, "--steps=3", "--resume", f"--model_dir={run}", f"--export_dir={tmp_path}/e")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "test bits/dim (17-level pixels)" in proc.stdout
    assert json.loads((run / "metrics.json").read_text())["steps"] == 3
