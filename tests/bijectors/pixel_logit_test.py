import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import check_bijector
from tfp_realnvp.bijectors import PixelLogit

tfd = tfp.distributions


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_exact_inverse_and_log_det(batch, dtype):
    bij = PixelLogit(levels=17)
    u = tf.random.stateless_normal([*batch, 2, 2, 1], seed=[1, 2], dtype=dtype)
    f64 = dtype == tf.float64
    check_bijector(bij, u, [2, 2, 1], jacobian=f64, rtol=1e-5 if f64 else 1e-4, atol=1e-8 if f64 else 1e-4)


def test_bits_per_dim_against_hand_computation():
    """Closed form: logit-space N(0, 1) pushed to pixels; bits/dim computed by hand in numpy."""
    levels, alpha, d = 256, 0.05, 6
    flow = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), [d]), PixelLogit(levels, alpha)
    )
    v = np.random.default_rng(0).uniform(0, levels, size=(5, d))
    p = alpha + (1 - 2 * alpha) * v / levels
    u = np.log(p / (1 - p))
    log_normal = -0.5 * u**2 - 0.5 * np.log(2 * np.pi)
    dudv = (1 - 2 * alpha) / (levels * p * (1 - p))
    expected_bpd = -(log_normal + np.log(dudv)).sum(1) / (d * np.log(2))
    np.testing.assert_allclose(-flow.log_prob(v) / (d * np.log(2)), expected_bpd, rtol=1e-10)


def test_validation_names_the_problem():
    bij = PixelLogit(levels=17, validate_args=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"pixels must be in \[0, 17\)"):
        bij.inverse(tf.constant([3.0, 17.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"pixels must be in \[0, 17\)"):
        bij.inverse(tf.constant([-0.5]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        bij.inverse(tf.constant([np.nan]))
    with pytest.raises(ValueError, match="levels"):
        PixelLogit(levels=1)
    with pytest.raises(ValueError, match="alpha"):
        PixelLogit(alpha=0.5)
