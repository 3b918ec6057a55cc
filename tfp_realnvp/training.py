"""Training loop for Real NVP flows under any `tf.distribute` strategy, with exact resume."""

import collections.abc
import contextlib
import dataclasses
import json
import math
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from tfp_realnvp._validation import check_bool, check_int, check_number, check_positive_int, check_seed
from tfp_realnvp.bijectors import MovingAverageBatchNorm, TrainingCall
from tfp_realnvp.optim import FusedAdam

__all__ = [
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "evaluate",
    "make_strategy",
    "split_cpu",
    "write_json_atomic",
]


class NonFiniteLossError(FloatingPointError):
    """Raised when a training step produces a NaN/Inf loss; checkpoints written before it are intact."""


@dataclasses.dataclass
class TrainConfig:
    """What `Trainer.fit` does. `batch_size` is the global batch (split across replicas)."""

    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 0
    decay: str = "none"  # "none" or "cosine" (to 0 at `steps`)
    l2: float = 5e-5  # on the weight-norm scales, as in the Real NVP paper
    clip_norm: float | None = 100.0  # global gradient norm, after the cross-replica sum
    log_every: int = 50
    eval_every: int = 0  # 0: only at the end
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    jit_compile: bool = False
    ema_decay: float = 0.0  # > 0: evaluate/export an exponential moving average of the weights
    # With ema_decay and batch norm: batches that re-estimate the running statistics under the
    # averaged weights; None: enough that the raw weights' statistics weigh under 1% (44 at momentum 0.9)
    statistics_batches: int | None = None
    seed: int = 0  # with the step and the replica, seeds the dropout masks: reruns and resumes repeat them

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "keep_checkpoints"):
            setattr(self, name, check_positive_int(getattr(self, name), f"`{name}`"))
        for name in ("warmup_steps", "eval_every"):
            setattr(self, name, check_int(getattr(self, name), f"`{name}`", minimum=0))
        self.learning_rate = check_number(self.learning_rate, "`learning_rate`", 0.0, low_open=True)
        self.l2 = check_number(self.l2, "`l2`", 0.0)
        self.ema_decay = check_number(self.ema_decay, "`ema_decay`", 0.0, 1.0, high_open=True)
        if self.statistics_batches is not None:
            self.statistics_batches = check_positive_int(self.statistics_batches, "`statistics_batches`")
        if not isinstance(self.decay, str) or self.decay not in ("none", "cosine"):
            raise ValueError(f"`decay` must be 'none' or 'cosine', got {self.decay!r}")
        if self.clip_norm is not None:
            self.clip_norm = check_number(self.clip_norm, "`clip_norm`", 0.0, low_open=True)
        self.jit_compile = check_bool(self.jit_compile, "`jit_compile`")
        self.seed = check_seed(self.seed, "`seed`")


def split_cpu(num_devices: int) -> None:
    """Split the first CPU into `num_devices` logical devices (call before TF touches a device),
    so `MirroredStrategy` can be exercised without GPUs."""
    if num_devices < 1:
        raise ValueError(f"`num_devices` must be >= 1, got {num_devices}")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as err:
        raise RuntimeError("split_cpu must run before TensorFlow initializes its devices") from err


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (every local GPU, else every logical CPU), or
    `multi_worker` (MultiWorkerMirroredStrategy; workers from the TF_CONFIG environment variable)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable (cluster and task)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose default, mirrored or multi_worker")


