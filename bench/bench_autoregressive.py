"""The autoregressive family (MAF, IAF, NAF, SOS) against zuko and TFP, and every model on tabular data.

    python bench/bench_autoregressive.py --parts 2d          # 4 datasets x 3 seeds, ours + peers (~1 h)
    python bench/bench_autoregressive.py --parts 2d --datasets moons --seeds 0 --models naf --peers naf
    python bench/bench_autoregressive.py --parts speed       # IAF vs MAF at D = 784 (~2 min)
    python bench/bench_autoregressive.py --parts tabular     # every registered model on breast cancer (~5 min)

2d: the protocol of bench/bench_2d.py's plain loop (the peers' data and batch order, 3000 steps
of batch 512, Adam 1e-3 without warm-up, decay or clipping, paired KL against the true density
on the 20,000 test points every 250 steps, non-finite steps counted), for our `--models` at their
defaults (`tfp_realnvp.models.MODELS[m](event_shape=(2,), seed=s)`), zuko's MAF / NAF / SOSPF
with our depth and width (`--zuko_transforms`, `--zuko_hidden`; zuko's own other defaults:
bench/torch_autoregressive_2d.py, run with `--torch_python`, one after the other: never beside a
TF run) and `tfb.MaskedAutoregressiveFlow` (`--tfp_layers` layers of
`tfb.AutoregressiveNetwork(params=2, hidden_units=(64, 64))` with the order reversed between
them, zuko MAF's shape) in the same plain loop. `--peers_from TAG` takes every peer's runs from an
earlier run's file instead (the peers are seeded: the same seed gives the same run on this
machine). Writes results/autoregressive_2d_<dataset><tag>.json.

speed: MAF and IAF of the same size on D = 784 (`--speed_layers` layers of MADE
`--speed_hidden`): samples/s of `draw_samples` and examples/s of `compiled_log_prob`, each timed
after a warm-up call, in one process. Writes results/autoregressive_speed<tag>.json.

tabular: every model of `MODELS` by `run_experiment` on scikit-learn's breast cancer (30 features), `--tabular_steps`
of batch `--tabular_batch`, MLPs `--tabular_hidden` wide (NICE's default is MNIST's 5 x 1000), else defaults and the
vector recipe; validation-chosen checkpoint; test NLL in nats per dimension.
Writes results/tabular_breast_cancer<tag>.json.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from bench_2d import TARGETS, _data, train_plain
from common import HERE, write_result

ZUKO = {"maf": "maf", "naf": "naf", "sos": "sospf"}  # our model -> its zuko counterpart


def run_zuko(peer, name, seed, steps, torch_python, threads, size):
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    cmd = [torch_python, os.path.join(HERE, "torch_autoregressive_2d.py"), "--peer", peer, "--dataset", name]
    cmd += ["--seed", str(seed), "--steps", str(steps), "--out", out, *size]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    with open(out) as f:
        record = json.load(f)
    os.unlink(out)
    return record


def train_tfp_maf(name, seed, steps, eval_every, num_layers):
    """tfb.MaskedAutoregressiveFlow in the plain loop (graph mode; Keras-built MADEs)."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    import tf_keras

    tfb, tfd = tfp.bijectors, tfp.distributions
    tf_keras.utils.set_random_seed(seed)
    layers = []
    for i in range(num_layers):
        made = tfb.AutoregressiveNetwork(params=2, hidden_units=[64, 64], activation="relu")
        layers.append(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=made, name=f"maf{i}"))
        if i < num_layers - 1:
            layers.append(tfb.Permute([1, 0]))
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [2]), tfb.Chain(layers))
    flow.log_prob(tf.zeros([1, 2]))  # builds the networks' weights
    batches, eval_fn = _data(name, steps)
    opt = tf_keras.optimizers.Adam(1e-3)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, flow.trainable_variables)
        opt.apply_gradients(zip(grads, flow.trainable_variables))
        return loss

    evals, losses, train_seconds, first, nonfinite, status = [], [], 0.0, None, 0, "ok"
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        loss = float(train_step(tf.constant(batches[step - 1])))
        dt = time.perf_counter() - t0
        first = dt if step == 1 else first
        train_seconds += 0.0 if step == 1 else dt
        losses.append(loss)
        if not math.isfinite(loss):
            nonfinite += 1
        if step % eval_every == 0 or step == steps:
            evals.append({"step": step, "train_seconds": train_seconds, "train_loss": float(np.mean(losses))})
            evals[-1].update(eval_fn(flow))
            losses = []
    sample = tf.function(lambda: flow.sample(20000, seed=1))
    sample()
    t0 = time.perf_counter()
    samples = sample().numpy()
    sample_seconds = time.perf_counter() - t0
    return {
        "peer": f"tfb.MaskedAutoregressiveFlow x {num_layers} (AutoregressiveNetwork 64, 64)",
        "dataset": name,
        "seed": seed,
        "status": status,
        "n_params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
        "nonfinite_steps": nonfinite,
        "first_step_seconds": first,
        "train_steps_per_s": (steps - 1) / train_seconds,
        "samples_per_s": 20000 / sample_seconds,
        "sample_nonfinite": int(np.sum(~np.isfinite(samples))),
        "history": evals,
        "final": evals[-1],
    }


