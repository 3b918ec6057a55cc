"""2-D densities: the default vector Real NVP vs TFP's tfb.RealNVP in the same run.

    python bench/bench_2d.py                               # 4 datasets x 3 seeds + TFP seed 0 (~40 min)
    python bench/bench_2d.py --datasets moons --seeds 0 --no_peer
    python bench/bench_2d.py --loop plain --no_peer --threads 1   # a user's own loop (~30 min)

The peers' protocol (../shared/peers/toy2d.py, peerutil.py): 50,000 training points in the
batch order `toy2d.batch_schedule(50000, 512, steps, seed=0)`, Adam 1e-3, 3000 steps, test on the
20,000 held-out points: test NLL, the paired KL (mean of log p - log q over the test points, the
true log p from toy2d) with its standard error, every 250 steps. Ours is what a user builds:
`tfp_realnvp.RealNVP(event_shape=(2,), seed=s)` (32 couplings, 2x128 MLPs, tanh-bounded scales,
no batch norm for vectors; `--num_couplings 8 --hidden_units 256 256 --warmup_steps 0` is the
previous default, at the peers' shape)
trained by `tfp_realnvp.Trainer` with the library's vector recipe
(`tfp_realnvp.experiment.RECIPES["vector"]`: Adam at Real NVP's 2e-3, warmed up over 300 steps,
then cosine decay over the run, no L2) plus
global-norm clip 100 and XLA. The init seed varies, the data order is fixed (as for the peers'
`--seed`). `--steps 10000 --seeds 0 --no_peer` measures the wall time to the KL targets.

`--loop plain` trains the same model, data and batch order in the loop a TFP user writes instead:
`tf_keras.optimizers.Adam(1e-3)` (no warm-up, no decay, no clipping) over `flow.trainable_variables`,

    @tf.function(jit_compile=True)  # --no_jit: a plain tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, flow.trainable_variables)
        opt.apply_gradients(zip(grads, flow.trainable_variables))
        return loss

and counts the steps whose loss is not finite (the run stops once a weight is). It writes
`results/2d_<dataset>_plain<tag>.json`. The tables put each run next to the best peer's final KL
on that dataset: the lowest over every recorded 3000-step peer run in ../shared/peers/results
(tfb.RealNVP graph / XLA / zero-init, normflows, zuko; all seeds). `--threads 1` pins TF to one
thread (the 2-core machine is shared).
"""

import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np
from common import PEERS, run_peer, write_result

TARGETS = {"moons": 0.02, "eight_gaussians": 0.10, "checkerboard": 0.10, "rings": 0.30}


def best_peer_kl(name):
    """(lowest final paired KL, its result file) over the peers' finished runs on `name`."""
    best = (math.inf, None)
    for path in sorted(glob.glob(os.path.join(PEERS, "results", f"*_2d_*{name}*.json"))):
        with open(path) as f:
            rec = json.load(f)
        kl = (rec.get("final") or {}).get("paired_kl")
        done = rec.get("status") == "ok" and rec.get("steps_done") == rec.get("config", {}).get("steps") == 3000
        if rec.get("dataset") == name and done and kl is not None and math.isfinite(kl) and kl < best[0]:
            best = (kl, os.path.basename(path))
    return best


def _data(name, steps):
    """The peers' batches [steps, 512, 2] (float32) and an eval_fn on the 20,000 test points."""
    import peerutil
    import toy2d

    train, test = toy2d.load(name)
    batches = train[toy2d.batch_schedule(len(train), 512, steps, seed=0)].astype(np.float32)
    test32 = test.astype(np.float32)

    def eval_fn(flow):
        lq = np.concatenate([flow.log_prob(test32[i : i + 5000]).numpy() for i in range(0, len(test32), 5000)])
        m = peerutil.toy_metrics(name, lq)
        return {k: m[k] for k in ("test_nll", "paired_kl", "paired_kl_stderr", "n_test_nonfinite")}

    return batches, eval_fn


