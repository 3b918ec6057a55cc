"""Mixed precision (conditioners in float16/bfloat16) checked for correctness on the CPU."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp import RealNVP


def pair(compute_dtype):
    kw = dict(event_shape=(8, 8, 1), pixel_levels=17, num_scales=2, hidden_channels=8, num_blocks=1, seed=1)
    full, mixed = RealNVP(**kw), RealNVP(compute_dtype=compute_dtype, **kw)
    for a, b in zip(full.trainable_variables, mixed.trainable_variables, strict=True):
        a.assign(a + tf.random.stateless_normal(a.shape, seed=[len(a.name), 3], stddev=0.02))
        b.assign(a)
    return full, mixed


@pytest.mark.parametrize("compute_dtype, rtol", [(tf.float16, 1e-2), (tf.bfloat16, 5e-2)])  # 11 / 8 mantissa bits
def test_mixed_precision_keeps_float32_log_dets_and_exact_inverse(compute_dtype, rtol):
    full, mixed = pair(compute_dtype)
    assert all(v.dtype == tf.float32 for v in mixed.variables)
    x = tf.random.stateless_uniform([6, 8, 8, 1], seed=[1, 2], maxval=17.0)
    lp_full, lp_mixed = full.log_prob(x), mixed.log_prob(x)
    assert lp_mixed.dtype == tf.float32
    np.testing.assert_allclose(lp_mixed, lp_full, rtol=rtol)  # only the conditioners lost precision
    assert float(tf.reduce_max(tf.abs(lp_mixed - lp_full))) > 0  # and they did run in low precision
    # Through the whole flow, float32 rounding differences between the two directions can cross a
    # low-precision rounding boundary of the next conditioner's input: errors of about its epsilon.
    error = float(tf.reduce_max(tf.abs(mixed.decode(tf.identity(mixed.encode(x))) - x)))
    assert error < 17 * 5 * rtol, error
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(mixed.log_prob(x, training=True))
    grads = tape.gradient(loss, mixed.trainable_variables)
    assert all(g.dtype == tf.float32 and np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("compute_dtype", [tf.float16, tf.bfloat16])
def test_a_single_mixed_precision_coupling_is_an_exact_inverse(compute_dtype):
    """One coupling sees the same masked input in both directions: float32-exact round trip."""
    _, mixed = pair(compute_dtype)
    coupling = next(b for b in mixed.bijector.bijectors if b.name.startswith("coupling"))
    assert coupling.compute_dtype == compute_dtype
    x = tf.random.stateless_normal([4, 8, 8, 1], seed=[5, 6])
    np.testing.assert_allclose(coupling.inverse(tf.identity(coupling.forward(x))), x, atol=1e-5)