class _Schedule(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then constant or cosine decay to zero at `total` steps."""

    def __init__(self, base, warmup, total, decay):
        self.base, self.warmup, self.total, self.decay = base, warmup, total, decay

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr = tf.constant(self.base, tf.float32)
        if self.decay == "cosine":
            progress = tf.clip_by_value((step - self.warmup) / max(self.total - self.warmup, 1), 0.0, 1.0)
            lr = lr * 0.5 * (1.0 + tf.cos(math.pi * progress))
        if self.warmup:
            lr = lr * tf.minimum(1.0, (step + 1.0) / self.warmup)
        return lr

    def get_config(self):
        return {"base": self.base, "warmup": self.warmup, "total": self.total, "decay": self.decay}


class Trainer:
    """Maximum-likelihood training of a flow built by `flow_fn()` inside `strategy.scope()`.

    Each step minimises sum(-log_prob(x, training=True, seed=s)) / global_batch on every replica (so
    the cross-replica gradient sum is the gradient of the global-batch mean) plus
    `l2 * sum(g^2)` over `flow.regularization_variables` (counted once, not per replica);
    `s`, the dropout seed, is (`config.seed`, step), and each example's masks are drawn from it and
    the example's position in the global batch (`TrainingCall.example_offset`), so 1, 2 or N
    replicas train the same model (conditioners whose call takes no `seed` keyword draw from TF's
    global generator instead). The global `batch_size` must divide evenly across the replicas.
    The checkpoint holds the step, the flow (weights and batch-norm statistics), the
    optimizer state; on resume the dataset skips the batches already consumed, so
    `fit(..., resume=True)` continues exactly when the dataset is deterministic (the
    `tfp_realnvp.data` pipelines are, given a seed). Skipping instead of checkpointing the
    iterator works for every strategy and for generator-backed datasets.
    Checkpoints go through `tf.train.CheckpointManager`, which writes to temporary files and
    only then points `checkpoint` at them: a kill mid-write leaves the previous one latest.
    A non-finite loss raises `NonFiniteLossError` before anything is saved for that step.
    A conditional flow (`condition_dims` K > 0) trains on a dataset of (x, condition) pairs,
    the conditions [batch_size, K] (e.g. `image_dataset(..., conditions=one_hot_labels)`).
    """

    def __init__(self, flow_fn, config: TrainConfig, model_dir: str | None = None, strategy=None):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"`config` must be a TrainConfig, got {type(config).__name__} {config!r:.100}")
        if not callable(flow_fn):
            raise TypeError(f"`flow_fn` must be a function that builds the flow (e.g. a lambda), got {flow_fn!r}")
        if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(
                f"`strategy` must be a tf.distribute.Strategy or None, got {strategy!r} "
                "(make_strategy('mirrored') builds one from a name)"
            )
        if model_dir is not None and not isinstance(model_dir, (str, os.PathLike)):
            raise TypeError(f"`model_dir` must be a path (str) or None, got {model_dir!r}")
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ValueError(
                f"`batch_size` {config.batch_size} is not divisible by the {replicas} replicas: every replica "
                "must get an equal share of the global batch (the synchronized batch norm weighs replicas equally)"
            )
        self.model_dir = model_dir
        with self.strategy.scope():
            self.flow = _checked_flow(flow_fn())
            self.schedule = _Schedule(config.learning_rate, config.warmup_steps, config.steps, config.decay)
            self.optimizer = FusedAdam(self.flow.trainable_variables, self.schedule, clip_norm=config.clip_norm)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.variables = list(self.flow.trainable_variables)
            self.averages = (
                [tf.Variable(v, trainable=False, name=f"ema_{i}") for i, v in enumerate(self.variables)]
                if config.ema_decay
                else []
            )
        self._regularized = list(self.flow.regularization_variables)
        self._train_step = None
        norms = [m for m in self.flow.submodules if isinstance(m, MovingAverageBatchNorm)]
        self._statistics = [v for m in norms for v in (m.running_mean, m.running_var)]
        if not norms:
            self._statistics_batches = 0  # nothing to re-estimate
        elif config.statistics_batches is not None:
            self._statistics_batches = config.statistics_batches
        else:
            momentum = max(m.momentum for m in norms)
            self._statistics_batches = 1 if momentum == 0 else math.ceil(math.log(0.01) / math.log(momentum))
        self._statistics_dataset = None  # the last fit's training data
        self._statistics_step = None

    @property
    def current_step(self) -> int:
        return int(self.step.numpy())

    # ------------------------------------------------------------------ one step
    def _replica_offset(self):
        """The position of this replica's first example in the global batch: with the step's seed
        it fixes each example's dropout masks, so a rerun or a resume repeats them on any number
        of replicas."""
        ctx = tf.distribute.get_replica_context()
        share = self.config.batch_size // self.strategy.num_replicas_in_sync
        return tf.cast(ctx.replica_id_in_sync_group, tf.int32) * share

    def _training_log_prob(self, x, seed, example_offset, condition=None):
        """Training-mode `log_prob` of this replica's batch (updates the batch-norm statistics)."""
        kwargs = {} if condition is None else {"condition": tf.cast(condition, self.flow.dtype)}
        training = TrainingCall(seed, example_offset=example_offset)
        return self.flow.log_prob(tf.cast(x, self.flow.dtype), training=training, **kwargs)

    def _local_grads(self, x, seed, example_offset, condition=None):
        """This replica's share of the loss and its gradients (no cross-replica communication,
        unless the flow's batch norm synchronizes its statistics). `example_offset`: the position
        of this replica's first example in the global batch, which with `seed` fixes the dropout."""
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            nll = -tf.reduce_sum(self._training_log_prob(x, seed, example_offset, condition)) / self.config.batch_size
            loss = nll
            if self.config.l2 and self._regularized:
                loss += self.config.l2 * tf.add_n([tf.reduce_sum(tf.square(g)) for g in self._regularized]) / replicas
        return nll, tape.gradient(loss, self.variables)

    def _make_train_step(self):
        grads_fn = self._local_grads
        replicas = self.strategy.num_replicas_in_sync
        synced = sorted({type(m).__name__ for m in self.flow.submodules if getattr(m, "syncs_replicas", False)})
        if self.config.jit_compile and replicas > 1 and synced:
            # Batch norm's statistics and ActNorm's initialisation all-reduce inside the forward
            # pass, which XLA rejects here (CPU: "collective ... expected type", or a resource on
            # another device): those steps run as plain graphs.
            logging.warning(
                "jit_compile is ignored with %d replicas: %s need cross-replica collectives inside the step",
                replicas,
                " and ".join(synced),
            )
        elif self.config.jit_compile:
            grads_fn = tf.function(grads_fn, jit_compile=True)  # the gradient all-reduce stays outside XLA

        def replica_fn(batch, step_seed):
            nll, grads = grads_fn(*_batch_parts(batch, step_seed, self._replica_offset()))
            if replicas > 1:
                ctx = tf.distribute.get_replica_context()
                nll, grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, (nll, grads))
            return nll, grads

        def step_fn(iterator):
            step_seed = tf.stack([tf.constant(self.config.seed, tf.int64), self.step.read_value()])
            per_replica = self.strategy.run(replica_fn, args=(next(iterator), step_seed))
            # Every replica holds the same summed values; update the variables once, for all.
            nll, grads = tf.nest.map_structure(lambda t: self.strategy.experimental_local_results(t)[0], per_replica)
            self.optimizer.apply(grads, self.variables)
            self.step.assign_add(1)
            if self.averages:
                # tf.train.ExponentialMovingAverage's warm-up: short runs are not dominated by the init.
                # The average starts from the weights after the first step, which hold any
                # data-dependent initialisation (ActNorm) made in that step.
                t = tf.cast(self.step, tf.float64)
                decay = tf.minimum(tf.constant(self.config.ema_decay, tf.float64), (1.0 + t) / (10.0 + t))
                decay = tf.where(t > 1.0, decay, tf.zeros_like(decay))
                for average, v in zip(self.averages, self.variables):
                    d = tf.cast(decay, v.dtype)
                    average.assign(d * average + (1.0 - d) * v)
            return nll

        return tf.function(step_fn)

    def _make_statistics_step(self):
        def replica_fn(batch, seed):
            self._training_log_prob(*_batch_parts(batch, seed, self._replica_offset()))

        def step_fn(iterator, k):
            # Dropout seeds (config seed, -1 - k): never a training step's (config seed, step >= 0).
            seed = tf.stack([tf.constant(self.config.seed, tf.int64), -1 - k])
            self.strategy.run(replica_fn, args=(next(iterator), seed))

        return tf.function(step_fn)

    def _refresh_statistics(self):
        """Re-estimate the batch norms' running statistics under the weights the flow holds now
        (the averaged ones): the first `statistics_batches` batches of the last `fit`'s dataset run
        through training-mode `log_prob`, which blends each batch's moments into the running ones
        as in training, without a gradient. They start from the statistics the raw weights left,
        which keep a weight of momentum^statistics_batches (under 1% by default): that start has
        the right scale, where the initial variance 1 would swamp a channel whose variance is far
        below 1. The running statistics follow the raw weights during training; evaluated with
        them, averaged weights early in training (or after a fast change) normalize with the wrong
        moments and score far worse than either set of weights. With a deterministic dataset (the
        `tfp_realnvp.data` pipelines) the same batches are used every time, so a resumed run
        evaluates as an uninterrupted one."""
        if not (self._statistics_batches and self._statistics_dataset is not None):
            return
        if self._statistics_step is None:
            self._statistics_step = self._make_statistics_step()
        data = self._statistics_dataset.take(self._statistics_batches)
        iterator = iter(self.strategy.experimental_distribute_dataset(data))
        for k in range(self._statistics_batches):
            self._statistics_step(iterator, tf.constant(k, tf.int64))

    # ------------------------------------------------------------------ loop
    def _checkpoint(self):
        return tf.train.Checkpoint(step=self.step, flow=self.flow, optimizer=self.optimizer, averages=self.averages)

    def _load_averages(self):
        for v, average in zip(self.variables, self.averages):
            v.assign(average.read_value())
        self._refresh_statistics()

    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside: the flow holds the moving average of its weights (with `ema_decay`; else
        unchanged) and, when it has batch norm, running statistics re-estimated under them from
        the last `fit`'s first `statistics_batches` batches. On exit the raw weights and
        statistics are back."""
        if not self.averages:
            yield self.flow
            return
        kept = self.variables + self._statistics
        raw = [tf.identity(v.read_value()) for v in kept]
        self._load_averages()
        try:
            yield self.flow
        finally:
            for v, value in zip(kept, raw):
                v.assign(value)

    def fit(
        self,
        train_dataset,
        steps=None,
        resume=False,
        eval_fn=None,
        callback=None,
        verbose=True,
        select_on=None,
        time_budget=None,
    ):
        """Train until `self.step == steps` (default `config.steps`) on a repeating dataset of
        global batches, or until `time_budget` seconds of training (the first step, which traces
        and compiles, and evaluation excluded).

        `eval_fn(flow) -> dict` runs every `config.eval_every` steps and at the end;
        `callback(step, logs)` sees every logged step. With `select_on` (a key of `eval_fn`'s
        result, lower is better; e.g. validation bits/dim) the best weights seen are kept (and
        written to `model_dir/best/`) and put back into the flow when training ends.
        With `config.ema_decay` the evaluations (and so the selection) see the moving average of
        the weights (with batch-norm statistics re-estimated under it: `averaged_weights`), and
        training ends with the flow holding the selected or else the averaged weights;
        checkpoints keep the raw weights, their statistics and the averages, so resuming is exact.
        Returns the history dict (`history["best"]` holds the selected step and its metrics).

        The arguments are checked before anything runs: `train_dataset` must be a `tf.data.Dataset`
        of single float tensors [config.batch_size, *flow.event_shape] (map (x, label) pairs to x),
        or for a conditional flow of (x, condition [config.batch_size, K]) pairs, that repeats; one
        that runs out stops `fit` with a ValueError saying after how many steps."""
        steps = self.config.steps if steps is None else check_positive_int(steps, "`steps`")
        resume, verbose = check_bool(resume, "`resume`"), check_bool(verbose, "`verbose`")
        for what, fn in (("eval_fn", eval_fn), ("callback", callback)):
            if fn is not None and not callable(fn):
                raise TypeError(f"`{what}` must be callable or None, got {fn!r}")
        if select_on is not None and (not isinstance(select_on, str) or eval_fn is None):
            raise ValueError(f"`select_on` must name a key of `eval_fn`'s result (pass `eval_fn`), got {select_on!r}")
        if time_budget is not None:
            time_budget = check_number(time_budget, "`time_budget`", 0.0, low_open=True)
        self._check_dataset(train_dataset)
        first_step = self.current_step
        manager = None
        if self.model_dir:
            manager = tf.train.CheckpointManager(
                self._checkpoint(),
                os.path.join(self.model_dir, "checkpoints"),
                max_to_keep=self.config.keep_checkpoints,
            )
            if resume and manager.latest_checkpoint:
                try:
                    manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
                except (tf.errors.OpError, IndexError, AssertionError) as err:
                    raise ValueError(
                        f"checkpoint {manager.latest_checkpoint!r} cannot be restored into this Trainer's flow "
                        f"(truncated, corrupt or of another model): {err}"
                    ) from err
            elif not resume and manager.latest_checkpoint:
                raise FileExistsError(
                    f"{self.model_dir} already holds checkpoints; pass resume=True or use a new "
                    "model_dir (nothing was overwritten)"
                )
        self._statistics_dataset = train_dataset
        if resume and self.current_step:
            train_dataset = train_dataset.skip(self.current_step)
        iterator = iter(self.strategy.experimental_distribute_dataset(train_dataset))
        history = self._load_history() if resume else {"step": [], "train_bpd": [], "eval": []}
        if self._train_step is None:
            self._train_step = self._make_train_step()
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, "logs")) if self.model_dir else None
        bar = tf_keras.utils.Progbar(steps, stateful_metrics=["bits/dim"], verbose=1 if verbose else 0)
        to_bpd = 1.0 / (self.flow.num_dims * math.log(2.0))
        window, train_seconds = [], 0.0
        best_values = None
        while self.current_step < steps:
            tick = time.perf_counter()
            try:
                nll = float(self._train_step(iterator))
            except tf.errors.OutOfRangeError:
                raise ValueError(
                    f"`train_dataset` ran out after {self.current_step - first_step} steps of this fit (at step "
                    f"{self.current_step} of {steps}): it must repeat (e.g. `dataset.repeat()`)"
                ) from None
            train_seconds += time.perf_counter() - tick
            step = self.current_step
            if "first_step_seconds" not in history:  # trace + compile + one step
                history["first_step_seconds"] = train_seconds
            steady = train_seconds - history["first_step_seconds"]  # the budget, like the peers', excludes compiling
            out_of_time = time_budget is not None and steady >= time_budget
            if not math.isfinite(nll):
                last = manager.latest_checkpoint if manager else None
                raise NonFiniteLossError(
                    f"non-finite training loss ({nll}) at step {step}; training stopped. "
                    f"Last good checkpoint: {last or 'none written'}"
                )
            window.append(nll * to_bpd)
            last_step = step == steps or out_of_time
            if step % self.config.log_every == 0 or last_step:
                bpd = float(np.mean(window))
                window = []
                history["step"].append(step)
                history["train_bpd"].append(bpd)
                bar.update(step, [("bits/dim", bpd)])
                if writer:
                    with writer.as_default(step=step):
                        tf.summary.scalar("train/bits_per_dim", bpd)
                        tf.summary.scalar("train/learning_rate", self.schedule(step - 1))
                if callback:
                    callback(step, {"train_bpd": bpd, "seconds": train_seconds})
            if eval_fn and ((self.config.eval_every and step % self.config.eval_every == 0) or last_step):
                with self.averaged_weights():
                    result = _checked_metrics(eval_fn(self.flow), select_on)
                    result.update(step=step, train_seconds=train_seconds)
                    history["eval"].append(result)
                    if select_on and result[select_on] < history.get("best", {}).get(select_on, math.inf):
                        history["best"] = result
                        best_values = [v.numpy() for v in self.flow.variables]
                        self._save_best()
                if writer:
                    with writer.as_default(step=step):
                        for key, value in result.items():
                            if key != "step":
                                tf.summary.scalar(f"eval/{key}", value)
            if manager and (step % self.config.checkpoint_every == 0 or last_step):
                manager.save(checkpoint_number=step)
                self._save_history(history)
            if out_of_time:
                break
        history["train_seconds"] = history.get("train_seconds", 0.0) + train_seconds
        if writer:
            writer.flush()
        if select_on and "best" in history:
            self._restore_best(best_values)
        elif self.averages:
            self._load_averages()
        return history

    def _check_dataset(self, dataset):
        event = list(self.flow.event_shape)
        expected = f"[{self.config.batch_size}, {', '.join(map(str, event))}]"
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError(
                f"`train_dataset` must be a tf.data.Dataset of batches {expected}, got {type(dataset).__name__}"
            )
        spec = dataset.element_spec
        k = getattr(self.flow, "condition_dims", 0)
        if k:
            pair = isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(t, tf.TensorSpec) for t in spec)
            if not pair:
                raise TypeError(
                    f"the flow is conditional (`condition_dims`={k}): `train_dataset` must yield (x, condition) "
                    f"pairs, x {expected} and condition [{self.config.batch_size}, {k}], got {spec}"
                )
            spec, condition = spec
            shape = condition.shape
            if not condition.dtype.is_floating or (
                shape.rank is not None and (shape.rank != 2 or shape[-1] not in (None, k))
            ):
                raise ValueError(
                    f"`train_dataset`'s conditions must be floats [{self.config.batch_size}, {k}], got {condition}"
                )
        elif isinstance(spec, tuple):
            raise TypeError(
                f"`train_dataset` yields tuples {spec}, but the flow is unconditional (`condition_dims`=0): map them "
                "to x (`dataset.map(lambda x, label: x)`) or build the flow with `condition_dims`"
            )
        if not isinstance(spec, tf.TensorSpec):
            raise TypeError(
                f"`train_dataset` must yield single tensors x of shape {expected}, got elements of structure "
                f"{type(spec).__name__} {spec}; map (x, label) tuples to x: `dataset.map(lambda x, label: x)`"
            )
        if not spec.dtype.is_floating:
            raise TypeError(
                f"`train_dataset` must yield float batches (dequantized pixels or vectors), got {spec.dtype.name}"
            )
        shape = spec.shape
        if shape.rank is not None and (shape.rank != len(event) + 1 or not shape[1:].is_compatible_with(event)):
            raise ValueError(f"`train_dataset` yields batches of shape {shape}; the flow needs {expected}")
        if shape.rank and shape[0] is not None and shape[0] != self.config.batch_size:
            raise ValueError(
                f"`train_dataset` yields batches of {shape[0]}, but the config's `batch_size` is "
                f"{self.config.batch_size} (the loss is a mean over it)"
            )

    def _best_manager(self):
        checkpoint = tf.train.Checkpoint(flow=self.flow)
        return tf.train.CheckpointManager(checkpoint, os.path.join(self.model_dir, "best"), max_to_keep=1)

    def _save_best(self):
        if self.model_dir:
            self._best_manager().save(checkpoint_number=self.current_step)

    def _restore_best(self, values):
        """Put the selected weights back: from memory, or (after a resume) from `model_dir/best/`."""
        if values is not None:
            for v, value in zip(self.flow.variables, values, strict=True):
                v.assign(value)
        elif self.model_dir and self._best_manager().latest_checkpoint:
            manager = self._best_manager()
            manager.checkpoint.restore(manager.latest_checkpoint).expect_partial()

    def _history_path(self):
        return os.path.join(self.model_dir, "history.json") if self.model_dir else None

    def _load_history(self):
        path = self._history_path()
        if path and os.path.exists(path):
            with open(path) as f:
                history = json.load(f)
            keep = self.current_step  # drop what was logged after the checkpoint we resumed from
            restored = {
                "step": [s for s in history["step"] if s <= keep],
                "train_bpd": [b for s, b in zip(history["step"], history["train_bpd"]) if s <= keep],
                "eval": [e for e in history["eval"] if e["step"] <= keep],
            }
            if history.get("best", {}).get("step", math.inf) <= keep:
                restored["best"] = history["best"]
            return restored
        return {"step": [], "train_bpd": [], "eval": []}

    def _save_history(self, history):
        write_json_atomic(self._history_path(), history)


def _checked_flow(flow):
    missing = [
        a for a in ("log_prob", "trainable_variables", "regularization_variables", "num_dims") if not hasattr(flow, a)
    ]
    if missing:
        raise TypeError(
            f"`flow_fn` must return a flow (a distribution with {', '.join(missing)}, e.g. a RealNVP), "
            f"got {type(flow).__name__} {flow!r:.100}"
        )
    return flow


def _checked_metrics(metrics, select_on):
    if not isinstance(metrics, collections.abc.Mapping):
        raise TypeError(f"`eval_fn` must return a dict of metrics, got {type(metrics).__name__} {metrics!r:.100}")
    if select_on is not None and select_on not in metrics:
        raise ValueError(f"`select_on`={select_on!r} is not a key of `eval_fn`'s result; its keys: {sorted(metrics)}")
    return dict(metrics)


def write_json_atomic(path, obj):
    """Write JSON to a temporary file and rename it into place (never a half-written file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=float)
    os.replace(tmp, path)


