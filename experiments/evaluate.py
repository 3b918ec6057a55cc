"""Test bits/dim of a training run (its chosen checkpoint) or of an exported SavedModel, any model.

python experiments/evaluate.py --model_dir=runs/digits
python experiments/evaluate.py --saved_model=saved_models/digits --dataset=digits
"""

import os
import sys

from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _cli  # noqa: E402  (beside this script)

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run directory (config.json + checkpoints/)")
flags.DEFINE_string("saved_model", None, "An exported SavedModel directory (instead of --model_dir)")
flags.DEFINE_string("dataset", None, "Dataset to evaluate on (default: the run's own)")
flags.DEFINE_string("data_dir", None, "Local data folder (default: the run's own; TFDS when absent)")
flags.DEFINE_integer("test_draws", 4, "Uniform dequantizations averaged", lower_bound=1)
flags.DEFINE_integer("batch_size", 500, "Evaluation batch size", lower_bound=1)
_cli.define_model_check()


def main(argv):
    if len(argv) > 1:
        _cli.fail(f"unexpected arguments {argv[1:]}; every option is a --flag")
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        _cli.fail("give exactly one of --model_dir and --saved_model")
    if FLAGS.saved_model and not FLAGS.dataset:
        _cli.fail("--saved_model needs --dataset")
    from tfp_realnvp.experiment import ExperimentConfig, load_data, restore_flow
    from tfp_realnvp.training import evaluate

    if FLAGS.model_dir:
        flow, config = restore_flow(FLAGS.model_dir)
        _cli.check_model(config.model, FLAGS.model_dir)
        config.dataset = FLAGS.dataset or config.dataset
        config.data_dir = FLAGS.data_dir or config.data_dir
        config = ExperimentConfig(**config.to_json())  # checks the dataset name
        model, event_shape, levels = flow, tuple(flow.event_shape), flow.pixel_levels or None
    else:
        from tfp_realnvp.export import exported_model, load_exported

        served = load_exported(FLAGS.saved_model)
        _cli.check_model(exported_model(served), FLAGS.saved_model)
        config = ExperimentConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir)
        signature = served.signatures["log_prob"]
        model = lambda x: signature(images=x)["log_prob"]  # noqa: E731
        event_shape, levels = tuple(served.event_shape.numpy()), int(served.pixel_levels.numpy()) or None
    d = load_data(config)
    source = FLAGS.model_dir or FLAGS.saved_model
    if d.event_shape != event_shape or d.levels != levels:
        _cli.fail(
            f"--dataset={config.dataset} has events of shape {list(d.event_shape)}"
            + (f" with {d.levels}-level pixels" if d.levels else "")
            + f", but the flow in {source!r} models shape {list(event_shape)}"
            + (f" with {levels}-level pixels" if levels else "")
        )
    points = d.test if d.levels is None else _dequantized(d, FLAGS.test_draws)
    bpd = evaluate(model, points, FLAGS.batch_size)
    unit = f"bits/dim ({d.levels}-level pixels)" if d.levels else "bits/dim"
    print(f"{config.dataset} test {unit}: {bpd:.4f}  ({len(points)} points)")


def _dequantized(d, draws):
    from tfp_realnvp.data import dequantize_draws

    return dequantize_draws(d.test, d.levels, draws, seed=1234)


if __name__ == "__main__":
    _cli.run(main)
