"""Test bits/dim of a training run (its chosen checkpoint) or of an exported SavedModel, any model.

python experiments/evaluate.py --model_dir=runs/digits
python experiments/evaluate.py --saved_model=saved_models/digits --dataset=digits
python experiments/evaluate.py --saved_model=saved_models/breast_cancer --dataset=breast_cancer
"""

import math
import os
import sys

from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _cli  # noqa: E402  (beside this script)

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run directory (config.json + checkpoints/)")
flags.DEFINE_string("saved_model", None, "An exported SavedModel directory (instead of --model_dir)")
flags.DEFINE_string("dataset", None, "Dataset to evaluate on (default: the run's own)")
flags.DEFINE_string(
    "data_dir",
    None,
    "Local data folder, e.g. the MAF release for tabular sets (default: the run's own; TFDS when absent)",
)
flags.DEFINE_integer("test_draws", 4, "Uniform dequantizations averaged", lower_bound=1)
flags.DEFINE_integer("batch_size", 500, "Evaluation batch size", lower_bound=1)
_cli.define_model_check()


def main(argv):
    if len(argv) > 1:
        _cli.fail(f"unexpected arguments {argv[1:]}; every option is a --flag")
    import numpy as np

    from tfp_realnvp.training import evaluate

    run = _cli.open_run_or_export()
    if run.flow is not None:
        model = run.flow
    else:
        signature = run.served.signatures["log_prob"]

        def model(x, condition=None):
            kwargs = {} if condition is None else {"condition": condition}
            return signature(images=x, **kwargs)["log_prob"]

    d = run.data
    points = d.test if d.levels is None else _dequantized(d, FLAGS.test_draws)
    conditions = None if d.test_conditions is None else np.tile(d.test_conditions, (len(points) // len(d.test), 1))
    bpd = evaluate(model, points, FLAGS.batch_size, conditions=conditions)
    unit = f"bits/dim ({d.levels}-level pixels)" if d.levels else "bits/dim"
    nats = "" if d.levels else f", NLL {bpd * math.log(2.0):.4f} nats/dim"  # vectors: also in nats
    print(f"{run.dataset} test {unit}: {bpd:.4f}{nats}  ({len(points)} points)")


def _dequantized(d, draws):
    from tfp_realnvp.data import dequantize_draws

    return dequantize_draws(d.test, d.levels, draws, seed=1234)


if __name__ == "__main__":
    _cli.run(main)
