"""Every registered model on MNIST with mixed precision and XLA under MirroredStrategy: one script for a GPU.

    python bench/bench_gpu.py                                  # every model, 90 s of training each (< 8 min)
    python bench/bench_gpu.py --models glow --seconds 30
    python bench/bench_gpu.py --num_cpu_devices 2 --seconds 5 --test_points 500   # the same on a CPU, slowly

For each model of `tfp_realnvp.models.MODELS` (built by `experiment.build_flow` from the MNIST recipe
for that model, `mixed_precision=True`: conditioners in float16 on GPUs, bfloat16 on CPUs; log-dets
and the loss in float32), `tfp_realnvp.Trainer` under `tf.distribute.MirroredStrategy` (every GPU,
or the CPU split into `--num_cpu_devices` logical devices) trains with XLA
(`jit_compile=True`; steps with layers that all-reduce inside the forward pass fall back to plain
graphs, as the Trainer logs) on uniformly dequantized MNIST (`--data_dir`, the IDX gz files) for
`--seconds` of training, global batch `--batch_size`. It prints, per model: parameters, first step
(trace + compile), steady training images/s, test bits/dim on the first `--test_points` test
images (4 fixed dequantizations), and `draw_samples` samples/s (1,000, after a warm-up draw), and
writes them to `results/gpu_<device kind>.json`.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def _default_data_dir():
    for path in (os.path.join(ROOT, "shared", "data", "mnist"), os.path.join(ROOT, "..", "shared", "data", "mnist")):
        if os.path.isdir(path):
            return os.path.normpath(path)
    return None


def run_model(model, args, strategy, images, test_points):
    import numpy as np

    from tfp_realnvp import data
    from tfp_realnvp.experiment import ExperimentConfig, build_flow
    from tfp_realnvp.training import Trainer, evaluate

    config = ExperimentConfig(dataset="mnist", data_dir=args.data_dir, model=model, mixed_precision=True)
    train = config.train_config(
        steps=10**7,
        batch_size=args.batch_size,
        log_every=10**6,
        eval_every=0,
        checkpoint_every=10**7,
        ema_decay=0.0,
        jit_compile=True,
        seed=0,
    )
    trainer = Trainer(lambda: build_flow(config, (28, 28, 1), 256), train, strategy=strategy)
    dataset = data.image_dataset(images, 256, args.batch_size, training=True, seed=0)
    history = trainer.fit(dataset, verbose=False, time_budget=args.seconds)
    flow = trainer.flow
    steady = history["train_seconds"] - history["first_step_seconds"]
    record = {
        "params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
        "steps": trainer.current_step,
        "first_step_seconds": history["first_step_seconds"],
        "train_images_per_s": (trainer.current_step - 1) * args.batch_size / max(steady, 1e-9),
        "test_bpd": evaluate(flow, test_points, 500),
    }
    flow.draw_samples(1000, seed=(0, 0))
    t0 = time.perf_counter()
    samples = flow.draw_samples(1000, seed=(0, 1)).numpy()
    record["samples_per_s"] = 1000 / (time.perf_counter() - t0)
    record["nonfinite_samples"] = int((~np.isfinite(samples).reshape(1000, -1).all(axis=1)).sum())
    return record


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", help="default: every registered model")
    p.add_argument("--seconds", type=float, default=90.0, help="training seconds per model (compile excluded)")
    p.add_argument("--batch_size", type=int, default=256, help="global batch")
    p.add_argument("--test_points", type=int, default=10000, help="test images scored (4 draws each)")
    p.add_argument("--data_dir", default=_default_data_dir(), help="MNIST IDX gz files")
    p.add_argument("--num_cpu_devices", type=int, default=0, help="without GPUs: split the CPU into N devices")
    p.add_argument("--out", help="result JSON (default results/gpu_<device kind>.json)")
    args = p.parse_args(argv)
    import tensorflow as tf

    from tfp_realnvp import data
    from tfp_realnvp.models import MODELS
    from tfp_realnvp.training import split_cpu

    models = args.models or list(MODELS)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        p.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    if args.data_dir is None or not os.path.isdir(args.data_dir):
        p.error(f"--data_dir {args.data_dir!r} is not a folder of MNIST IDX gz files")
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and args.num_cpu_devices:
        split_cpu(args.num_cpu_devices)
    devices = [d.name for d in tf.config.list_logical_devices("GPU" if gpus else "CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    kind = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu") if gpus else "cpu"
    print(f"{kind}: {len(devices)} replica(s); MNIST from {args.data_dir}; {args.seconds:g} s per model", flush=True)
    mnist = data.load_images("mnist", args.data_dir)
    test_points = data.dequantize_draws(mnist.test[: args.test_points], 256, 4, seed=1234)
    results = {}
    for model in models:
        results[model] = run_model(model, args, strategy, mnist.train, test_points)
        r = results[model]
        print(
            f"{model:8s} {r['params']:>10,} params  first step {r['first_step_seconds']:6.1f} s  "
            f"{r['train_images_per_s']:9.0f} img/s  test {r['test_bpd']:.4f} bits/dim after {r['steps']} steps  "
            f"{r['samples_per_s']:8.0f} samples/s  {r['nonfinite_samples']} non-finite of 1000",
            flush=True,
        )
    import json

    out = args.out or os.path.join(HERE, "results", f"gpu_{kind.replace(' ', '_').lower()}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"device": kind, "replicas": len(devices), "seconds": args.seconds, "models": results}, f, indent=1)
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
