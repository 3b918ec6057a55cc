"""Digits 8x8 (17 levels): ours vs TFP's tfb.Glow in one run, on the peers' data and metrics.

    python bench/bench_digits.py                 # everything (~25 min on 2 cores)
    python bench/bench_digits.py --only speed    # one part

Parts (each in its own process, so peak memory is its own):
  protocol   the peers' exact protocol (../shared/peers/digits_data.py): all 1500 training images in
             TrainBatches(64, seed=0) order, Adam 1e-3, 300 s of training (first step and evaluation
             excluded), test bpd on the 4 fixed dequantizations every 15 s: final and best seen.
  validated  the same budget, with the last 150 of the 1500 training images held out as a
             validation set (2 fixed dequantizations); the reported test bpd is that of the step
             chosen on validation (the peers' "best seen" is picked on test, which this is not).
  speed      steady-state training images/s (compile excluded), first step (trace + compile),
             sampling samples/s and peak memory, graph vs XLA, at the default size and at the
             size of tfb.Glow (--glow_size_hidden maps x 1 block; tfb.Glow 75,804 params), without dropout
             or weight averaging, fed by the library's tf.data pipeline.
  tfp_glow   the peer, rerun now: ../shared/peers/digits_peers.py --peer tfp_glow.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from common import peak_rss_mb, run_peer, run_self, write_result

BUDGET = 300.0


def _flow(args, dropout=0.0):
    from tfp_realnvp.experiment import ExperimentConfig, build_flow

    config = ExperimentConfig(
        hidden_channels=args.hidden,
        num_blocks=args.blocks,
        num_scales=args.num_scales,
        squeeze_first=args.squeeze_first,
        dequantization=args.dequantization,
        dropout=dropout,
        batch_norm=bool(args.batch_norm),
        seed=args.seed,
    )
    return build_flow(config, (8, 8, 1), 17)


def _peer_batches(batch_size):
    """The peers' training batches (digits_data.TrainBatches), as pixels v = 17 x in [0, 17)."""
    import digits_data
    import tensorflow as tf

    stream = digits_data.TrainBatches(batch_size, transform="none", seed=0)

    def gen():
        while True:
            yield (stream.next() * digits_data.LEVELS).reshape(batch_size, 8, 8, 1).astype(np.float32)

    dataset = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([batch_size, 8, 8, 1], tf.float32))
    return dataset.prefetch(4)  # the Python generator runs ahead of the step instead of inside it


def _test_points():
    """The peers' test set: 297 images x 4 fixed dequantizations (digits_data.test_set, in pixels)."""
    import digits_data

    _, test = digits_data.load_split()
    rs = np.random.RandomState(digits_data.TEST_NOISE_SEED)
    x = np.concatenate([digits_data.dequantize(test, rs) for _ in range(digits_data.TEST_DRAWS)], 0)
    return (x * digits_data.LEVELS).reshape(-1, 8, 8, 1).astype(np.float32)


def _train(args, dataset, val_points=None):
    from tfp_realnvp.training import TrainConfig, Trainer, evaluate

    test = _test_points()
    config = TrainConfig(
        steps=10**7,
        batch_size=64,
        learning_rate=args.lr,
        log_every=10**6,
        eval_every=args.eval_every,
        checkpoint_every=10**7,
        jit_compile=args.jit,
        ema_decay=args.ema_decay,
        seed=args.seed,
    )
    trainer = Trainer(lambda: _flow(args, args.dropout), config)

    def eval_fn(flow):
        result = {"test_bpd": evaluate(flow, test)}
        if val_points is not None:
            result["validation_bpd"] = evaluate(flow, val_points)
        return result

    history = trainer.fit(
        dataset,
        eval_fn=eval_fn,
        verbose=False,
        time_budget=args.seconds,
        select_on="validation_bpd" if val_points is not None else None,
    )
    evals = history["eval"]
    record = {
        "params": int(sum(np.prod(v.shape) for v in trainer.flow.trainable_variables)),
        "steps": trainer.current_step,
        "epochs": trainer.current_step * 64 / (1500 if val_points is None else 1350),
        "first_step_seconds": history["first_step_seconds"],
        "train_seconds": evals[-1]["train_seconds"],
        "final_test_bpd": evals[-1]["test_bpd"],
        "best_test_bpd_seen": min(e["test_bpd"] for e in evals),
        "history": evals,
    }
    if "best" in history:
        record["chosen_step"] = history["best"]["step"]
        record["test_bpd_at_validation_choice"] = history["best"]["test_bpd"]
        record["validation_bpd"] = history["best"]["validation_bpd"]
    samples = trainer.flow.draw_samples(64, seed=(0, 0)).numpy()
    record["samples_nonfinite"] = int(np.sum(~np.isfinite(samples).all(axis=(1, 2, 3))))
    return record


