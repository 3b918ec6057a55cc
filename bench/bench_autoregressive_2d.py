"""2-D densities with the autoregressive models in a user's plain loop (bench_2d.py's `--loop plain`).

    python bench/bench_autoregressive_2d.py                          # MAF's default, 4 datasets, seed 0
    python bench/bench_autoregressive_2d.py --bounds 3 1000 --datasets moons checkerboard

The peers' data, batch order and metric (bench_2d.py: 50,000 training points, batches of 512,
3000 steps, paired KL on the 20,000 test points every 250 steps), trained by `bench_2d.train_plain`:
`tf_keras.optimizers.Adam(1e-3)`, no warm-up, decay or clipping, XLA. `--models` are keys of
`tfp_realnvp.models.MODELS` built with their defaults (`--set key=value` overrides, e.g.
`num_layers=3`). `--bounds B ...` trains, for each B, MAF with the affine transformer's log-scale
bound B instead of 3 (`AffineTransformer(bound=B)`, a subclass registered for this run only;
B = 1000 is unbounded in practice). Writes `results/2d_autoregressive<tag>.json`.
"""

import argparse
import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_2d import TARGETS, best_peer_kl, train_plain  # noqa: E402
from common import write_result  # noqa: E402


def _bounded_maf(bound):
    from tfp_realnvp.bijectors import AffineTransformer
    from tfp_realnvp.models import MODELS, AutoregressiveFlow

    class BoundedMAF(AutoregressiveFlow):
        def _make_transformer(self):
            return AffineTransformer(bound)

    key = f"maf_bound_{bound:g}"
    MODELS[key] = BoundedMAF
    return key


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--models", nargs="*", default=["maf"])
    p.add_argument("--bounds", nargs="*", type=float, default=[])
    p.add_argument("--set", nargs="*", default=[], help="model options key=value (Python literals)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--eval_every", type=int, default=250)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    kwargs = {}
    for item in args.set:
        key, _, value = item.partition("=")
        kwargs[key] = ast.literal_eval(value)
    models = list(args.models) + [_bounded_maf(b) for b in args.bounds]
    records = []
    for name in args.datasets:
        best_kl, _ = best_peer_kl(name)
        for model in models:
            for seed in args.seeds:
                run = train_plain(name, seed, args.steps, args.eval_every, True, kwargs, model)
                final = run["final"] or {}
                kl, nll = final.get("paired_kl", float("nan")), final.get("test_nll", float("nan"))
                losses = [e["train_loss"] for e in run["history"]]
                print(
                    f"{name:16s} {model:14s} seed {seed}: KL {kl:.4f} (best peer {best_kl:.4f}), test NLL {nll:.4f}, "
                    f"worst 250-step mean train loss after the first {max(losses[1:], default=float('nan')):.3f}, "
                    f"{run['nonfinite_steps']} non-finite steps, {run['train_steps_per_s']:.0f} steps/s",
                    flush=True,
                )
                records.append({**run, "best_peer_kl": best_kl})
    write_result({"benchmark": "2d_autoregressive", "runs": records}, f"2d_autoregressive{args.tag}.json")


if __name__ == "__main__":
    main()
