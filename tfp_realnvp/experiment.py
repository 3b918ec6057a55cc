"""One experiment end to end: data -> flow -> training -> test bits/dim -> SavedModel -> pictures."""

import dataclasses
import inspect
import json
import math
import os
import time

import numpy as np
import tensorflow as tf

from tfp_realnvp import data as data_lib
from tfp_realnvp._validation import check_sizes, is_int
from tfp_realnvp.models import MODELS, Flow
from tfp_realnvp.training import TrainConfig, Trainer, evaluate, write_json_atomic

__all__ = ["RECIPES", "ExperimentConfig", "build_flow", "load_data", "restore_flow", "run_experiment"]


# Defaults that depend on the kind of data ("image" or "vector"), refined by the dataset's own entry
# (e.g. digits); a model's name (a key of MODELS) nests what applies to that model alone. Their
# reasons are measured in bench/README.md ("Why the recipes"). In short: 2-D densities learn best
# without batch norm, with a warm-up and cosine decay and no L2; images keep Real NVP's batch norm
# and L2, conditioner dropout and a moving average of the weights against overfitting, and learned
# dequantization (Glow likewise); digits train a smaller Real NVP (20 feature maps, 1 residual block)
# and a 32-map Glow for longer. Real NVP on vectors peaks at learning rate 2e-3: its couplings' gentle
# start (models/realnvp.py) moves the shifts and log-scales little per step, which a user's plain
# Adam(1e-3) loop needs and the recipe's warm-up and decay do not.
RECIPES = {
    "image": dict(
        batch_size=64,
        learning_rate=1e-3,
        steps=1000,
        decay="none",
        warmup_steps=0,
        l2=5e-5,
        ema_decay=0.999,
        realnvp=dict(hidden_channels=32, num_blocks=2, batch_norm=True, dropout=0.2, dequantization="variational"),
        glow=dict(dequantization="variational", dropout=0.2),
    ),
    "vector": dict(
        batch_size=512,
        steps=3000,
        learning_rate=1e-3,
        decay="cosine",
        warmup_steps=300,
        l2=0.0,
        ema_decay=0.0,
        realnvp=dict(batch_norm=False, dropout=0.0, learning_rate=2e-3),
    ),
    "digits": dict(
        steps=4000,
        realnvp=dict(hidden_channels=20, num_blocks=1, batch_norm=False),
        glow=dict(hidden_channels=32, num_steps=8),
    ),
}


