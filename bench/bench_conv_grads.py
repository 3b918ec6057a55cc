"""Forward + gradient of same-padded convolutions: `networks.conv2d_same` against `tf.nn.conv2d`.

    python bench/bench_conv_grads.py            # the coupling networks' layers of Glow and Real NVP

Batch 64, float32, one `tf.function` per case computing the output and both gradients (input and
kernel); the median of 5 timings of 20 calls, ms. `conv2d_same` takes its gradients as matmuls
when the convolution has at least `MATMUL_GRAD_MIN_RATIO` input channels per output channel
(`_conv2d_few_outputs`) and is `tf.nn.conv2d` otherwise, so the cases below the ratio check that
nothing changed there. Results: `results/conv_grads.json`; the table goes to bench/README.md.
"""

import time

import numpy as np
from common import write_result

# (grid, kernel, in channels, out channels): Glow's output layers on MNIST (14x14 and 7x7, 128
# maps), CIFAR-like (16x16 and 8x8, 512 maps), Real NVP digits (8x8, 20 maps), then cases under
# the ratio that stay on tf.nn.conv2d (hidden and input layers).
CASES = [
    (14, 3, 128, 4),
    (7, 3, 128, 8),
    (16, 3, 512, 12),
    (8, 3, 512, 24),
    (28, 3, 64, 2),
    (4, 3, 64, 4),
    (8, 3, 20, 2),
    (14, 3, 128, 32),
    (14, 3, 64, 64),
    (14, 3, 2, 128),
]


def _step(tf, conv, kernel):
    """A compiled forward + both gradients of `conv(x, kernel)`."""

    @tf.function
    def fn(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(conv(x, kernel)))
        return tape.gradient(loss, [x, kernel])

    return fn


def main():
    import tensorflow as tf

    from tfp_realnvp.networks import conv2d_same
    from tfp_realnvp.networks.weight_norm import MATMUL_GRAD_MIN_RATIO

    def timed(fn, x):
        fn(x)
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(20):
                out = fn(x)
            [t.numpy() for t in out]
            runs.append((time.perf_counter() - start) / 20 * 1e3)
        return float(np.median(runs))

    rows = []
    print("grid kernel C_in->C_out  path      tf.nn.conv2d ms  conv2d_same ms  ratio")
    for grid, k, c_in, c_out in CASES:
        x = tf.random.stateless_normal([64, grid, grid, c_in], seed=[0, 0])
        kernel = tf.Variable(tf.random.stateless_normal([k, k, c_in, c_out], seed=[0, 1]) * 0.05)

        reference = timed(_step(tf, lambda x, w: tf.nn.conv2d(x, w, strides=1, padding="SAME"), kernel), x)
        ours = timed(_step(tf, conv2d_same, kernel), x)
        path = "matmuls" if c_in >= MATMUL_GRAD_MIN_RATIO * c_out else "conv2d"
        rows.append(dict(grid=grid, kernel=k, c_in=c_in, c_out=c_out, path=path, conv2d_ms=reference, ours_ms=ours))
        speedup = reference / ours
        print(f"{grid:4d} {k}x{k}    {c_in:4d}->{c_out:<4d}  {path:8s}  {reference:15.2f} {ours:14.2f} {speedup:5.2f}")
    write_result({"batch": 64, "cases": rows}, "conv_grads.json")


if __name__ == "__main__":
    main()
