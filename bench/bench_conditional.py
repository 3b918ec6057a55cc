"""Class-conditional images: do a conditional flow's samples of class k look like a k, and does
knowing the label lower the test bits/dim?

    python bench/bench_conditional.py                       # Real NVP, the main job's recipe (~6 min)
    python bench/bench_conditional.py --model glow --steps 2000
    python bench/bench_conditional.py --dataset mnist --time_budget 240 --steps 100000 --squeeze_first --eval_every 500

Trains the same model twice with `run_experiment` on scikit-learn's digits (the main job's data,
split and recipe: `ExperimentConfig(dataset="digits")`), once with `condition="label"` and once
without, and reports both test bits/dim (17-level pixels, 4 dequantization draws; the conditional
one given each test image's true label). A scikit-learn `LogisticRegression` trained on the 1,500
training digits (its test accuracy on the 297 real test digits is printed as the reference) then
labels `--per_class` samples of every class drawn at T = 0.7 (floored to integer pixels): the
agreement is the share labelled as the class they were drawn from.

`--dataset mnist` reads MNIST from `--data_dir` (default ../shared/data/mnist) with the MNIST
recipe, each run stopped after `--time_budget` seconds of training; the classifier is trained on
the first `--classifier_rows` training images (pixels / 255) and scored on the 10,000 test images.
Writes results/conditional_<dataset><tag>.json.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from common import MNIST_DIR, write_result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="realnvp")
    p.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    p.add_argument("--data_dir", help="MNIST's IDX files (default: ../shared/data/mnist)")
    p.add_argument("--time_budget", type=float, help="seconds of training per run (default: none)")
    p.add_argument("--squeeze_first", action="store_true", help="Real NVP's checkerboards on the squeezed grid")
    p.add_argument("--eval_every", type=int, help="steps between validation passes (default: the config's)")
    p.add_argument("--classifier_rows", type=int, default=10000, help="MNIST training images for the classifier")
    p.add_argument("--steps", type=int, help="default: the digits recipe's")
    p.add_argument("--per_class", type=int, default=100)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--tag", default="")
    args = p.parse_args()

    from sklearn.linear_model import LogisticRegression

    from tfp_realnvp.data import load_images
    from tfp_realnvp.experiment import ExperimentConfig, restore_flow, run_experiment

    data_dir = (args.data_dir or MNIST_DIR) if args.dataset == "mnist" else None
    images = load_images(args.dataset, data_dir)
    rows = len(images.train) if args.dataset == "digits" else args.classifier_rows
    scale = 1.0 if args.dataset == "digits" else 1.0 / 255  # digits: raw 0-16 pixels, as first measured
    flat = lambda x: x.reshape(len(x), -1).astype(np.float64) * scale  # noqa: E731
    classifier = LogisticRegression(max_iter=5000).fit(flat(images.train[:rows]), images.train_labels[:rows])
    reference = float(np.mean(classifier.predict(flat(images.test)) == images.test_labels))
    print(f"classifier accuracy on the real test images: {reference:.3f}", flush=True)
    options = {"squeeze_first": True} if args.squeeze_first else {}

    scratch = tempfile.mkdtemp(prefix="bench-conditional-")
    runs = {}
    for condition in ("label", "none"):
        config = ExperimentConfig(
            dataset=args.dataset,
            data_dir=data_dir,
            model=args.model,
            condition=condition,
            steps=args.steps,
            time_budget=args.time_budget,
            **options,
            **({"eval_every": args.eval_every} if args.eval_every else {}),
            model_dir=os.path.join(scratch, condition),
            export_dir=os.path.join(scratch, f"export_{condition}"),
        )
        start = time.perf_counter()
        metrics = run_experiment(config, verbose=False)
        runs[condition] = {
            k: metrics[k]
            for k in ("test_bits_per_dim", "validation_bits_per_dim", "chosen_step", "steps", "train_seconds", "params")
        }
        runs[condition]["wall_seconds"] = time.perf_counter() - start
        print(condition, runs[condition], flush=True)

    flow, _ = restore_flow(os.path.join(scratch, "label"))
    agreement = {}
    for k in range(10):
        condition = np.eye(10, dtype=np.float32)[k]
        samples = flow.draw_samples(args.per_class, temperature=args.temperature, seed=(7, k), condition=condition)
        pixels = np.clip(np.floor(samples.numpy()), 0, images.levels - 1)
        agreement[k] = float(np.mean(classifier.predict(flat(pixels)) == k))
    overall = float(np.mean(list(agreement.values())))
    record = {
        "benchmark": f"conditional_{args.dataset}",
        "model": args.model,
        "model_options": options,
        "time_budget": args.time_budget,
        "temperature": args.temperature,
        "per_class": args.per_class,
        "classifier": f"sklearn LogisticRegression(max_iter=5000) on {rows} training images' pixels x {scale:.4g}",
        "classifier_test_accuracy": reference,
        "agreement_by_class": agreement,
        "agreement": overall,
        "conditional": runs["label"],
        "unconditional": runs["none"],
    }
    write_result(record, f"conditional_{args.dataset}{args.tag}.json")
    print(
        "| model | conditional test bits/dim | unconditional "
        f"| samples labelled as their class (T = {args.temperature}) | classifier on real test images |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {args.model} | {runs['label']['test_bits_per_dim']:.4f} | {runs['none']['test_bits_per_dim']:.4f} | "
        f"{overall:.1%} (worst class {min(agreement, key=agreement.get)}: {min(agreement.values()):.0%}) | "
        f"{reference:.1%} |"
    )


if __name__ == "__main__":
    sys.exit(main())