def _batch_parts(batch, seed, offset):
    """The arguments of `Trainer._local_grads` for a batch `x` or `(x, condition)`."""
    if isinstance(batch, tuple):
        x, condition = batch
        return x, seed, offset, condition
    return batch, seed, offset


def evaluate(model, points, batch_size=500, conditions=None):
    """Mean -log_prob / (D ln 2) (bits/dim) over `points` (dequantized pixels or vectors), in
    batches. `model`: a flow (its compiled `log_prob` when it has one: no retrace per batch
    size) or any callable mapping a batch `[n, *event]` to `[n]` log-densities (e.g. a served
    SavedModel signature). A conditional model takes `conditions` [N, K], one row per point
    (a flow gets `condition=`, a callable a second argument).

    Checks `points` (a float array or a tensor of the model's dtype) first: its shape against the
    model's event shape, non-empty, finite, and, for a model with `pixel_levels` K, pixels in [0, K)."""
    batch_size = check_positive_int(batch_size, "`batch_size`")
    dtype = tf.as_dtype(getattr(model, "dtype", None) or tf.float32)
    if tf.is_tensor(points) and points.dtype != dtype:
        raise TypeError(f"`points` must be {dtype.name}, got a {points.dtype.name} tensor")
    points = np.asarray(points)
    if not np.issubdtype(points.dtype, np.floating):
        raise TypeError(f"`points` must be a float array (the model's dtype is {dtype.name}), got dtype {points.dtype}")
    event = tf.TensorShape(getattr(model, "event_shape", None))
    if points.ndim < 1 or (event.is_fully_defined() and tuple(points.shape[1:]) != tuple(event)):
        expected = ", ".join(map(str, event)) if event.is_fully_defined() else "..."
        raise ValueError(f"`points` must have shape [N, {expected}], got shape {points.shape}")
    if not len(points):
        raise ValueError(f"`points` is empty (shape {points.shape}): nothing to evaluate")
    if not np.all(np.isfinite(points)):
        raise ValueError("`points` contains NaN or Inf")
    levels = getattr(model, "pixel_levels", None)
    if levels and (points.min() < 0 or points.max() >= levels):
        raise ValueError(f"`points`: pixels must be in [0, {levels}), got values in [{points.min()}, {points.max()}]")
    fn = getattr(model, "compiled_log_prob", None) or getattr(model, "log_prob", None) or model
    if conditions is not None:
        conditions = np.asarray(conditions)
        if conditions.ndim != 2 or len(conditions) != len(points) or not np.issubdtype(conditions.dtype, np.number):
            raise ValueError(
                f"`conditions` must be numbers [{len(points)}, K], one row per point, got shape {conditions.shape}"
            )
        flow_like = hasattr(model, "compiled_log_prob") or hasattr(model, "log_prob")
        plain = fn

        def fn(x, c):
            return plain(x, condition=c) if flow_like else plain(x, c)

    total = 0.0
    for i in range(0, len(points), batch_size):
        args = [tf.constant(points[i : i + batch_size], dtype)]
        if conditions is not None:
            args.append(tf.constant(conditions[i : i + batch_size], dtype))
        total += float(tf.reduce_sum(fn(*args)))
    return -total / (points.size * math.log(2.0))
