"""Every registered model on the peers' image protocols, the image-flow peers rerun in the same session.

    python bench/bench_family.py --data digits                                  # all models + peers, 300 s each
    python bench/bench_family.py --data mnist --models glow nice --seconds 600
    python bench/bench_family.py --data digits --models glow --set num_steps=4 --no_peers --seconds 60

Each model of `tfp_realnvp.models.MODELS` is built by `tfp_realnvp.experiment.build_flow` from the
data's recipe for that model (`ExperimentConfig(dataset=..., model=...)`, plus `--set` overrides
of its options) and trained by `tfp_realnvp.Trainer` with the recipe's optimizer settings (Adam
at its rate, warm-up, decay, L2, clip and weight average) and XLA, in a fresh process per run:

  protocol   the peers' training batches (digits_data / mnist_data `TrainBatches(64, seed=0)`, in
             pixel units), `--seconds` of training (first step and evaluations excluded), test
             bits/dim on the peers' fixed test dequantization: digits 297 images x 4 draws
             (every `--eval_every` steps), MNIST the 10k test images (periodic: the 2k subset).
  validated  digits only: the last 150 of the 1500 training images held out (2 fixed
             dequantizations), our pipeline's batches, and the test bits/dim of the step chosen on
             validation (the peers' "best seen" is picked on test).

Both report parameters, first step (trace + compile), steady training images/s, test bits/dim at
the budget and the best seen, `draw_samples` samples/s (1,000 after a warm-up draw of that count,
median of 3) and the non-finite samples among 1,000 at T = 1 and T = 0.7. The peers
(`../shared/peers/{digits,mnist}_peers.py`): `tfp_glow` with this Python, `normflows_glow` with
`--torch_python` (a venv with torch and normflows, see ../shared/peers/RESULTS.md). Results:
`results/family_<data><tag>.json`; the tables go to bench/README.md.
"""

import argparse
import json
import os
import time

import numpy as np
from bench_digits import _peer_batches, _test_points
from bench_mnist import _pixels
from common import MNIST_DIR, peak_rss_mb, run_peer, run_self, write_result

SAMPLE_N = 1000


def _overrides(pairs):
    """`--set name=value` pairs as config fields (ints, floats, bools, None and comma lists parsed)."""
    out = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        value = text
        for parse in (int, float):
            try:
                value = parse(text)
                break
            except ValueError:
                pass
        if text in ("True", "False", "true", "false"):
            value = text.lower() == "true"
        elif text in ("None", "none"):
            value = None
        elif "," in text:
            value = tuple(int(v) for v in text.split(","))
        out[name] = value
    return out


def _config(args):
    from tfp_realnvp.experiment import ExperimentConfig

    data_dir = MNIST_DIR if args.data == "mnist" else None
    return ExperimentConfig(dataset=args.data, data_dir=data_dir, model=args.model, seed=0, **_overrides(args.set))


def _peer_dataset(args):
    """The peers' training batches as pixels in [0, K)."""
    if args.data == "digits":
        return _peer_batches(64)
    import mnist_data
    import tensorflow as tf

    stream = mnist_data.TrainBatches(64, transform="none", seed=0, data_dir=MNIST_DIR)

    def gen():
        while True:
            yield _pixels(stream.next())

    spec = tf.TensorSpec([64, 28, 28, 1], tf.float32)
    return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(4)


def _test_sets(args):
    """(periodic evaluation points, final test points), in pixel units."""
    if args.data == "digits":
        points = _test_points()
        return points, points
    import mnist_data

    subset = _pixels(mnist_data.eval_subset(transform="none", data_dir=MNIST_DIR)[0])
    return subset, _pixels(mnist_data.test_set(transform="none", data_dir=MNIST_DIR)[0])