def part_2d(args):
    zuko_size = ["--transforms", str(args.zuko_transforms), "--hidden_features", *map(str, args.zuko_hidden)]
    earlier = {}
    if args.peers_from is not None:  # read (and check) every earlier file before training anything
        if args.peers_from == args.tag:
            raise SystemExit("--peers_from names the files this run writes: give the run another --tag")
        earlier = {name: _earlier_peers(name, args.peers_from, args.seeds, args.steps) for name in args.datasets}
    rows = []
    for name in args.datasets:
        record = {"benchmark": "autoregressive_2d", "dataset": name, "steps": args.steps, "ours": {}, "peers": {}}
        for model in args.models:
            record["ours"][model] = [
                train_plain(name, seed, args.steps, args.eval_every, not args.no_jit, {}, model) for seed in args.seeds
            ]
        if name in earlier:
            record["peers"], record["peers_from"] = earlier[name]
        if args.tfp_layers and args.peers_from is None:
            record["peers"]["tfb_maf"] = [
                train_tfp_maf(name, seed, args.steps, args.eval_every, args.tfp_layers) for seed in args.seeds
            ]
        for peer in args.peers if args.peers_from is None else ():
            record["peers"][f"zuko_{peer}"] = [
                run_zuko(ZUKO.get(peer, peer), name, seed, args.steps, args.torch_python, args.threads, zuko_size)
                for seed in args.seeds
            ]
        write_result(record, f"autoregressive_2d_{name}{args.tag}.json")
        rows.append(record)
        _print_2d([record])
    print("\nall datasets:")
    _print_2d(rows)


def _earlier_peers(name, tag, seeds, steps):
    """The peers' runs on `name` from an earlier run of this script (results/autoregressive_2d_<name><tag>.json),
    for the same seeds and steps, and that file's name and date."""
    path = os.path.join(HERE, "results", f"autoregressive_2d_{name}{tag}.json")
    with open(path) as f:
        earlier = json.load(f)
    if earlier["steps"] != steps:
        raise SystemExit(f"{path}: {earlier['steps']} steps, not {steps}")
    peers = {}
    for label, runs in earlier["peers"].items():
        by_seed = {r["seed"]: r for r in runs}
        if not set(seeds) <= set(by_seed):
            raise SystemExit(f"{path}: {label} has seeds {sorted(by_seed)}, not all of {seeds}")
        peers[label] = [by_seed[s] for s in seeds]
    return peers, f"{os.path.basename(path)} (written {earlier['written_at']})"


def _kl(run):
    return (run.get("final") or {}).get("paired_kl", math.nan) if run.get("status") == "ok" else math.inf


def _print_2d(rows):
    print("| dataset | model | params | KL per seed | mean KL | non-finite steps | steps/s | samples/s |")
    print("|---|---|---|---|---|---|---|---|")
    for rec in rows:
        for group in ("ours", "peers"):
            for label, runs in rec[group].items():
                kls = [_kl(r) for r in runs]
                print(
                    f"| {rec['dataset']} | {label} | {runs[0]['n_params']:,} | {' / '.join(f'{k:.3f}' for k in kls)} "
                    f"| {np.mean(kls):.3f} | {sum(r.get('nonfinite_steps', 0) for r in runs)} "
                    f"| {np.mean([r['train_steps_per_s'] or 0 for r in runs]):.1f} "
                    f"| {np.mean([r['samples_per_s'] for r in runs]):,.0f} |"
                )
        for model, peer in ZUKO.items():
            ours, theirs = rec["ours"].get(model), rec["peers"].get(f"zuko_{model}")
            if ours and theirs:
                wins = sum(_kl(a) < _kl(b) for a, b in zip(ours, theirs))
                print(f"{rec['dataset']}: our {model} below zuko {peer} on {wins} of {len(ours)} seeds")
        if rec.get("peers_from"):
            print(f"{rec['dataset']}: the peers' runs are those of {rec['peers_from']}")
        target = TARGETS.get(rec["dataset"])
        print(f"{rec['dataset']}: KL target for NAF/SOS 0.10 (Real NVP's protocol target {target})")


