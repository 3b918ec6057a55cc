"""MNIST 28x28 (256 levels): ours vs TFP's tfb.Glow under the peers' 600 s protocol.

    python bench/bench_mnist.py                   # ours (~12 min)
    python bench/bench_mnist.py --with_peer       # then the tfb.Glow rerun (~12 min more)

Protocol (../shared/peers/mnist_data.py): MNIST from ../shared/data/mnist, batches from
`TrainBatches(64, seed=0)`, Adam 1e-3, 600 s of training (first step and evaluation excluded),
bits/dim in 256-level pixel units on the first 2000 test images (fixed dequantization) every
~120 s, and on all 10,000 at the end; then samples/s at the peer's count (1,000, after a warm-up
draw of that count; ours the median of 3 draws, the peer's script times one). Ours:
`RealNVP(event_shape=(28, 28, 1))` with 2 scales (28 -> 14), sized near the peers' ~325k
parameters, XLA on.
"""

import argparse
import sys
import time

import numpy as np
from common import peak_rss_mb, run_peer, write_result

SAMPLE_N = 1000  # mnist_peers.py's --sample_n


def _pixels(y_or_x):
    import mnist_data

    return (y_or_x * mnist_data.LEVELS).reshape(-1, 28, 28, 1).astype(np.float32)


def train_ours(args):
    import mnist_data
    import tensorflow as tf

    from tfp_realnvp import RealNVP
    from tfp_realnvp.training import TrainConfig, Trainer, evaluate

    stream = mnist_data.TrainBatches(64, transform="none", seed=0)

    def gen():
        while True:
            yield _pixels(stream.next())

    dataset = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([64, 28, 28, 1], tf.float32))
    dataset = dataset.prefetch(4)  # the Python generator runs ahead of the step instead of inside it
    subset = _pixels(mnist_data.eval_subset(transform="none")[0])
    config = TrainConfig(
        steps=10**7,
        batch_size=64,
        learning_rate=1e-3,
        log_every=10**6,
        eval_every=args.eval_every,
        checkpoint_every=10**7,
        jit_compile=not args.no_jit,
    )

    def build():
        return RealNVP(
            event_shape=(28, 28, 1),
            pixel_levels=256,
            num_scales=2,
            hidden_channels=args.hidden,
            num_blocks=args.blocks,
            squeeze_first=args.squeeze_first,
            batch_norm=not args.no_batch_norm,
            dequantization=args.dequantization,
        )

    trainer = Trainer(build, config)
    history = trainer.fit(
        dataset,
        verbose=False,
        time_budget=args.seconds,
        eval_fn=lambda flow: {"subset_bpd": evaluate(flow, subset, 500)},
    )
    flow = trainer.flow
    test = _pixels(mnist_data.test_set(transform="none")[0])
    final = evaluate(flow, test, 500)
    # As the peer: warm up at its count (1,000), then time that count (median of 3 draws here); then
    # one draw at a new count, which must reuse the graph.
    flow.draw_samples(SAMPLE_N, seed=(0, 0))
    sample_seconds, samples = [], []
    for i in range(3):
        t0 = time.perf_counter()
        samples.append(flow.draw_samples(SAMPLE_N, seed=(0, 1 + i)).numpy())
        sample_seconds.append(time.perf_counter() - t0)
    samples = np.concatenate(samples)
    t0 = time.perf_counter()
    flow.draw_samples(SAMPLE_N + 7, seed=(0, 9))
    new_count_seconds = time.perf_counter() - t0
    steady = history["train_seconds"] - history["first_step_seconds"]
    return {
        "peer": (
            f"tfp_realnvp.RealNVP(event_shape=(28, 28, 1), num_scales=2, squeeze_first={args.squeeze_first}, "
            f"batch_norm={not args.no_batch_norm}, dequantization={args.dequantization!r})"
        ),
        "config": {
            "hidden_channels": args.hidden,
            "num_blocks": args.blocks,
            "squeeze_first": args.squeeze_first,
            "batch_norm": not args.no_batch_norm,
            "dequantization": args.dequantization,
            "jit_compile": not args.no_jit,
        },
        "n_params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
        "steps": trainer.current_step,
        "epochs": trainer.current_step * 64 / 60000,
        "first_step_seconds": history["first_step_seconds"],
        "train_images_per_s": (trainer.current_step - 1) * 64 / steady,
        "history": history["eval"],
        "final_test_bpd_10k": final,
        "best_subset_bpd_seen": min(e["subset_bpd"] for e in history["eval"]),
        "sample_n": SAMPLE_N,
        "sample_chunk_size": flow.sample_chunk_size,
        "samples_per_s": SAMPLE_N / float(np.median(sample_seconds)),
        "samples_per_s_each": [SAMPLE_N / t for t in sample_seconds],
        "new_count_samples_per_s": (SAMPLE_N + 7) / new_count_seconds,
        "sample_traces": flow._draw_fn.experimental_get_tracing_count(),
        "samples_nonfinite": int(np.sum(~np.isfinite(samples).all(axis=(1, 2, 3)))),
        "peak_rss_mb": peak_rss_mb(),
        "independent_pixel_bpd": mnist_data.independent_pixel_bpd(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--eval_every", type=int, default=1000, help="steps between subset evaluations")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--squeeze_first", action="store_true", help="checkerboards on the squeezed grid")
    p.add_argument("--no_batch_norm", action="store_true", help="RealNVP's image default keeps batch norm")
    p.add_argument("--dequantization", choices=["uniform", "variational"], default="uniform")
    p.add_argument("--no_jit", action="store_true")
    p.add_argument("--tag", help="suffix of the result files (default: from the model flags, e.g. _squeeze_first)")
    p.add_argument("--with_peer", action="store_true", help="also rerun tfb.Glow (mnist_peers.py) now")
    args = p.parse_args()
    if args.tag is None:
        args.tag = "".join(
            suffix
            for on, suffix in (
                (args.squeeze_first, "_squeeze_first"),
                (args.no_batch_norm, "_no_batch_norm"),
                (args.dequantization == "variational", "_variational"),
            )
            if on
        )
    ours = train_ours(args)
    print({k: v for k, v in ours.items() if k != "history"}, flush=True)
    write_result({"benchmark": "mnist", "ours": ours, "tfp_glow": None}, "mnist" + args.tag + ".json")
    glow = None
    if args.with_peer:
        glow = run_peer("mnist_peers.py", ["--peer", "tfp_glow", "--seconds", str(args.seconds)], "mnist_tfp_glow.json")
    write_result({"benchmark": "mnist", "ours": ours, "tfp_glow": glow}, "mnist" + args.tag + ".json")
    print("| model | params | train img/s | first step s | test bpd (10k) | samples/s | non-finite samples |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| ours | {ours['n_params']:,} | {ours['train_images_per_s']:.0f} | {ours['first_step_seconds']:.1f} | "
        f"{ours['final_test_bpd_10k']:.3f} | {ours['samples_per_s']:.0f} | {ours['samples_nonfinite']} |"
    )
    if glow:
        print(
            f"| tfb.Glow | {glow.get('n_params', 0):,} | {glow.get('train_images_per_s') or 0:.0f} | "
            f"{glow.get('first_step_seconds') or 0:.1f} | {glow.get('final_test', {}).get('bpd', float('nan')):.3f} | "
            f"{glow.get('samples_per_s') or 0:.0f} | {glow.get('samples_nonfinite')} |"
        )
        print(
            f"ours / tfb.Glow: train img/s {ours['train_images_per_s'] / glow['train_images_per_s']:.2f}x, "
            f"samples/s {ours['samples_per_s'] / glow['samples_per_s']:.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