def _record(name, seed, flow, model_kwargs, train, status, steps_done, nonfinite_steps, history, jit, model="realnvp"):
    """The result record of one run, the same for both loops (sampling timed here)."""
    evals = history["eval"]
    flow.draw_samples(20000, seed=(0, 0))
    t0 = time.perf_counter()
    samples = flow.draw_samples(20000, seed=(0, 1)).numpy()
    sample_seconds = time.perf_counter() - t0
    steady = (history["train_seconds"] or 0.0) - (history["first_step_seconds"] or 0.0)
    record = {
        "peer": f"tfp_realnvp.{type(flow).__name__}(event_shape=(2,))",
        "model": model,
        "model_kwargs": model_kwargs,
        "train": train,
        "dataset": name,
        "seed": seed,
        "status": status,
        "n_params": int(sum(np.prod(v.shape) for v in flow.trainable_variables)),
        "steps_done": steps_done,
        "nonfinite_steps": nonfinite_steps,
        "first_step_seconds": history["first_step_seconds"],
        "train_steps_per_s": (steps_done - 1) / steady if steady else None,
        "history": evals,
        "final": evals[-1] if evals else None,
        "samples_per_s": 20000 / sample_seconds,
        "sample_nonfinite": int(np.sum(~np.isfinite(samples))),
        "jit_compile": jit,
    }
    for key, threshold in (("0.05", 0.05), ("0.02", 0.02), ("target", TARGETS[name])):
        hit = next((e for e in evals if e["paired_kl"] <= threshold), None)
        record[f"seconds_to_kl_{key}"] = hit["train_seconds"] if hit else None
        record[f"step_to_kl_{key}"] = hit["step"] if hit else None
    return record


def train_ours(name, seed, steps, eval_every, jit, model_kwargs, warmup_steps):
    import tensorflow as tf

    from tfp_realnvp import RealNVP
    from tfp_realnvp.experiment import RECIPES
    from tfp_realnvp.training import NonFiniteLossError, TrainConfig, Trainer

    batches, eval_fn = _data(name, steps)
    dataset = tf.data.Dataset.from_tensor_slices(batches).prefetch(tf.data.AUTOTUNE)
    config = TrainConfig(
        steps=steps,
        batch_size=512,
        learning_rate=RECIPES["vector"]["realnvp"]["learning_rate"],
        decay=RECIPES["vector"]["decay"],
        warmup_steps=warmup_steps,
        l2=RECIPES["vector"]["l2"],
        log_every=steps,
        eval_every=eval_every,
        checkpoint_every=steps,
        jit_compile=jit,
        seed=seed,
    )
    trainer = Trainer(lambda: RealNVP(event_shape=(2,), seed=seed, **model_kwargs), config)
    status, nonfinite = "ok", 0
    try:
        history = trainer.fit(dataset, eval_fn=eval_fn, verbose=False)
    except NonFiniteLossError as err:
        status, nonfinite = f"non-finite: {err}", 1
        history = {"eval": [], "first_step_seconds": None, "train_seconds": None}
    train = {k: getattr(config, k) for k in ("learning_rate", "warmup_steps", "decay", "l2", "clip_norm")}
    train["loop"] = "trainer"
    return _record(name, seed, trainer.flow, model_kwargs, train, status, trainer.current_step, nonfinite, history, jit)


