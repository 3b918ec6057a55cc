"""Class-conditional digits: do a conditional flow's samples of class k look like a k, and does
knowing the label lower the test bits/dim?

    python bench/bench_conditional.py                       # Real NVP, the main job's recipe (~6 min)
    python bench/bench_conditional.py --model glow --steps 2000

Trains the same model twice with `run_experiment` on scikit-learn's digits (the main job's data,
split and recipe: `ExperimentConfig(dataset="digits")`), once with `condition="label"` and once
without, and reports both test bits/dim (17-level pixels, 4 dequantization draws; the conditional
one given each test image's true label). A scikit-learn `LogisticRegression` trained on the 1,500
training digits (its test accuracy on the 297 real test digits is printed as the reference) then
labels `--per_class` samples of every class drawn at T = 0.7 (floored to integer pixels): the
agreement is the share labelled as the class they were drawn from. Writes
results/conditional_digits<tag>.json.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from common import write_result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="realnvp")
    p.add_argument("--steps", type=int, help="default: the digits recipe's")
    p.add_argument("--per_class", type=int, default=100)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--tag", default="")
    args = p.parse_args()

    from sklearn.linear_model import LogisticRegression

    from tfp_realnvp.data import load_digits
    from tfp_realnvp.experiment import ExperimentConfig, restore_flow, run_experiment

    digits = load_digits()
    flat = lambda images: images.reshape(len(images), -1).astype(np.float64)  # noqa: E731
    classifier = LogisticRegression(max_iter=5000).fit(flat(digits.train), digits.train_labels)
    reference = float(np.mean(classifier.predict(flat(digits.test)) == digits.test_labels))
    print(f"classifier accuracy on the real test digits: {reference:.3f}", flush=True)

    scratch = tempfile.mkdtemp(prefix="bench-conditional-")
    runs = {}
    for condition in ("label", "none"):
        config = ExperimentConfig(
            dataset="digits",
            model=args.model,
            condition=condition,
            steps=args.steps,
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
        pixels = np.clip(np.floor(samples.numpy()), 0, 16)
        agreement[k] = float(np.mean(classifier.predict(flat(pixels)) == k))
    overall = float(np.mean(list(agreement.values())))
    record = {
        "benchmark": "conditional_digits",
        "model": args.model,
        "temperature": args.temperature,
        "per_class": args.per_class,
        "classifier": "sklearn LogisticRegression(max_iter=5000) on the 1,500 training digits' raw pixels",
        "classifier_test_accuracy": reference,
        "agreement_by_class": agreement,
        "agreement": overall,
        "conditional": runs["label"],
        "unconditional": runs["none"],
    }
    write_result(record, f"conditional_digits{args.tag}.json")
    print(
        "| model | conditional test bits/dim | unconditional "
        f"| samples labelled as their class (T = {args.temperature}) | classifier on real test digits |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {args.model} | {runs['label']['test_bits_per_dim']:.4f} | {runs['none']['test_bits_per_dim']:.4f} | "
        f"{overall:.1%} (worst class {min(agreement, key=agreement.get)}: {min(agreement.values()):.0%}) | "
        f"{reference:.1%} |"
    )


if __name__ == "__main__":
    sys.exit(main())
