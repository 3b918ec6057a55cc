"""Test bits/dim of a training run (its latest checkpoint) or of an exported SavedModel.

python experiments/evaluate.py --model_dir=runs/digits
python experiments/evaluate.py --saved_model=saved_models/digits --dataset=digits
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run directory (config.json + checkpoints/)")
flags.DEFINE_string("saved_model", None, "An exported SavedModel directory (instead of --model_dir)")
flags.DEFINE_string("dataset", None, "Dataset to evaluate on (default: the run's own)")
flags.DEFINE_string("data_dir", None, "Local data folder (default: the run's own; TFDS when absent)")
flags.DEFINE_integer("test_draws", 4, "Uniform dequantizations averaged")
flags.DEFINE_integer("batch_size", 500, "Evaluation batch size")


def main(argv):
    del argv
    from tfp_realnvp.experiment import ExperimentConfig, load_data, restore_flow
    from tfp_realnvp.training import evaluate

    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        sys.exit("error: give exactly one of --model_dir and --saved_model")
    try:
        if FLAGS.model_dir:
            flow, config = restore_flow(FLAGS.model_dir)
            config.dataset = FLAGS.dataset or config.dataset
            config.data_dir = FLAGS.data_dir or config.data_dir
            model = flow
        else:
            from tfp_realnvp.export import load_exported

            served = load_exported(FLAGS.saved_model)
            if not FLAGS.dataset:
                sys.exit("error: --saved_model needs --dataset")
            config = ExperimentConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir)
            signature = served.signatures["log_prob"]
            model = lambda x: signature(images=x)["log_prob"]
        d = load_data(config)
        points = d.test if d.levels is None else _dequantized(d, FLAGS.test_draws)
        bpd = evaluate(model, points, FLAGS.batch_size)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    unit = f"bits/dim ({d.levels}-level pixels)" if d.levels else "bits/dim"
    print(f"{config.dataset} test {unit}: {bpd:.4f}  ({len(points)} points)")


def _dequantized(d, draws):
    from tfp_realnvp.data import dequantize_draws

    return dequantize_draws(d.test, d.levels, draws, seed=1234)


if __name__ == "__main__":
    app.run(main)
