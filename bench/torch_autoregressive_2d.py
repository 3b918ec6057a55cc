"""zuko's autoregressive flows on the 2-D densities, in the peers' protocol (run with the PyTorch venv).

    $TORCH_PY bench/torch_autoregressive_2d.py --peer naf --dataset moons --seed 0 --out /tmp/naf.json

The protocol of ../shared/peers/torch_peers_2d.py (its data, batch order, metrics): toy2d.load,
`toy2d.batch_schedule(50000, 512, steps, seed=0)`, torch.optim.Adam(lr 1e-3), paired KL on the
20,000 test points (peerutil.toy_metrics) every `--eval_every` steps; sampling timed on 20,000
after one warm-up draw. The peers, at zuko's defaults unless the flags say otherwise:

* maf:   zuko.flows.MAF(features=2, transforms=T, hidden_features=H) (affine, soft-clipped log-scale)
* naf:   zuko.flows.NAF(features=2, transforms=T, signal=S, hidden_features=H) (monotonic MLP transformer)
* sospf: zuko.flows.SOSPF(features=2, transforms=T, degree=R, polynomials=P, hidden_features=H)

This file never imports tensorflow; bench/bench_autoregressive.py runs it beside our models.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

PEERS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))
sys.path.insert(0, PEERS)
import peerutil  # noqa: E402
import toy2d  # noqa: E402


def build(peer, args):
    import zuko

    hidden = tuple(args.hidden_features)
    if peer == "maf":
        return zuko.flows.MAF(features=2, transforms=args.transforms, hidden_features=hidden)
    if peer == "naf":
        return zuko.flows.NAF(features=2, transforms=args.transforms, signal=args.signal, hidden_features=hidden)
    return zuko.flows.SOSPF(
        features=2, transforms=args.transforms, degree=args.degree, polynomials=args.polynomials, hidden_features=hidden
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peer", choices=("maf", "naf", "sospf"), required=True)
    p.add_argument("--dataset", choices=toy2d.DATASETS, required=True)
    p.add_argument("--seed", type=int, default=0, help="initialisation seed (the data order is fixed)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--eval_every", type=int, default=250)
    p.add_argument("--transforms", type=int, default=3)
    p.add_argument("--hidden_features", type=int, nargs="+", default=[64, 64])
    p.add_argument("--signal", type=int, default=16)
    p.add_argument("--degree", type=int, default=4)
    p.add_argument("--polynomials", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = toy2d.load(args.dataset)
    train32 = torch.from_numpy(train.astype(np.float32))
    test32 = torch.from_numpy(test.astype(np.float32))
    schedule = torch.from_numpy(toy2d.batch_schedule(len(train), 512, args.steps, seed=0))
    flow = build(args.peer, args)
    n_params = sum(p.numel() for p in flow.parameters() if p.requires_grad)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)

    def test_log_prob():
        with torch.no_grad():
            return torch.cat([flow().log_prob(test32[i : i + 5000]) for i in range(0, len(test32), 5000)]).double()

    history, losses, nonfinite = [], [], 0
    train_seconds, first_step_seconds, status = 0.0, None, "ok"
    for s in range(args.steps):
        xb = train32[schedule[s]]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = -flow().log_prob(xb).mean()
        loss.backward()
        opt.step()
        loss = loss.item()
        dt = time.perf_counter() - t0
        if s == 0:
            first_step_seconds = dt
        else:
            train_seconds += dt
        losses.append(loss)
        if not np.isfinite(loss):
            nonfinite += 1
            if not all(bool(torch.isfinite(q).all()) for q in flow.parameters()):
                status = f"non-finite weights after step {s + 1}"
                break
        if (s + 1) % args.eval_every == 0 or s + 1 == args.steps:
            m = peerutil.toy_metrics(args.dataset, test_log_prob().numpy())
            history.append(
                {
                    "step": s + 1,
                    "train_seconds": train_seconds,
                    "train_loss": float(np.mean(losses[-args.eval_every :])),
                    **{k: m[k] for k in ("test_nll", "paired_kl", "paired_kl_stderr", "n_test_nonfinite")},
                }
            )
            print(args.peer, args.dataset, args.seed, history[-1], flush=True)
    with torch.no_grad():
        flow().sample((20000,))
        t0 = time.perf_counter()
        samples = flow().sample((20000,)).numpy()
        sample_seconds = time.perf_counter() - t0
    import zuko

    record = {
        "peer": f"zuko.flows.{ {'maf': 'MAF', 'naf': 'NAF', 'sospf': 'SOSPF'}[args.peer] }",
        "versions": {"torch": torch.__version__, "zuko": zuko.__version__},
        "dataset": args.dataset,
        "seed": args.seed,
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "dataset", "seed", "peer")},
        "n_params": n_params,
        "status": status,
        "steps_done": len(losses),
        "nonfinite_steps": nonfinite,
        "first_step_seconds": first_step_seconds,
        "train_steps_per_s": (len(losses) - 1) / train_seconds if train_seconds else None,
        "samples_per_s": 20000 / sample_seconds,
        "sample_nonfinite": int(np.sum(~np.isfinite(samples))),
        "history": history,
        "final": history[-1] if history else None,
        "torch_threads": torch.get_num_threads(),
    }
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1, default=float)


if __name__ == "__main__":
    main()