@dataclasses.dataclass
class ExperimentConfig:
    """Everything a run needs; saved as `config.json` in `model_dir`. Fields left None take the
    default of the data's kind from `RECIPES`, refined by the dataset's own entry (e.g. digits)."""

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "realnvp"  # a key of tfp_realnvp.models.MODELS
    condition: str = "none"  # "label": a class-conditional flow p(x | label) (image datasets with labels)
    # The model's options: None takes the recipe's value, else the model's own default. A field the
    # model's constructor does not take stays None (setting it is an error).
    num_scales: int | None = None
    num_blocks: int | None = None
    hidden_channels: int | None = None
    squeeze_first: bool | None = None  # checkerboard couplings on the squeezed grid (RealNVP's `squeeze_first`)
    dequantization: str | None = None  # "uniform" or "variational" (images)
    dropout: float | None = None
    num_couplings: int | None = None
    hidden_units: tuple | None = None
    num_steps: int | None = None  # Glow's steps of flow per level
    prior: str | None = None  # NICE's "logistic" or "normal"
    batch_norm: bool | None = None
    batch_norm_momentum: float | None = None
    additive: bool | None = None
    output_scale: float | None = None  # Real NVP vectors: the constant multiplying every MLP conditioner's output
    num_layers: int | None = None  # autoregressive layers (MAF, IAF and their kin)
    residual_blocks: int | None = None  # masked residual blocks per MADE
    mixing: str | None = None  # between autoregressive layers: "reverse", "random", "linear" or "none"
    sigmoid_units: int | None = None  # NAF: units of each deep sigmoidal transformer
    degree: int | None = None  # SOS: degree of each polynomial
    num_squares: int | None = None  # SOS: polynomials squared and summed per dimension
    mixed_precision: bool = False  # conditioners in float16 on GPUs (bfloat16 on CPUs); log-dets, loss in float32
    # training
    batch_size: int | None = None
    steps: int | None = None
    epochs: int = 0  # > 0 overrides `steps`
    learning_rate: float | None = None
    warmup_steps: int | None = None
    decay: str | None = None
    l2: float | None = None
    clip_norm: float | None = 100.0
    ema_decay: float | None = None
    jit_compile: bool = False  # XLA: faster steps for small conditioners, a longer first step (bench/README.md)
    seed: int = 0
    eval_every: int = 50
    checkpoint_every: int = 500
    log_every: int = 50
    test_draws: int = 4
    validation_size: int = -1  # training images held out to pick the best checkpoint; -1: auto, 0: none
    time_budget: float | None = None  # seconds of training (evaluation excluded); None: no limit
    # outputs
    model_dir: str = "runs/digits"
    export_dir: str | None = None  # default saved_models/<dataset>
    resume: bool = False
    num_samples: int = 64
    temperature: float = 1.0

    def __post_init__(self):
        known = data_lib.IMAGE_DATASETS + data_lib.TOY_DATASETS + data_lib.TABULAR_DATASETS
        if self.dataset not in known:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose from {', '.join(known)}")
        if self.dataset in data_lib.MAF_DATASETS and self.data_dir is None:
            raise ValueError(
                f"`dataset` {self.dataset!r} is read from the MAF data release on disk: pass `data_dir` "
                "(the folder holding power/, gas/, hepmass/, miniboone/, BSDS300/); nothing is downloaded"
            )
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        if self.hidden_units is not None:
            self.hidden_units = check_sizes(self.hidden_units, "`hidden_units`")
        takes = model_options(self.model)
        for name in MODEL_FIELDS - takes:
            if getattr(self, name) is not None:
                raise ValueError(
                    f"`{name}` does not apply to model {self.model!r} (its options: {', '.join(sorted(takes))})"
                )
        recipe = {}  # the dataset's entry refines its kind's; a model's own values refine both
        for layer in (RECIPES["image" if self.is_image else "vector"], RECIPES.get(self.dataset, {})):
            recipe.update({k: v for k, v in layer.items() if k not in MODELS}, **layer.get(self.model, {}))
        for key, value in recipe.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        defaults = inspect.signature(MODELS[self.model]).parameters
        for name in takes:
            if getattr(self, name) is None:
                setattr(self, name, defaults[name].default)
        if isinstance(self.hidden_units, list):
            self.hidden_units = tuple(self.hidden_units)
        for name, rule in _FIELD_RULES.items():
            value = getattr(self, name)
            if not (name in MODEL_FIELDS and value is None):
                _check_field(name, value, rule)

    def train_config(self, **overrides) -> TrainConfig:
        """The `TrainConfig` of this run's optimizer, schedule and loop settings; `overrides` (e.g.
        `steps=`, `batch_size=`, `jit_compile=`) replace fields."""
        fields = dict(
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup_steps=self.warmup_steps,
            decay=self.decay,
            l2=self.l2,
            clip_norm=self.clip_norm,
            ema_decay=self.ema_decay,
            log_every=self.log_every,
            eval_every=self.eval_every,
            checkpoint_every=self.checkpoint_every,
            jit_compile=self.jit_compile,
            seed=self.seed,
        )
        return TrainConfig(**{**fields, **overrides})

    @property
    def is_image(self):
        return self.dataset in data_lib.IMAGE_DATASETS

    def to_json(self):
        return dataclasses.asdict(self)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