def child(args):
    """One run of one model in this process; writes its JSON (called through run_self)."""
    from tfp_realnvp import data
    from tfp_realnvp.experiment import build_flow
    from tfp_realnvp.training import Trainer, evaluate

    config = _config(args)
    shape, levels = ((8, 8, 1), 17) if args.data == "digits" else ((28, 28, 1), 256)
    periodic, final_points = _test_sets(args)
    val_points = None
    if args.part == "validated":
        images = data.load_digits()
        dataset = data.image_dataset(images.train[:1350], 17, 64, training=True, seed=0)
        val_points = data.dequantize_draws(images.train[1350:], 17, 2, seed=1234)
    else:
        dataset = _peer_dataset(args)
    train = config.train_config(
        steps=10**7,
        batch_size=64,
        log_every=10**6,
        eval_every=args.eval_every,
        checkpoint_every=10**7,
        jit_compile=not args.no_jit,
    )
    trainer = Trainer(lambda: build_flow(config, shape, levels), train)

    def eval_fn(flow):
        result = {"test_bpd": evaluate(flow, periodic, 500)}
        if val_points is not None:
            result["validation_bpd"] = evaluate(flow, val_points, 500)
        return result

    history = trainer.fit(
        dataset,
        eval_fn=eval_fn,
        verbose=False,
        time_budget=args.seconds,
        select_on=None if val_points is None else "validation_bpd",
    )
    flow, evals = trainer.flow, history["eval"]
    steady = history["train_seconds"] - history["first_step_seconds"]
    record = {
        "model": args.model,
        "part": args.part,
        "options": {k: getattr(config, k) for k in sorted(_options(args.model, True))},
        "params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
        "steps": trainer.current_step,
        "first_step_seconds": history["first_step_seconds"],
        "train_images_per_s": (trainer.current_step - 1) * 64 / steady,
        "test_bpd_at_budget": evaluate(flow, final_points, 500),
        "best_test_bpd_seen": min(e["test_bpd"] for e in evals),
        "history": evals,
    }
    if "best" in history:
        record["chosen_step"] = history["best"]["step"]
        record["test_bpd_at_validation_choice"] = history["best"]["test_bpd"]
    flow.draw_samples(SAMPLE_N, seed=(0, 0))
    seconds = []
    for i in range(3):
        t0 = time.perf_counter()
        flow.draw_samples(SAMPLE_N, seed=(0, 1 + i))
        seconds.append(time.perf_counter() - t0)
    record["samples_per_s"] = SAMPLE_N / float(np.median(seconds))
    for t in (1.0, 0.7):
        samples = flow.draw_samples(SAMPLE_N, temperature=t, seed=(1, 0)).numpy()
        bad = ~np.isfinite(samples).reshape(SAMPLE_N, -1).all(axis=1)
        if not bad.any():  # samples are pixels in [0, K); their density must be finite too
            bad |= ~np.isfinite(flow.compiled_log_prob(samples).numpy())
        record[f"nonfinite_samples_T{t}"] = int(bad.sum())
    record["peak_rss_mb"] = peak_rss_mb()
    with open(args.json_out, "w") as f:
        json.dump(record, f, default=float)


def _options(model, image):
    from tfp_realnvp.experiment import model_options

    return model_options(model, image)


def main():
    from tfp_realnvp.models import MODELS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=("digits", "mnist"), default="digits")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--set", nargs="*", default=[], help="options for every model run (name=value): one model at a time")
    p.add_argument("--seconds", type=float, help="training budget per run (default digits 300, mnist 600)")
    p.add_argument("--eval_every", type=int, help="steps between evaluations (default digits 200, mnist 1000)")
    p.add_argument("--parts", nargs="+", choices=("protocol", "validated"), help="default: digits both, mnist protocol")
    p.add_argument("--peers", nargs="*", default=["tfp_glow", "normflows_glow"])
    p.add_argument("--no_peers", action="store_true")
    p.add_argument("--torch_python", default=os.environ.get("TORCH_PY", "/work/torchenv/bin/python"))
    p.add_argument("--no_jit", action="store_true")
    p.add_argument("--tag", default="")
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--part", help=argparse.SUPPRESS)
    p.add_argument("--json_out", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.seconds = args.seconds or (300.0 if args.data == "digits" else 600.0)
    args.eval_every = args.eval_every or (200 if args.data == "digits" else 1000)
    if args.part:
        return child(args)
    parts = args.parts or (["protocol", "validated"] if args.data == "digits" else ["protocol"])
    if args.data == "mnist" and "validated" in parts:
        p.error("--parts validated is for digits")
    me = os.path.abspath(__file__)
    shared = ["--data", args.data, "--seconds", str(args.seconds), "--eval_every", str(args.eval_every)]
    shared += ["--set", *args.set] if args.set else []
    shared += ["--no_jit"] if args.no_jit else []
    record = {"benchmark": f"family_{args.data}", "budget_seconds": args.seconds, "runs": {}, "peers": {}}
    for model in args.models:
        for part in parts:
            run = run_self(me, [*shared, "--model", model, "--part", part])
            record["runs"][f"{model}_{part}"] = run
            print(f"{model} {part}:", _short(run), flush=True)
    for peer in [] if args.no_peers else args.peers:
        script = f"{args.data}_peers.py"
        python = args.torch_python if peer.startswith("normflows") else None
        eval_seconds = "15" if args.data == "digits" else "120"
        rec = run_peer(
            script,
            ["--peer", peer, "--seconds", str(args.seconds), "--eval_every", eval_seconds],
            f"{args.data}_{peer}.json",
            python=python,
        )
        record["peers"][peer] = rec
        print(f"{peer}:", {k: rec.get(k) for k in ("n_params", "train_images_per_s", "samples_per_s")}, flush=True)
    write_result(record, f"family_{args.data}{args.tag}.json")


def _short(run):
    keys = (
        "params",
        "steps",
        "first_step_seconds",
        "train_images_per_s",
        "test_bpd_at_budget",
        "best_test_bpd_seen",
        "test_bpd_at_validation_choice",
        "samples_per_s",
        "nonfinite_samples_T1.0",
        "nonfinite_samples_T0.7",
    )
    return {k: round(run[k], 4) if isinstance(run[k], float) else run[k] for k in keys if k in run}


if __name__ == "__main__":
    main()
