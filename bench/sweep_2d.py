"""Single-seed probes behind the vector recipe: one 2-D dataset, any RealNVP / TrainConfig overrides.

    python bench/sweep_2d.py --data checkerboard --model '{"batch_norm": false}' --train '{"decay": "cosine"}'

Same data, batch order (512, the peers' schedule), test points and paired KL as bench_2d.py;
prints one RESULT line with the KL every 500 steps. The lines behind the README's recipe are
in bench/results/2d_sweep.txt.
"""

import argparse
import json
import time

import numpy as np
from common import PEERS  # noqa: F401  (puts the peers' harness and the package on sys.path)


def main():
    import peerutil
    import tensorflow as tf
    import toy2d

    from tfp_realnvp import RealNVP
    from tfp_realnvp.training import TrainConfig, Trainer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, choices=toy2d.DATASETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--model", default="{}", help="RealNVP keyword arguments (JSON)")
    p.add_argument("--train", default="{}", help="TrainConfig overrides (JSON)")
    args = p.parse_args()
    train, test = toy2d.load(args.data)
    batches = train[toy2d.batch_schedule(len(train), 512, args.steps, seed=0)].astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(batches).prefetch(8)
    config = dict(
        steps=args.steps,
        batch_size=512,
        learning_rate=1e-3,
        log_every=args.steps,
        eval_every=500,
        checkpoint_every=args.steps,
        jit_compile=True,
        seed=args.seed,
    )
    config.update(json.loads(args.train))
    model = json.loads(args.model)
    trainer = Trainer(lambda: RealNVP(event_shape=(2,), seed=args.seed, **model), TrainConfig(**config))
    test32 = test.astype(np.float32)

    def eval_fn(flow):
        lq = np.concatenate([flow.log_prob(test32[i : i + 5000]).numpy() for i in range(0, len(test32), 5000)])
        return {"kl": peerutil.toy_metrics(args.data, lq)["paired_kl"]}

    start = time.time()
    history = trainer.fit(dataset, eval_fn=eval_fn, verbose=False)
    kls = [round(e["kl"], 3) for e in history["eval"]]
    print(
        f"RESULT {args.data} seed {args.seed} model={args.model} train={args.train} final={kls[-1]} "
        f"every 500 steps={kls} {time.time() - start:.0f}s",
        flush=True,
    )


if __name__ == "__main__":
    main()