_POSITIVE = ("a positive int", lambda v: is_int(v) and v >= 1)
_NON_NEGATIVE = ("an int >= 0", lambda v: is_int(v) and v >= 0)
_BOOL = ("True or False", lambda v: isinstance(v, (bool, np.bool_)))
_FRACTION = ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1)
_PATH_OR_NONE = ("a path or None", lambda v: v is None or isinstance(v, str) and v.strip() != "")
# A model option that no registered model takes yet is outside MODEL_FIELDS, so its rule also sees
# its default (None): the rule lets None through (any value set is still checked).
_POSITIVE_OPTION = ("a positive int", lambda v: v is None or is_int(v) and v >= 1)
# Field -> (what it must be, test). A model option that the model does not take stays None.
_FIELD_RULES = {
    **dict.fromkeys(
        ("num_scales", "num_couplings", "num_steps", "batch_size", "steps", "checkpoint_every", "log_every"), _POSITIVE
    ),
    "test_draws": _POSITIVE,
    "num_samples": _POSITIVE,
    **dict.fromkeys(("epochs", "warmup_steps", "seed", "eval_every"), _NON_NEGATIVE),
    "hidden_channels": _POSITIVE,
    "num_blocks": _NON_NEGATIVE,
    "num_layers": _POSITIVE,
    "residual_blocks": _NON_NEGATIVE,
    "mixing": ("'reverse', 'random', 'linear' or 'none'", lambda v: v in ("reverse", "random", "linear", "none")),
    **dict.fromkeys(("sigmoid_units", "degree", "num_squares"), _POSITIVE_OPTION),
    "validation_size": ("an int >= -1 (-1: automatic)", lambda v: is_int(v) and v >= -1),
    **dict.fromkeys(("squeeze_first", "batch_norm", "additive", "mixed_precision", "jit_compile", "resume"), _BOOL),
    **dict.fromkeys(("dropout", "batch_norm_momentum", "ema_decay"), _FRACTION),
    **dict.fromkeys(
        ("learning_rate", "output_scale"), ("a finite number > 0", lambda v: _is_number(v) and 0 < v < math.inf)
    ),
    "l2": ("a finite number >= 0", lambda v: _is_number(v) and 0 <= v < math.inf),
    "temperature": ("a finite number >= 0", lambda v: _is_number(v) and 0 <= v < math.inf),
    "clip_norm": ("a finite number > 0 or None", lambda v: v is None or _is_number(v) and 0 < v < math.inf),
    "time_budget": (
        "a finite number of seconds > 0 or None",
        lambda v: v is None or _is_number(v) and 0 < v < math.inf,
    ),
    "dequantization": ("'uniform' or 'variational'", lambda v: v in ("uniform", "variational")),
    "prior": ("'logistic' or 'normal'", lambda v: v in ("logistic", "normal")),
    "decay": ("'none' or 'cosine'", lambda v: v in ("none", "cosine")),
    "condition": ("'none' or 'label'", lambda v: v in ("none", "label")),
    "model_dir": ("a non-empty path", lambda v: isinstance(v, str) and v.strip() != ""),
    **dict.fromkeys(("data_dir", "export_dir"), _PATH_OR_NONE),
}


# The config fields that are some registered model's constructor arguments; `seed` is every model's.
MODEL_FIELDS = frozenset(
    f.name
    for f in dataclasses.fields(ExperimentConfig)
    if f.name != "seed" and any(f.name in inspect.signature(m).parameters for m in MODELS.values())
)


def model_options(model: str, image: bool | None = None) -> frozenset:
    """The config fields that model `model`'s constructor takes (`image` True / False: those that
    shape its flows of images / vectors)."""
    cls = MODELS[model]
    names = frozenset(inspect.signature(cls).parameters) if image is None else cls.options(image)
    return MODEL_FIELDS & names


def _check_field(name, value, rule):
    what, test = rule
    if not test(value):
        raise ValueError(f"`{name}` must be {what}, got {value!r}")


@dataclasses.dataclass
class Data:
    """Training arrays and what the flow needs to know about them."""

    train: np.ndarray  # uint8 pixels [N, H, W, C] or float32 points [N, D]
    test: np.ndarray
    levels: int | None  # pixel levels; None for vectors
    validation: np.ndarray | None = None  # held out from the training split
    # A conditional run's conditions, one row per example of each split (one-hot labels), else None.
    train_conditions: np.ndarray | None = None
    test_conditions: np.ndarray | None = None
    validation_conditions: np.ndarray | None = None

    @property
    def event_shape(self):
        return tuple(self.train.shape[1:])

    @property
    def condition_dims(self):
        return 0 if self.train_conditions is None else int(self.train_conditions.shape[1])


