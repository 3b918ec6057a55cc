"""What a trained flow's log-likelihood is made of, and whether its latents look like its prior.

python experiments/diagnose.py --model_dir=runs/digits
python experiments/diagnose.py --saved_model=saved_models/moons --dataset=moons --out=moons_diagnostics.png

Prints, over test points, the mean of every term of log p(x) (each layer's log-det of the
data -> latent map, then the prior's log-density of the latent; they sum to log p(x)) and, per
scale, the latents' mean, std and share outside 3 sigma, and writes a picture of both. A flow fit
by maximum likelihood has latents close to its prior: N(0, 1) has std 1 and 0.27% of its mass
outside 3 sigma. Latents far wider than that, with large positive log-dets, are the signature of
a loss that weighs the log-det more than the prior term (docs/diagnostics.md).
"""

import json
import os
import sys

from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _cli  # noqa: E402  (beside this script)

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run directory (config.json + checkpoints/)")
flags.DEFINE_string("saved_model", None, "An exported SavedModel directory (instead of --model_dir)")
flags.DEFINE_string("dataset", None, "Dataset whose test split is scored (default: the run's own)")
flags.DEFINE_string("data_dir", None, "Local data folder (default: the run's own; TFDS when absent)")
flags.DEFINE_integer("num_points", 2000, "Test points scored (at most the test split)", lower_bound=1)
flags.DEFINE_integer("batch_size", 500, "Points per call", lower_bound=1)
flags.DEFINE_string("out", None, "Output PNG (default <model_dir>/diagnostics.png, or ./diagnostics.png)")
_cli.define_model_check()


def main(argv):
    if len(argv) > 1:
        _cli.fail(f"unexpected arguments {argv[1:]}; every option is a --flag")
    out = FLAGS.out or os.path.join(FLAGS.model_dir or ".", "diagnostics.png")
    if os.path.isdir(out):
        _cli.fail(f"--out={out} is a directory; name the PNG file to write")
    import numpy as np
    import tensorflow as tf

    from tfp_realnvp import plots
    from tfp_realnvp.data import dequantize_draws

    run = _cli.open_run_or_export()
    flow, served, model, d, source = run.flow, run.served, run.model, run.data, run.source
    if flow is not None:
        prior, dtype = flow.prior, flow.dtype

        def parts_fn(x, **c):
            return flow.log_prob_parts(x, **c)

        def scales_fn(x, **c):
            return [tf.reshape(p, [tf.shape(p)[0], -1]) for p in flow.split_latents(flow.encode(x, **c))]

    else:
        from tfp_realnvp.export import METADATA_FILENAME

        with open(os.path.join(source, METADATA_FILENAME)) as f:
            info = json.load(f)
        prior, dtype = info.get("prior", "normal"), tf.as_dtype(info.get("dtype", "float32"))
        if "log_prob_parts" not in served.signatures:
            _cli.fail(f"{source!r} was exported before log_prob_parts existed; export it again")

        def parts_fn(x, **c):
            return served.signatures["log_prob_parts"](images=x, **c)

        def scales_fn(x, **c):
            by_scale = served.signatures["latents_by_scale"](images=x, **c)
            return [by_scale[f"scale{i}"] for i in range(len(by_scale))]

    points = d.test[: FLAGS.num_points]
    if d.levels is not None:
        points = dequantize_draws(points, d.levels, 1, seed=1234)
    parts, scales = {}, []
    for start in range(0, len(points), FLAGS.batch_size):
        rows = slice(start, start + FLAGS.batch_size)
        x = tf.constant(points[rows], dtype)
        # A class-conditional flow is diagnosed given each test point's own label.
        c = {} if d.test_conditions is None else {"condition": tf.constant(d.test_conditions[rows], dtype)}
        for name, value in parts_fn(x, **c).items():
            parts.setdefault(name, []).append(np.asarray(value))
        scales.append([np.asarray(z) for z in scales_fn(x, **c)])
    parts = {name: np.concatenate(v) for name, v in parts.items()}
    parts["prior"] = parts.pop("prior")  # last, after the layers
    latents = [np.concatenate(z) for z in zip(*scales)]
    total = sum(parts.values())
    dims = int(np.prod(d.event_shape))
    print(f"{source} ({model}), {len(points)} test points of --dataset={run.dataset}: terms of log p(x), nats")
    width = max(len(n) for n in parts) + 2
    print(f"{'layer':<{width}}{'mean':>12}{'std':>12}")
    for name, value in parts.items():
        print(f"{name:<{width}}{value.mean():>12.3f}{value.std():>12.3f}")
    bits = -total.mean() / (dims * np.log(2))
    print(f"{'log p(x)':<{width}}{total.mean():>12.3f}{total.std():>12.3f}   ({bits:.4f} bits/dim)")
    print(f"latents ({prior} prior)    dims      mean       std   outside 3 sigma")
    for i, z in enumerate(latents):
        print(f"scale {i:<18}{z.shape[1]:>6}{z.mean():>10.3f}{z.std():>10.3f}{np.mean(np.abs(z) > 3):>17.2%}")
    reference = "N(0, 1): std 1, 0.27% outside 3 sigma" if prior == "normal" else "logistic: std 1.81, 9.5% outside 3"
    print(f"({reference})")
    means = {name: float(value.mean()) for name, value in parts.items()}
    print(f"picture: {plots.plot_diagnostics(means, latents, out, prior=prior)}")


if __name__ == "__main__":
    _cli.run(main)