def part_protocol(args):
    return _train(args, _peer_batches(64))


def part_validated(args):
    from tfp_realnvp import data

    images = data.load_digits()
    train, val = images.train[:1350], images.train[1350:]
    val_points = data.dequantize_draws(val, 17, 2, seed=1234)
    return _train(args, data.image_dataset(train, 17, 64, training=True, seed=args.seed), val_points)


def part_speed(args):
    """Throughput of one configuration over `args.seconds` of training after the first step."""
    from tfp_realnvp import data
    from tfp_realnvp.training import TrainConfig, Trainer

    config = TrainConfig(steps=10**7, batch_size=64, log_every=10**6, checkpoint_every=10**7, jit_compile=args.jit)
    trainer = Trainer(lambda: _flow(args), config)
    # The library's own pipeline: the peers' Python batch generator (tf.data.from_generator) costs
    # ~60 ms a step here and would measure the generator, not the flow.
    images = data.load_digits().train
    history = trainer.fit(
        data.image_dataset(images, 17, 64, training=True, seed=0), verbose=False, time_budget=args.seconds
    )
    steps = trainer.current_step
    steady_seconds = history["train_seconds"] - history["first_step_seconds"]
    flow = trainer.flow
    flow.draw_samples(1000, seed=(0, 0))  # compiles once; other counts reuse the graph
    t0 = time.perf_counter()
    for i in range(3):
        flow.draw_samples(1000 + i, seed=(0, i))
    samples_per_s = 3 * 1001 / (time.perf_counter() - t0)
    return {
        "params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
        "steps": steps,
        "first_step_seconds": history["first_step_seconds"],
        "train_images_per_s": (steps - 1) * 64 / steady_seconds,
        "samples_per_s": samples_per_s,
        "sample_traces": flow._draw_fn.experimental_get_tracing_count(),
    }


PARTS = {"protocol": part_protocol, "validated": part_validated, "speed": part_speed}