def train_plain(name, seed, steps, eval_every, jit, model_kwargs, model="realnvp"):
    """A TFP user's own loop: constant Adam 1e-3 on `flow.trainable_variables`, nothing else.
    `model`: a key of tfp_realnvp.models.MODELS."""
    import tensorflow as tf
    import tf_keras

    from tfp_realnvp.models import MODELS

    batches, eval_fn = _data(name, steps)
    flow = MODELS[model](event_shape=(2,), seed=seed, **model_kwargs)
    opt = tf_keras.optimizers.Adam(1e-3)

    @tf.function(jit_compile=jit)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        grads = tape.gradient(loss, flow.trainable_variables)
        opt.apply_gradients(zip(grads, flow.trainable_variables))
        return loss

    status, nonfinite, evals, losses = "ok", 0, [], []
    history = {"first_step_seconds": None, "train_seconds": 0.0, "eval": evals}
    step = 0
    for step in range(1, steps + 1):
        x = tf.convert_to_tensor(batches[step - 1])
        t0 = time.perf_counter()
        loss = float(train_step(x))
        history["train_seconds"] += time.perf_counter() - t0
        if step == 1:
            history["first_step_seconds"] = history["train_seconds"]
        losses.append(loss)
        if not math.isfinite(loss):
            nonfinite += 1
            if not all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in flow.trainable_variables):
                status = f"non-finite weights after step {step}"
                break
        if step % eval_every == 0 or step == steps:
            e = {"step": step, "train_seconds": history["train_seconds"], "train_loss": float(np.mean(losses))}
            evals.append({**e, **eval_fn(flow)})
            losses = []
    train = {"loop": "plain", "optimizer": "tf_keras.optimizers.Adam", "learning_rate": 1e-3}
    return _record(name, seed, flow, model_kwargs, train, status, step, nonfinite, history, jit, model)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--eval_every", type=int, default=250)
    p.add_argument("--no_jit", action="store_true")
    p.add_argument("--no_peer", action="store_true", help="skip the TFP tfb.RealNVP rerun")
    p.add_argument("--num_couplings", type=int, help="default: RealNVP's (32)")
    p.add_argument("--hidden_units", type=int, nargs="+", help="default: RealNVP's (128 128)")
    p.add_argument("--warmup_steps", type=int, help="default: the vector recipe's (300)")
    p.add_argument("--loop", choices=("trainer", "plain"), default="trainer", help="plain: a user's own loop")
    p.add_argument("--threads", type=int, default=0, help="TF intra- and inter-op threads (0: TF's default)")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from tfp_realnvp.experiment import RECIPES

    warmup_steps = RECIPES["vector"]["warmup_steps"] if args.warmup_steps is None else args.warmup_steps
    model_kwargs = {}
    if args.num_couplings:
        model_kwargs["num_couplings"] = args.num_couplings
    if args.hidden_units:
        model_kwargs["hidden_units"] = args.hidden_units
    rows = []
    for name in args.datasets:
        jit = not args.no_jit
        runs = [
            train_plain(name, seed, args.steps, args.eval_every, jit, model_kwargs)
            if args.loop == "plain"
            else train_ours(name, seed, args.steps, args.eval_every, jit, model_kwargs, warmup_steps)
            for seed in args.seeds
        ]
        peer = None
        if not args.no_peer:
            peer = run_peer(
                "tfp_realnvp_2d.py",
                ["--datasets", name, "--steps", str(args.steps), "--tag", "_rerun"],
                f"tfp_realnvp_2d_graph_rerun_{name}.json",
            )
        best_kl, best_file = best_peer_kl(name)
        record = {
            "benchmark": "2d",
            "loop": args.loop,
            "dataset": name,
            "steps": args.steps,
            "threads": args.threads,
            "best_peer_kl": best_kl,
            "best_peer_file": best_file,
            "ours": runs,
            "tfp_realnvp": peer,
        }
        write_result(record, f"2d_{name}{'_plain' if args.loop == 'plain' else ''}{args.tag}.json")
        rows.append(record)
        _print_rows([record])
    print("\nall datasets:")
    _print_rows(rows)


def _fmt(x, spec=".3f"):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _print_rows(rows):
    print(
        "| dataset | model | seed | status | test NLL | paired KL ± se | best peer KL | non-finite steps | target "
        "| s to KL<=0.05 | s to KL<=0.02 | s to target | steps/s | first step s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rec in rows:
        name = rec["dataset"]
        for r in rec["ours"]:
            f = r["final"] or {}
            print(
                f"| {name} | ours | {r['seed']} | {r['status'][:30]} | {_fmt(f.get('test_nll'))} | "
                f"{_fmt(f.get('paired_kl'))} ± {_fmt(f.get('paired_kl_stderr'))} | "
                f"{_fmt(rec.get('best_peer_kl'))} | {r.get('nonfinite_steps', '—')} | {TARGETS[name]} | "
                f"{_fmt(r['seconds_to_kl_0.05'], '.1f')} | {_fmt(r['seconds_to_kl_0.02'], '.1f')} | "
                f"{_fmt(r.get('seconds_to_kl_target'), '.1f')} | "
                f"{_fmt(r['train_steps_per_s'], '.1f')} | {_fmt(r['first_step_seconds'], '.1f')} |"
            )
        peer = rec.get("tfp_realnvp")
        if peer:
            f = peer.get("final") or {}
            print(
                f"| {name} | tfb.RealNVP | 0 | {peer['status'][:30]} | {_fmt(f.get('test_nll'))} | "
                f"{_fmt(f.get('paired_kl'))} ± {_fmt(f.get('paired_kl_stderr'))} | | | | | | | "
                f"{_fmt(peer.get('train_steps_per_s'), '.1f')} | {_fmt(peer.get('first_step_seconds'), '.1f')} |"
            )
        kls = [r["final"]["paired_kl"] for r in rec["ours"] if r["final"]]
        if kls:
            best = rec.get("best_peer_kl")
            print(
                f"{name} ({rec.get('loop', 'trainer')} loop): ours mean KL over {len(kls)} seeds {np.mean(kls):.4f}, "
                f"worst {max(kls):.4f} (best peer {_fmt(best, '.4f')}: {rec.get('best_peer_file')}); "
                f"non-finite runs {sum(r['status'] != 'ok' for r in rec['ours'])}, "
                f"non-finite steps {sum(r.get('nonfinite_steps', 0) for r in rec['ours'])}"
            )


if __name__ == "__main__":
    sys.exit(main())
