"""How much of a trained image flow's test bits/dim is dequantization noise rather than the model.

    python bench/dequantization_gap.py --model_dir runs/digits [--draws 256]

Restores the run's validation-chosen weights and scores its test images with `draws` uniform
dequantizations each. The bits/dim of one draw, averaged (what training and every table report),
is an upper bound on the discrete model's -log2 P(pixels) per dim; the importance-weighted
estimate -log2 mean_k p(pixels + u_k) per dim (Burda et al. 2015, uniform proposal) tightens toward
it as k grows. Their difference at the largest k is a lower bound on the gap that learned
(variational) dequantization can close for this model.
"""

import argparse
import math
import os

import numpy as np
from common import write_result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", default="runs/digits")
    p.add_argument("--draws", type=int, default=256)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if args.draws < 1:
        p.error("--draws must be >= 1")
    import tensorflow as tf

    from tfp_realnvp import experiment

    flow, config = experiment.restore_flow(args.model_dir, "best")
    if not flow.pixel_levels:
        p.error(f"{args.model_dir} holds a vector flow; the gap is about pixels")
    images = experiment.load_data(config).test
    pixels = tf.constant(images, flow.dtype)
    top = np.nextafter(np.array(flow.pixel_levels, flow.dtype.as_numpy_dtype), 0)  # k + U can round up to k + 1

    def dequantized(i):
        return tf.minimum(pixels + tf.random.stateless_uniform(pixels.shape, [args.seed, i], dtype=flow.dtype), top)

    log_probs = np.stack([flow.compiled_log_prob(dequantized(i)) for i in range(args.draws)]).astype(np.float64)
    per_dim = flow.num_dims * math.log(2.0)
    rows = {}
    k = 1
    while k <= args.draws:
        lp = log_probs[:k]
        top = lp.max(0)
        importance = top + np.log(np.mean(np.exp(lp - top), 0))
        rows[k] = {"uniform_bound": -lp.mean() / per_dim, "importance_weighted": -importance.mean() / per_dim}
        k *= 4
    record = {
        "model_dir": os.path.abspath(args.model_dir),
        "dequantization": config.dequantization,
        "batch_norm": config.batch_norm,
        "test_images": len(images),
        "by_draws": rows,
    }
    print("| draws | uniform bound (bits/dim) | importance-weighted |")
    print("|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['uniform_bound']:.4f} | {r['importance_weighted']:.4f} |")
    write_result(record, f"dequantization_gap_{os.path.basename(os.path.normpath(args.model_dir))}.json")


if __name__ == "__main__":
    main()
