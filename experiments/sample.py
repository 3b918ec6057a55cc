"""Sample grids and latent interpolations from a training run or a SavedModel.

python experiments/sample.py --model_dir=runs/digits --temperature=0.7 --out=samples_t07.png
python experiments/sample.py --model_dir=runs/digits --interpolate --out=interpolation.png
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run directory (config.json + checkpoints/)")
flags.DEFINE_string("saved_model", None, "An exported SavedModel (instead of --model_dir; samples only)")
flags.DEFINE_integer("num_samples", 64, "Samples in the grid")
flags.DEFINE_float("temperature", 1.0, "Sampling temperature T: z ~ N(0, T^2 I)")
flags.DEFINE_bool("interpolate", False, "Interpolate in latent space between pairs of test images instead")
flags.DEFINE_integer("pairs", 4, "Image pairs to interpolate between")
flags.DEFINE_integer("steps", 8, "Images per interpolation row")
flags.DEFINE_integer("seed", 0, "Sampling seed")
flags.DEFINE_string("out", None, "Output PNG (default <model_dir>/samples_T<temperature>.png)")


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    from tfp_realnvp import plots

    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        sys.exit("error: give exactly one of --model_dir and --saved_model")
    if FLAGS.temperature <= 0 or FLAGS.num_samples < 1:
        sys.exit("error: --temperature must be > 0 and --num_samples >= 1")
    out = FLAGS.out or os.path.join(FLAGS.model_dir or FLAGS.saved_model, f"samples_T{FLAGS.temperature:g}.png")
    try:
        if FLAGS.saved_model:
            from tfp_realnvp.export import load_exported

            if FLAGS.interpolate:
                sys.exit("error: --interpolate needs --model_dir (it reads the run's test images)")
            served = load_exported(FLAGS.saved_model)
            images = served.signatures["sample"](
                num_samples=tf.constant(FLAGS.num_samples), temperature=tf.constant(FLAGS.temperature)
            )["samples"].numpy()
            levels = int(served.pixel_levels.numpy())
        else:
            from tfp_realnvp.experiment import load_data, restore_flow

            flow, config = restore_flow(FLAGS.model_dir)
            levels = flow.pixel_levels
            if not levels:
                sys.exit("error: sample grids are for image flows; 2-D runs write panels.png when they train")
            if FLAGS.interpolate:
                images = _interpolate(flow, load_data(config), FLAGS.pairs, FLAGS.steps, FLAGS.seed)
            else:
                images = flow.sample(FLAGS.num_samples, seed=FLAGS.seed, temperature=FLAGS.temperature).numpy()
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    ncol = FLAGS.steps if FLAGS.interpolate else 8
    print(plots.save_image_grid(np.asarray(images), levels, out, ncol=ncol))


def _interpolate(flow, d, pairs, steps, seed):
    """Rows of decode((1 - a) z0 + a z1), a in [0, 1], for random pairs of test images."""
    import numpy as np
    import tensorflow as tf

    from tfp_realnvp.data import dequantize_draws

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(d.test), size=2 * pairs, replace=False)
    x = dequantize_draws(d.test[idx], d.levels, 1, seed=seed)
    z = flow.encode(tf.constant(x, flow.dtype)).numpy()
    a = np.linspace(0.0, 1.0, steps)[None, :, None, None, None]
    path = (1 - a) * z[0::2, None] + a * z[1::2, None]
    return flow.decode(tf.constant(path.reshape(-1, *z.shape[1:]), flow.dtype)).numpy()


if __name__ == "__main__":
    app.run(main)