def child(args):
    """Run one part in this process and write its JSON (called through run_self)."""
    record = PARTS[args.part](args)
    record.update(
        part=args.part,
        hidden=args.hidden,
        blocks=args.blocks,
        num_scales=args.num_scales,
        squeeze_first=args.squeeze_first,
        dequantization=args.dequantization,
        batch_norm=bool(args.batch_norm),
        seed=args.seed,
        jit=args.jit,
        seconds=args.seconds,
        peak_rss_mb=peak_rss_mb(),
    )
    if args.part != "speed":  # the speed part measures the plain flow
        record.update(ema_decay=args.ema_decay, dropout=args.dropout)
    with open(args.json_out, "w") as f:
        json.dump(record, f, default=float)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["protocol", "validated", "speed", "tfp_glow"], nargs="*")
    p.add_argument("--seconds", type=float, default=BUDGET)
    p.add_argument("--speed_seconds", type=float, default=45.0)
    p.add_argument("--eval_every", type=int, default=200, help="steps between evaluations (~15 s)")
    p.add_argument("--default_hidden", type=int, help="our width (default: the digits recipe's)")
    p.add_argument("--default_blocks", type=int, help="our residual blocks (default: the digits recipe's)")
    p.add_argument("--num_scales", type=int, default=2)
    p.add_argument("--squeeze_first", action="store_true", help="checkerboards on the squeezed grid")
    p.add_argument("--dequantization", choices=["uniform", "variational"], help="default: the digits recipe's")
    p.add_argument("--glow_size_hidden", type=int, default=14, help="our width at tfb.Glow's parameter count")
    p.add_argument("--glow_size_blocks", type=int, default=1, help="our residual blocks at that size")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--jit", action="store_true")
    p.add_argument("--ema_decay", type=float, help="evaluated weight average (default: the digits recipe's)")
    p.add_argument("--dropout", type=float, help="dropout in the conditioners (default: the digits recipe's)")
    p.add_argument("--batch_norm", type=int, choices=[0, 1], help="default: the digits recipe's (none)")
    p.add_argument("--seed", type=int, default=0, help="model, dropout and (validated) batch-order seed")
    p.add_argument("--tag", default="", help="suffix of the result file")
    p.add_argument("--protocol_graph", action="store_true", help="also run the protocol part without XLA")
    p.add_argument("--part", help=argparse.SUPPRESS)
    p.add_argument("--hidden", type=int, default=32, help=argparse.SUPPRESS)
    p.add_argument("--blocks", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--json_out", help=argparse.SUPPRESS)
    args = p.parse_args()
    from tfp_realnvp.experiment import ExperimentConfig

    recipe = ExperimentConfig(dataset="digits")  # the main job's model and training recipe
    for key, field in (
        ("ema_decay",) * 2,
        ("dropout",) * 2,
        ("default_hidden", "hidden_channels"),
        ("default_blocks", "num_blocks"),
        ("dequantization",) * 2,
        ("batch_norm",) * 2,
    ):
        if getattr(args, key) is None:
            setattr(args, key, getattr(recipe, field))
    if args.part:
        return child(args)
    parts = args.only or ["protocol", "validated", "speed", "tfp_glow"]
    record = {"benchmark": "digits", "budget_seconds": args.seconds, "parts": {}}
    me = os.path.abspath(__file__)
    common = ["--seconds", str(args.seconds), "--eval_every", str(args.eval_every), "--lr", str(args.lr)]
    common += ["--ema_decay", str(args.ema_decay), "--dropout", str(args.dropout)]
    grid = ["--num_scales", str(args.num_scales), *(["--squeeze_first"] if args.squeeze_first else [])]
    grid += ["--dequantization", args.dequantization, "--batch_norm", str(int(args.batch_norm))]
    common += [*grid, "--seed", str(args.seed)]
    for part in parts:
        if part in ("protocol", "validated"):
            for jit in (False, True) if (part == "protocol" and args.protocol_graph) else (True,):
                key = f"{part}{'_xla' if jit else ''}"
                extra = ["--jit"] if jit else []
                record["parts"][key] = run_self(
                    me,
                    ["--part", part, "--hidden", str(args.default_hidden), "--blocks", str(args.default_blocks)]
                    + [*common, *extra],
                )
                print(key, _short(record["parts"][key]), flush=True)
        elif part == "speed":
            for hidden, blocks in (
                (args.glow_size_hidden, args.glow_size_blocks),
                (args.default_hidden, args.default_blocks),
            ):
                for jit in (False, True):
                    key = f"speed_h{hidden}b{blocks}{'_xla' if jit else ''}"
                    record["parts"][key] = run_self(
                        me,
                        [
                            "--part",
                            "speed",
                            "--hidden",
                            str(hidden),
                            "--blocks",
                            str(blocks),
                            *grid,
                            "--seconds",
                            str(args.speed_seconds),
                            *(["--jit"] if jit else []),
                        ],
                    )
                    print(key, _short(record["parts"][key]), flush=True)
        else:
            glow = run_peer(
                "digits_peers.py",
                ["--peer", "tfp_glow", "--seconds", str(args.seconds), "--eval_every", "15"],
                "digits_tfp_glow.json",
            )
            record["parts"]["tfp_glow"] = glow
            print(
                "tfp_glow",
                {k: glow.get(k) for k in ("n_params", "train_images_per_s", "first_step_seconds", "samples_per_s")},
                flush=True,
            )
    record["recipe"] = {
        "squeeze_first": args.squeeze_first,
        "dequantization": args.dequantization,
        "lr": args.lr,
        "ema_decay": args.ema_decay,
        "dropout": args.dropout,
        "batch_norm": bool(args.batch_norm),
    }
    write_result(record, "digits" + ("_" + "_".join(parts) if args.only else "") + args.tag + ".json")
    _table(record)


def _short(r):
    keys = (
        "params",
        "steps",
        "first_step_seconds",
        "train_images_per_s",
        "samples_per_s",
        "final_test_bpd",
        "best_test_bpd_seen",
        "test_bpd_at_validation_choice",
        "peak_rss_mb",
    )
    return {k: round(r[k], 3) if isinstance(r[k], float) else r[k] for k in keys if k in r}


def _table(record):
    parts = record["parts"]
    glow = parts.get("tfp_glow")
    print("\n| run | params | first step s | train img/s | samples/s | test bpd final | best seen | at val choice |")
    print("|---|---|---|---|---|---|---|---|")
    for key, r in parts.items():
        if key == "tfp_glow":
            hist = [h["test_bpd"] for h in r["history"]]
            row = [
                r["n_params"],
                r["first_step_seconds"],
                r["train_images_per_s"],
                r["samples_per_s"],
                r["final_test"]["bpd"],
                min(hist) if hist else None,
                None,
            ]
        else:
            row = [
                r.get("params"),
                r.get("first_step_seconds"),
                r.get("train_images_per_s"),
                r.get("samples_per_s"),
                r.get("final_test_bpd"),
                r.get("best_test_bpd_seen"),
                r.get("test_bpd_at_validation_choice"),
            ]
        cells = ["" if v is None else (f"{v:.3f}" if isinstance(v, float) else f"{v:,}") for v in row]
        print(f"| {key} | " + " | ".join(cells) + " |")
    if glow:
        for key, r in parts.items():
            if key.startswith("speed") and "train_images_per_s" in r:
                print(
                    f"{key}: train img/s vs tfb.Glow {r['train_images_per_s'] / glow['train_images_per_s']:.2f}x, "
                    f"samples/s vs tfb.Glow {r['samples_per_s'] / glow['samples_per_s']:.2f}x"
                )


if __name__ == "__main__":
    sys.exit(main())