def load_data(config: ExperimentConfig) -> Data:
    """The dataset; for images the LAST `validation_size` training images become the validation
    set (auto: 10% of the training split, at most 5000). Tabular sets bring their own validation
    split (`validation_size` does not apply); 2-D toy densities have none."""
    if config.condition != "none" and not config.is_image:
        raise ValueError(f"`condition`={config.condition!r} needs class labels; dataset {config.dataset!r} has none")
    if config.dataset in data_lib.TABULAR_DATASETS:
        table = data_lib.load_tabular(config.dataset, config.data_dir)
        return Data(table.train, table.test, None, table.validation)
    if not config.is_image:
        train, test = data_lib.toy2d_split(config.dataset, seed=config.seed)
        return Data(train, test, None)
    images = data_lib.load_images(config.dataset, config.data_dir)
    n_val = config.validation_size if config.validation_size >= 0 else min(len(images.train) // 10, 5000)
    if n_val >= len(images.train):
        raise ValueError(f"`validation_size` {n_val} leaves no training images (the split has {len(images.train)})")
    conditions = {}
    if config.condition == "label":
        if images.train_labels is None:
            raise ValueError(f"`condition`='label': the {config.dataset} images were loaded without class labels")
        one_hot = np.eye(images.num_classes, dtype=np.float32)
        train_c, test_c = one_hot[images.train_labels], one_hot[images.test_labels]
        conditions = dict(train_conditions=train_c[: len(train_c) - n_val], test_conditions=test_c)
        if n_val:
            conditions["validation_conditions"] = train_c[-n_val:]
    if n_val == 0:
        return Data(images.train, images.test, images.levels, **conditions)
    return Data(images.train[:-n_val], images.test, images.levels, images.train[-n_val:], **conditions)


def build_flow(config: ExperimentConfig, event_shape, levels, condition_dims=0) -> Flow:
    """`MODELS[config.model]` for data of `event_shape` (with `levels` pixel levels, or None; a
    conditional flow with `condition_dims` > 0), built with the config's options for that model."""
    options = {name: getattr(config, name) for name in model_options(config.model)}
    return MODELS[config.model](
        event_shape=event_shape,
        pixel_levels=levels,
        compute_dtype=_mixed_dtype() if config.mixed_precision else None,
        seed=config.seed,
        condition_dims=condition_dims,
        **options,
    )


def _mixed_dtype():
    return tf.float16 if tf.config.list_logical_devices("GPU") else tf.bfloat16


def _saved_run(model_dir: str) -> dict | None:
    """The run's `config.json` (config, event shape, pixel levels), or None when there is none."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
        config = saved["config"]
        # Fields added since the run was saved take their defaults, except where a recipe's default is
        # newer than the field: runs saved before learned dequantization existed used uniform noise.
        config.setdefault("dequantization", "uniform")
        if config.get("model", "realnvp") == "realnvp" and config.get("dataset") not in data_lib.IMAGE_DATASETS:
            # `output_scale` is no weight: a vector Real NVP saved before the field existed gets the
            # constant it was built with, or its weights would be served with another scale: 0.3, or 1
            # when the run also predates the `model` field (nearly all of those predate 0.3).
            config.setdefault("output_scale", 0.3 if "model" in config else 1.0)
        saved["config"] = ExperimentConfig(**config)
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path} is not a readable run config ({type(err).__name__}: {err})") from err
    return saved


def _check_readable(path):
    """Read every tensor of the checkpoint at `path` (a resume checks this before writing anything)."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as err:
        raise ValueError(f"checkpoint {path!r} cannot be read (truncated or corrupt?): {err}") from err


def _restore(checkpoint, path, what):
    """`checkpoint.restore(path)`, with a truncated or corrupt file, or one whose variables do not
    fit the rebuilt flow (e.g. a Glow image run saved before its coupling layout changed), reported
    as such."""
    try:
        return checkpoint.restore(path)
    except (tf.errors.OpError, IndexError, ValueError) as err:
        raise ValueError(
            f"{what} checkpoint {path!r} cannot be read (truncated or corrupt, or saved by a version of the "
            f"model with other variable shapes?): {err}"
        ) from err


def restore_flow(model_dir: str, which: str = "best") -> tuple[Flow, ExperimentConfig]:
    """Rebuild the flow from `model_dir/config.json` and load a checkpoint: `which="best"` (the
    validation-chosen weights, which are also the exported ones; the latest when the run kept no
    best) or `"latest"`."""
    if which not in ("best", "latest"):
        raise ValueError(f"`which` must be 'best' or 'latest', got {which!r}")
    saved = _saved_run(model_dir)
    if saved is None:
        raise FileNotFoundError(f"no config.json in {model_dir!r}: not a training run directory")
    config = saved["config"]
    flow = build_flow(config, tuple(saved["event_shape"]), saved["levels"], saved.get("condition_dims", 0))
    best = tf.train.latest_checkpoint(os.path.join(model_dir, "best")) if which == "best" else None
    latest = best or tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(model_dir, 'checkpoints')!r}")
    _restore(tf.train.Checkpoint(flow=flow), latest, "the run's").expect_partial()
    return flow, config


