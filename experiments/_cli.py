"""What the experiment scripts share: quiet TensorFlow start-up and one-line errors.

`run(main)` replaces `absl.app.run(main)`:

* TensorFlow's start-up notices (oneDNN, CUDA probing, CPU features, "failed call to cuInit"
  on machines without a GPU) are kept off the terminal unless `--verbose` is passed or
  `TF_CPP_MIN_LOG_LEVEL` is 0 or 1 in the environment (both show everything, as TensorFlow
  does; at 2 TensorFlow's own errors show, and the notices it prints before its log starts don't).
* Bad flags and every error the run raises end the script with one line on stderr,
  `error: <what was wrong>`, and exit status 2; `--verbose` adds the traceback. Files that
  existed before are left as they were: the scripts check everything before writing.
"""

import os
import re
import sys
import tempfile
import traceback

from absl import app, flags

flags.DEFINE_bool("verbose", False, "Show TensorFlow's start-up log and the traceback of an error")

# Lines TensorFlow's C++ side writes while it loads and probes devices: absl log lines
# ("I0000 00:00:... port.cc:153] oneDNN custom operations are on", "E0000 ... failed call to cuInit")
# and the two bare lines that go with them.
_NOISE = re.compile(
    r"^([IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions:)"
)


def _verbose_requested(argv):
    return any(a in ("--verbose", "--verbose=true", "--verbose=True", "--verbose=1") for a in argv)


def quiet_tensorflow(argv):
    """Import TensorFlow with its start-up notices filtered out of stderr (unless asked for)."""
    if _verbose_requested(argv) or os.environ.get("TF_CPP_MIN_LOG_LEVEL") in ("0", "1"):
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # 3 also hides the cuInit error of GPU-less machines
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not _NOISE.match(line):
                    print(line, file=sys.stderr)


def define_model_check():
    """`--model` for the scripts that load a run or an export: a check, not a choice."""
    flags.DEFINE_string(
        "model", None, "Refuse a run or export that holds another model (realnvp, glow, nice; default: any)"
    )


def check_model(holds: str, source: str):
    """Fail when `--model` names another model than the one `source` holds."""
    wanted = flags.FLAGS.model
    if wanted and wanted != holds:
        fail(f"--model={wanted}, but {source!r} holds a {holds} model")


def open_run_or_export():
    """What `--model_dir` (a training run) or `--saved_model` (an export, with `--dataset`) holds,
    and the data it is scored on: a namespace of `flow` (the run's restored flow, or None),
    `served` (the loaded export, or None), `model` (its name), `data` (`--dataset`, default the
    run's own, from `--data_dir`), `dataset` and `source` (the path). Fails with one line when
    both or neither are given, `--model` names another model, or the data's event shape or pixel
    levels differ from the model's."""
    import types

    flag = flags.FLAGS
    if bool(flag.model_dir) == bool(flag.saved_model):
        fail("give exactly one of --model_dir and --saved_model")
    if flag.saved_model and not flag.dataset:
        fail("--saved_model needs --dataset")
    from tfp_realnvp.experiment import ExperimentConfig, load_data

    flow = served = None
    if flag.model_dir:
        from tfp_realnvp.experiment import restore_flow

        flow, config = restore_flow(flag.model_dir)
        model, event_shape, levels = config.model, tuple(flow.event_shape), flow.pixel_levels or None
        condition_dims = flow.condition_dims
        config.dataset = flag.dataset or config.dataset
        config.data_dir = flag.data_dir or config.data_dir
        config = ExperimentConfig(**config.to_json())  # checks the dataset name
    else:
        from tfp_realnvp.export import exported_condition_dims, exported_model, load_exported

        served = load_exported(flag.saved_model)
        model = exported_model(served)
        condition_dims = exported_condition_dims(served)
        condition = "label" if condition_dims else "none"
        event_shape = tuple(int(n) for n in served.event_shape.numpy())
        levels = int(served.pixel_levels.numpy()) or None
        config = ExperimentConfig(dataset=flag.dataset, data_dir=flag.data_dir, model=model, condition=condition)
    source = flag.model_dir or flag.saved_model
    check_model(model, source)
    d = load_data(config)
    if d.condition_dims != condition_dims:
        fail(
            f"{source!r} holds a flow conditioned on {condition_dims} classes; --dataset={config.dataset} "
            f"has {d.condition_dims}"
        )
    if d.event_shape != event_shape or d.levels != levels:
        fail(
            f"--dataset={config.dataset} has events of shape {list(d.event_shape)}"
            + (f" with {d.levels}-level pixels" if d.levels else "")
            + f", but the flow in {source!r} models shape {list(event_shape)}"
            + (f" with {levels}-level pixels" if levels else "")
        )
    return types.SimpleNamespace(flow=flow, served=served, model=model, data=d, dataset=config.dataset, source=source)


def error_line(err: BaseException) -> str:
    """One line naming what went wrong (the type too, where the message alone would not say)."""
    if isinstance(err, flags.Error):
        return str(err).splitlines()[0]
    if isinstance(err, OSError) and err.filename:
        return f"cannot use {err.filename!r}: {err.strerror or err}"
    message = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, (ValueError, TypeError, FileNotFoundError, FileExistsError)):
        return message
    return f"{type(err).__name__}: {message}"


def fail(message: str):
    """End the script with `error: message` (one line) and exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        fail(error_line(err))


def run(main, argv=None):
    """`app.run(main)` with quiet start-up and one-line errors (see the module docstring)."""
    argv = sys.argv if argv is None else argv
    quiet_tensorflow(argv)

    def guarded(args):
        try:
            main(args)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            fail("interrupted; checkpoints written so far are intact")
        except Exception as err:  # noqa: BLE001 - every error becomes one line
            if flags.FLAGS.is_parsed() and flags.FLAGS.verbose:
                traceback.print_exc()
            fail(error_line(err))

    app.run(guarded, argv=argv, flags_parser=_parse_flags)