def part_speed(args):
    import tensorflow as tf

    from tfp_realnvp.models import MODELS

    d, n = 784, args.speed_samples
    kwargs = dict(event_shape=(d,), num_layers=args.speed_layers, hidden_units=tuple(args.speed_hidden))
    x = tf.random.stateless_normal([n, d], seed=[0, 1])
    record = {"benchmark": "autoregressive_speed", "dims": d, "count": n, "model_kwargs": kwargs}
    for model in ("maf", "iaf"):
        flow = MODELS[model](**kwargs)
        timings = {}
        for what, call in (
            ("samples", lambda f=flow: f.draw_samples(n, seed=(0, 0))),
            ("density", lambda f=flow: f.compiled_log_prob(x)),
        ):
            t0 = time.perf_counter()
            call().numpy()
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(args.speed_repeats):
                out = call().numpy()
            seconds = (time.perf_counter() - t0) / args.speed_repeats
            timings[f"{what}_per_s"] = n / seconds
            timings[f"{what}_first_call_seconds"] = warm
            timings[f"{what}_finite"] = bool(np.all(np.isfinite(out)))
        timings["n_params"] = int(sum(np.prod(v.shape) for v in flow.trainable_variables))
        record[model] = timings
        print(model, timings, flush=True)
    record["iaf_over_maf_sampling"] = record["iaf"]["samples_per_s"] / record["maf"]["samples_per_s"]
    record["maf_over_iaf_density"] = record["maf"]["density_per_s"] / record["iaf"]["density_per_s"]
    write_result(record, f"autoregressive_speed{args.tag}.json")
    print(
        f"D = {d}: IAF samples {record['iaf_over_maf_sampling']:.1f}x faster than MAF; "
        f"MAF density {record['maf_over_iaf_density']:.1f}x faster than IAF"
    )


def part_tabular(args):
    from tfp_realnvp.experiment import ExperimentConfig, run_experiment
    from tfp_realnvp.models import MODELS

    scratch = tempfile.mkdtemp(prefix="bench-tabular-")
    record = {"benchmark": "tabular", "dataset": "breast_cancer", "steps": args.tabular_steps, "models": {}}
    for model in args.tabular_models or list(MODELS):
        config = ExperimentConfig(
            dataset="breast_cancer",
            model=model,
            steps=args.tabular_steps,
            batch_size=args.tabular_batch,
            hidden_units=tuple(args.tabular_hidden),
            eval_every=100,
            model_dir=os.path.join(scratch, model),
            export_dir=os.path.join(scratch, f"export_{model}"),
        )
        m = run_experiment(config, verbose=False)
        record["models"][model] = {
            k: m.get(k)
            for k in ("test_nll_nats_per_dim", "validation_nll_nats_per_dim", "chosen_step", "params", "train_seconds")
        }
        print(model, record["models"][model], flush=True)
    write_result(record, f"tabular_breast_cancer{args.tag}.json")
    print("| model | params | test NLL (nats/dim) | validation NLL | chosen step | train s |")
    print("|---|---|---|---|---|---|")
    for model, r in record["models"].items():
        print(
            f"| {model} | {r['params']:,} | {r['test_nll_nats_per_dim']:.3f} | {r['validation_nll_nats_per_dim']:.3f} "
            f"| {r['chosen_step']} | {r['train_seconds']:.0f} |"
        )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["2d", "speed", "tabular"], choices=("2d", "speed", "tabular"))
    p.add_argument("--datasets", nargs="+", default=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--eval_every", type=int, default=250)
    p.add_argument("--models", nargs="+", default=["maf", "iaf", "naf", "sos"])
    p.add_argument("--peers", nargs="+", default=["maf", "naf", "sos"], help="zuko counterparts of these models")
    p.add_argument("--tfp_layers", type=int, default=3, help="tfb.MaskedAutoregressiveFlow layers (0: skip)")
    p.add_argument(
        "--peers_from",
        metavar="TAG",
        help="take every peer's runs from results/autoregressive_2d_<dataset><TAG>.json, an earlier run of this "
        "script ('' for no tag), instead of rerunning them",
    )
    p.add_argument("--torch_python", default="/work/torchenv/bin/python")
    p.add_argument("--zuko_transforms", type=int, default=5, help="zuko's transforms (default: our num_layers)")
    p.add_argument("--zuko_hidden", type=int, nargs="+", default=[128, 128], help="default: our hidden_units")
    p.add_argument("--no_jit", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--speed_layers", type=int, default=2)
    p.add_argument("--speed_hidden", type=int, nargs="+", default=[512])
    p.add_argument("--speed_samples", type=int, default=100)
    p.add_argument("--speed_repeats", type=int, default=3)
    p.add_argument("--tabular_models", nargs="+")
    p.add_argument("--tabular_steps", type=int, default=3000)
    p.add_argument("--tabular_batch", type=int, default=128)
    p.add_argument("--tabular_hidden", type=int, nargs="+", default=[128, 128], help="every model's MLP widths")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    for part in args.parts:
        {"2d": part_2d, "speed": part_speed, "tabular": part_tabular}[part](args)


if __name__ == "__main__":
    sys.exit(main())
