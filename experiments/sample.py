"""Sample grids and latent interpolations from a training run or a SavedModel.

python experiments/sample.py --model_dir=runs/digits --temperature=0.7 --out=samples_t07.png
python experiments/sample.py --model_dir=runs/digits --interpolate --out=interpolation.png
python experiments/sample.py --model_dir=runs/digits_by_class --label=3 --temperature=0.7   # class-conditional
"""

import math
import os
import sys

from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _cli  # noqa: E402  (beside this script)

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run directory (config.json + checkpoints/)")
flags.DEFINE_string("saved_model", None, "An exported SavedModel (instead of --model_dir; samples only)")
flags.DEFINE_integer("num_samples", 64, "Samples in the grid", lower_bound=1)
flags.DEFINE_float("temperature", 1.0, "Sampling temperature T >= 0: z ~ N(0, T^2 I)")
flags.DEFINE_bool("interpolate", False, "Interpolate in latent space between pairs of test images instead")
flags.DEFINE_integer("pairs", 4, "Image pairs to interpolate between", lower_bound=1)
flags.DEFINE_integer("steps", 8, "Images per interpolation row (both ends included)", lower_bound=2)
flags.DEFINE_integer("seed", 0, "Sampling seed", lower_bound=0)
flags.DEFINE_integer(
    "label",
    None,
    "Class-conditional flows (--condition=label): draw this class (default: a row per class)",
    lower_bound=0,
)
_cli.define_model_check()
flags.DEFINE_string("out", None, "Output PNG (default <model_dir>/samples_T<temperature>.png)")
flags.register_validator(
    "temperature", lambda t: math.isfinite(t) and t >= 0, "--temperature must be a finite number >= 0"
)


def main(argv):
    if len(argv) > 1:
        _cli.fail(f"unexpected arguments {argv[1:]}; every option is a --flag")
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        _cli.fail("give exactly one of --model_dir and --saved_model")
    if FLAGS.saved_model and FLAGS.interpolate:
        _cli.fail("--interpolate needs --model_dir (it reads the run's test images)")
    label_suffix = "" if FLAGS.label is None else f"_class{FLAGS.label}"
    out = FLAGS.out or os.path.join(
        FLAGS.model_dir or FLAGS.saved_model, f"samples_T{FLAGS.temperature:g}{label_suffix}.png"
    )
    if os.path.isdir(out):
        _cli.fail(f"--out={out} is a directory; name the PNG file to write")
    import numpy as np
    import tensorflow as tf

    from tfp_realnvp import plots

    ncol = FLAGS.steps if FLAGS.interpolate else 8
    if FLAGS.saved_model:
        from tfp_realnvp.export import exported_condition_dims, exported_model, load_exported

        served = load_exported(FLAGS.saved_model)
        _cli.check_model(exported_model(served), FLAGS.saved_model)
        levels = int(served.pixel_levels.numpy())
        if not levels:
            _cli.fail(f"{FLAGS.saved_model!r} holds a vector flow; sample grids are for image flows")
        ncol, count, condition = _conditions(exported_condition_dims(served), FLAGS.saved_model, ncol)
        kwargs = {} if condition is None else {"condition": condition}
        images = served.signatures["sample"](
            num_samples=tf.constant(count), temperature=tf.constant(FLAGS.temperature), **kwargs
        )["samples"].numpy()
    else:
        from tfp_realnvp.experiment import load_data, restore_flow

        flow, config = restore_flow(FLAGS.model_dir)
        _cli.check_model(config.model, FLAGS.model_dir)
        levels = flow.pixel_levels
        if not levels:
            _cli.fail("sample grids are for image flows; vector runs (2-D, tabular) write panels.png when they train")
        if FLAGS.interpolate:
            if flow.condition_dims:
                _cli.fail("--interpolate is for unconditional flows; this run is class-conditional")
            images = _interpolate(flow, load_data(config), FLAGS.pairs, FLAGS.steps, FLAGS.seed)
        else:
            ncol, count, condition = _conditions(flow.condition_dims, FLAGS.model_dir, ncol)
            images = flow.draw_samples(
                count, temperature=FLAGS.temperature, seed=(FLAGS.seed, 0), condition=condition
            ).numpy()
    print(plots.save_image_grid(np.asarray(images), levels, out, ncol=ncol))


def _conditions(num_classes, source, ncol):
    """(columns, sample count, condition or None) for `--num_samples` and `--label`: a
    class-conditional flow draws `--label`'s class, or a row per class without it."""
    import numpy as np
    import tensorflow as tf

    if not num_classes:
        if FLAGS.label is not None:
            _cli.fail(f"--label is for class-conditional flows; {source!r} holds an unconditional one")
        return ncol, FLAGS.num_samples, None
    if FLAGS.label is not None:
        if FLAGS.label >= num_classes:
            _cli.fail(f"--label={FLAGS.label}, but {source!r} knows classes 0..{num_classes - 1}")
        labels = np.full(FLAGS.num_samples, FLAGS.label)
    else:
        from tfp_realnvp.experiment import class_rows

        ncol, kwargs = class_rows(FLAGS.num_samples, num_classes)
        return ncol, len(kwargs["condition"]), kwargs["condition"]
    return ncol, len(labels), tf.constant(np.eye(num_classes, dtype=np.float32)[labels])


def _interpolate(flow, d, pairs, steps, seed):
    """Rows of decode((1 - a) z0 + a z1), a in [0, 1], for random pairs of test images."""
    import numpy as np
    import tensorflow as tf

    from tfp_realnvp.data import dequantize_draws

    if 2 * pairs > len(d.test):
        _cli.fail(f"--pairs={pairs} needs {2 * pairs} test images; the test split has {len(d.test)}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(d.test), size=2 * pairs, replace=False)
    x = dequantize_draws(d.test[idx], d.levels, 1, seed=seed)
    z = flow.encode(tf.constant(x, flow.dtype)).numpy()
    a = np.linspace(0.0, 1.0, steps)[None, :, None, None, None]
    path = (1 - a) * z[0::2, None] + a * z[1::2, None]
    return flow.decode(tf.constant(path.reshape(-1, *z.shape[1:]), flow.dtype)).numpy()


if __name__ == "__main__":
    _cli.run(main)