# What a checkpoint's weights depend on besides the model's options: a resume must rebuild the same
# flow. And the recipe-resolved training fields a resume must keep for the run to continue exactly.
_RUN_FIELDS = ("dataset", "model", "condition", "mixed_precision", "warmup_steps", "learning_rate")


def _flag_value(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else value  # list flags: 128,128


def _check_resumable(config: ExperimentConfig):
    """Refuse (before anything is written) to resume a run whose saved flow or schedule differs
    from `config`'s, e.g. a run made before the defaults changed: naming the fields beats a failed
    restore or a silently different run. The fields compared are `_RUN_FIELDS` and the model's
    options for the run's kind of data (a digits run ignores Real NVP's vector `num_couplings`)."""
    run = _saved_run(config.model_dir)
    if run is None:
        raise FileNotFoundError(f"`resume`: {config.model_dir!r} holds no run (config.json) to resume")
    saved = run["config"]
    fields = _RUN_FIELDS + tuple(sorted(model_options(saved.model, saved.is_image)))
    changed = [k for k in fields if getattr(saved, k) != getattr(config, k)]
    if changed:
        was = ", ".join(f"{k}={getattr(saved, k)!r} (now {getattr(config, k)!r})" for k in changed)
        flags = " ".join(f"--{k}={_flag_value(getattr(saved, k))}" for k in changed)
        raise ValueError(f"cannot resume {config.model_dir!r}: it was made with {was}; pass {flags} to continue it")
    latest = tf.train.latest_checkpoint(os.path.join(config.model_dir, "checkpoints"))
    if latest is None:
        raise FileNotFoundError(f"`resume`: {config.model_dir!r} holds no checkpoint to resume from")
    _check_readable(latest)


def _eval_points(points, levels, draws, conditions=None):
    """(points, conditions) to score: images as `draws` dequantizations, stacked draw by draw
    (the conditions repeated alike)."""
    if levels is None:
        return points, conditions
    repeated = None if conditions is None else np.tile(conditions, (draws, 1))
    return data_lib.dequantize_draws(points, levels, draws, seed=1234), repeated


def _train_dataset(config, d: Data):
    if d.levels is None:
        return data_lib.vector_dataset(
            d.train, config.batch_size, training=True, seed=config.seed, conditions=d.train_conditions
        )
    flip = config.dataset in ("cifar10", "celeb_a")  # the paper flips natural images, not digits
    return data_lib.image_dataset(
        d.train,
        d.levels,
        config.batch_size,
        training=True,
        seed=config.seed,
        flip=flip,
        conditions=d.train_conditions,
    )


def _check_fresh(config: ExperimentConfig):
    """Refuse (before anything is written) to start a new run over an existing one's checkpoints."""
    if tf.train.latest_checkpoint(os.path.join(config.model_dir, "checkpoints")):
        raise FileExistsError(
            f"`model_dir` {config.model_dir!r} already holds a run's checkpoints; pass `resume` to continue "
            "it or choose a new `model_dir` (nothing was changed)"
        )


def _export_dir(config: ExperimentConfig) -> str:
    """The export destination, refused up front (not after training) when it holds something else."""
    from tfp_realnvp.export import check_export_dir

    export_dir = config.export_dir or os.path.join("saved_models", config.dataset)
    check_export_dir(export_dir)
    return export_dir


def run_experiment(config: ExperimentConfig, strategy=None, data: Data | None = None, verbose=True) -> dict:
    """Train, evaluate, export and draw; returns the metrics (also in `model_dir/metrics.json`).
    Everything is checked (the config, the data, the flow, an existing run in `model_dir`, the
    export destination) before the first file is written."""
    from tfp_realnvp import plots
    from tfp_realnvp.export import export_saved_model

    _check_resumable(config) if config.resume else _check_fresh(config)
    export_dir = _export_dir(config)
    d = data or load_data(config)
    steps = config.epochs * (len(d.train) // config.batch_size) if config.epochs else config.steps
    if steps < 1:
        raise ValueError(
            f"`epochs`={config.epochs} of {len(d.train)} examples at `batch_size`={config.batch_size} is no full batch"
        )
    train_config = config.train_config(
        steps=steps, log_every=min(config.log_every, steps), checkpoint_every=min(config.checkpoint_every, steps)
    )
    trainer = Trainer(
        lambda: build_flow(config, d.event_shape, d.levels, d.condition_dims),
        train_config,
        config.model_dir,
        strategy,
    )
    os.makedirs(config.model_dir, exist_ok=True)
    write_json_atomic(
        os.path.join(config.model_dir, "config.json"),
        {
            "config": config.to_json(),
            "event_shape": list(d.event_shape),
            "levels": d.levels,
            "condition_dims": d.condition_dims,
        },
    )
    eval_points, eval_conditions = _eval_points(d.test, d.levels, config.test_draws, d.test_conditions)
    val_points = None
    if d.validation is not None:
        val_points, val_conditions = _eval_points(d.validation, d.levels, 2, d.validation_conditions)

    def eval_fn(flow):
        result = {"test_bits_per_dim": evaluate(flow, eval_points, conditions=eval_conditions)}
        if val_points is not None:
            result["validation_bits_per_dim"] = evaluate(flow, val_points, conditions=val_conditions)
        return result

    start = time.perf_counter()
    history = trainer.fit(
        _train_dataset(config, d),
        resume=config.resume,
        eval_fn=eval_fn,
        verbose=verbose,
        select_on=None if val_points is None else "validation_bits_per_dim",
        time_budget=config.time_budget,
    )
    flow = trainer.flow
    final = history["eval"][-1]
    chosen = history.get("best", final)
    metrics = {
        "dataset": config.dataset,
        "model": config.model,
        "condition": config.condition,
        "steps": trainer.current_step,
        "wall_seconds": time.perf_counter() - start,
        "train_seconds": final["train_seconds"],
        "test_bits_per_dim": chosen["test_bits_per_dim"],
        "test_bits_per_dim_final_step": final["test_bits_per_dim"],
        "chosen_step": chosen["step"],
        "params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
    }
    if val_points is not None:
        metrics["validation_bits_per_dim"] = chosen["validation_bits_per_dim"]
    if d.levels is None:
        metrics["test_nll_nats"] = metrics["test_bits_per_dim"] * flow.num_dims * math.log(2.0)  # per example
        metrics["test_nll_nats_per_dim"] = metrics["test_bits_per_dim"] * math.log(2.0)
        if val_points is not None:
            metrics["validation_nll_nats_per_dim"] = metrics["validation_bits_per_dim"] * math.log(2.0)
    else:
        metrics["pixel_levels"] = d.levels
    metrics["export_dir"] = export_saved_model(flow, export_dir)
    metrics["pictures"] = _pictures(config, d, flow, history, plots)
    write_json_atomic(os.path.join(config.model_dir, "metrics.json"), metrics)
    return metrics


def _pictures(config, d: Data, flow, history, plots):
    out = config.model_dir
    curve = {
        "step": history["step"],
        "train": history["train_bpd"],
        "test_step": [e["step"] for e in history["eval"]],
        "test": [e["test_bits_per_dim"] for e in history["eval"]],
    }
    paths = [plots.plot_training_curve(curve, os.path.join(out, "training_curve.png"))]
    if d.levels is not None:
        title, ncol, kwargs = f"samples, T = {config.temperature}", 8, {}
        if d.condition_dims:  # a row per class
            ncol, kwargs = class_rows(config.num_samples, d.condition_dims)
            title += f", row k: class k (0-{d.condition_dims - 1})"
        n = len(kwargs["condition"]) if kwargs else config.num_samples
        samples = flow.sample(n, seed=config.seed, temperature=config.temperature, **kwargs).numpy()
        paths.append(plots.save_image_grid(samples, d.levels, os.path.join(out, "samples.png"), ncol=ncol, title=title))
    else:
        many = flow.sample(2000, seed=config.seed).numpy()
        latents = flow.encode(tf.constant(d.test[:2000], flow.dtype)).numpy()
        titles = ("data", "samples", "latent space")
        if d.test.shape[1] != 2:  # tabular: the panels show the first two coordinates
            titles = tuple(f"{t}, dims 0-1 of {d.test.shape[1]}" for t in titles)
        panels = (p[:, :2] for p in (d.test[:2000], many, latents))
        paths.append(plots.plot_2d_panels(*panels, os.path.join(out, "panels.png"), titles=titles))
    return paths


def class_rows(num_samples, num_classes):
    """(columns, {"condition": one-hot [num_classes * columns, num_classes]}) for a grid of about
    `num_samples` class-conditional samples with one row per class."""
    ncol = max(1, num_samples // num_classes)
    labels = np.repeat(np.arange(num_classes), ncol)
    return ncol, {"condition": tf.constant(np.eye(num_classes, dtype=np.float32)[labels])}
