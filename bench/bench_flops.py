"""How close the digits training step runs to this machine's arithmetic limit.

    python bench/bench_flops.py

FLOPs of one training step (log_prob + gradient, batch 64; our models at three sizes and
bench_digits' speed model, and the peers' tfb.Glow, so the work per image compares) are counted from the
traced graph's ops by TensorFlow's profiler (float_operation: convolutions, matmuls and
elementwise ops with registered FLOP counts), with every convolution counted as a convolution: on
grids of <= 16 positions ours run as matmuls with the convolution's matrix (`conv2d_same`), whose
zeros the profiler would count as work too (`step_flops_executed` records that count). The
machine's limit is measured in the same run: a 2048x2048 float32 matmul and a 3x3 64->64
convolution on [64, 32, 32, 64], best of 10, plus the small convolutions a ~80k-parameter model
is made of (3x3, 10 and 20 channels, on [1000, 8, 8, C]: a sampling batch). Achieved FLOP/s =
step FLOPs / steady step time (graph and XLA); the ratio to the measured limit says how
much of the step is arithmetic and how much is overhead.
"""

import sys
import time

import numpy as np
import tensorflow as tf
from common import write_result


def best_seconds(fn, repeats=10):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def machine_flops():
    a = tf.random.normal([2048, 2048])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, a)))
    x, k = tf.random.normal([64, 32, 32, 64]), tf.random.normal([3, 3, 64, 64])
    conv = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")))
    return {
        "matmul_flops_per_s": 2 * 2048**3 / best_seconds(lambda: matmul().numpy()),
        "conv_flops_per_s": 2 * 64 * 32 * 32 * 64 * 9 * 64 / best_seconds(lambda: conv().numpy()),
    }


def small_conv_flops():
    out = {}
    for c in (10, 20):
        x, k = tf.random.normal([1000, 8, 8, c]), tf.random.normal([3, 3, c, c])
        conv = tf.function(lambda x, k: tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")))
        seconds = best_seconds(lambda x=x, k=k, conv=conv: conv(x, k).numpy())
        out[f"conv_{c}ch_8x8_flops_per_s"] = 2 * 1000 * 64 * 9 * c * c / seconds
    return out


def _training_step(log_prob, variables, jit=False):
    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(log_prob(x))
        return tape.gradient(loss, variables)

    return step


def step_flops(log_prob, variables, x, as_convolutions=True):
    """The step's FLOPs; `as_convolutions`: count small-grid layers as the convolutions they are."""
    from tfp_realnvp.networks import weight_norm

    default = weight_norm.DENSE_CONV_MAX_POSITIONS
    if as_convolutions:
        weight_norm.DENSE_CONV_MAX_POSITIONS = 0
    try:
        graph = _training_step(log_prob, variables).get_concrete_function(x).graph
    finally:
        weight_norm.DENSE_CONV_MAX_POSITIONS = default
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops


def step_seconds(log_prob, variables, x, jit):
    step = _training_step(log_prob, variables, jit)
    return best_seconds(lambda: [g.numpy() for g in step(x)][0], repeats=30)


def models():
    """(name, log_prob(x), variables, x) for ours (the digits recipe, the same at 32 maps x 2 blocks
    and at tfb.Glow's parameter count, and bench_digits' speed model: `squeeze_first`, uniform
    dequantization, no dropout), and the peers' tfb.Glow (../shared/peers/digits_peers.py: 2 levels
    x 4 steps, hidden 64, on x in (0, 1))."""
    import tensorflow_probability as tfp

    from tfp_realnvp.experiment import ExperimentConfig, build_flow

    tfb, tfd = tfp.bijectors, tfp.distributions
    pixels = tf.random.stateless_uniform([64, 8, 8, 1], seed=[1, 2], maxval=17.0)
    out = []
    shapes = (
        ("digits recipe at 32 ch, 2 blocks", dict(hidden_channels=32, num_blocks=2)),
        ("digits recipe (20 ch, 1 block)", {}),
        ("digits recipe at tfb.Glow's size (14 ch, 1 block)", dict(hidden_channels=14)),
        (
            "squeeze_first, uniform, no dropout, tfb.Glow's size (12 ch, 1 block)",
            dict(hidden_channels=12, squeeze_first=True, dequantization="uniform", dropout=0.0),
        ),
    )
    for name, overrides in shapes:
        flow = build_flow(ExperimentConfig(dataset="digits", **overrides), (8, 8, 1), 17)
        # seeded dropout, as the Trainer's step draws it
        out.append(
            (name, lambda x, f=flow: f.log_prob(x, training=True, seed=(1, 2)), flow.trainable_variables, pixels)
        )
    glow = tfb.Glow(
        output_shape=(8, 8, 1),
        num_glow_blocks=2,
        num_steps_per_block=4,
        coupling_bijector_fn=lambda shape: tfb.GlowDefaultNetwork(shape, num_hidden=64),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
        seed=0,
    )
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), glow.inverse_event_shape((8, 8, 1))), glow)
    x = pixels / 17.0
    dist.log_prob(x)  # builds the Keras networks, so their variables exist
    out.append(("tfb.Glow (peers' digits size)", dist.log_prob, dist.trainable_variables, x))
    return out


def main():
    limit = machine_flops()
    best = max(limit.values())
    record = {"benchmark": "flops", "batch": 64, **limit, **small_conv_flops(), "models": {}}
    print(
        f"machine: matmul {limit['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s, conv {limit['conv_flops_per_s'] / 1e9:.1f} "
        "GFLOP/s"
    )
    print(
        f"small convolutions (8x8, batch 1000): 10 channels {record['conv_10ch_8x8_flops_per_s'] / 1e9:.1f} GFLOP/s, "
        f"20 channels {record['conv_20ch_8x8_flops_per_s'] / 1e9:.1f} GFLOP/s"
    )
    for name, log_prob, variables, x in models():
        flops = step_flops(log_prob, variables, x)
        r = {
            "step_flops": flops,
            "step_flops_executed": step_flops(log_prob, variables, x, as_convolutions=False),
            "params": int(sum(np.prod(v.shape) for v in variables)),
        }
        for jit in (False, True):
            key = "xla" if jit else "graph"
            seconds = step_seconds(log_prob, variables, x, jit)
            r[f"{key}_step_seconds"] = seconds
            r[f"{key}_achieved_flops_per_s"] = flops / seconds
            r[f"{key}_fraction_of_measured_limit"] = flops / seconds / best
        record["models"][name] = r
        print(
            f"{name}: {flops / 1e9:.3f} GFLOP per step (batch 64; {r['step_flops_executed'] / 1e9:.3f} with the "
            f"zeros of the small grids' matrices), {r['params']:,} params"
        )
        for key in ("graph", "xla"):
            print(
                f"  {key}: {r[f'{key}_step_seconds'] * 1e3:.1f} ms/step, "
                f"{r[f'{key}_achieved_flops_per_s'] / 1e9:.2f} GFLOP/s = "
                f"{r[f'{key}_fraction_of_measured_limit']:.1%} of the measured limit"
            )
    write_result(record, "flops.json")


if __name__ == "__main__":
    sys.exit(main())
