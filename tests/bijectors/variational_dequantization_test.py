import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_all_gradients_nonzero, check_bijector, train_a_few_steps
from tfp_realnvp.bijectors import PixelLogit, VariationalDequantization

tfb, tfd = tfp.bijectors, tfp.distributions


def _pixels(shape, levels, seed):
    rs = np.random.RandomState(seed)
    return rs.randint(0, levels, shape) + rs.rand(*shape)


def _trained(event_shape, levels, dtype=tf.float64):
    """A dequantizer whose zero-initialised layers have been trained away from the identity."""
    bij = VariationalDequantization(event_shape, levels, hidden_channels=6, dtype=dtype)
    x = tf.constant(_pixels((16, *event_shape), levels, 0), dtype)
    # Pull each pixel's noise towards the cell's lower edge, as a flow would for a background pixel.
    grads = train_a_few_steps(
        bij.trainable_variables,
        lambda: tf.reduce_mean(tf.reduce_sum(bij.inverse(x) % 1.0, [1, 2, 3]) - bij.inverse_log_det_jacobian(x, 3)),
    )
    return bij, grads


def test_identity_at_creation():
    bij = VariationalDequantization((4, 4, 1), 17)
    x = tf.constant(_pixels((3, 4, 4, 1), 17, 1), tf.float32)
    np.testing.assert_allclose(bij.inverse(x), x, atol=1e-5)
    np.testing.assert_allclose(bij.inverse_log_det_jacobian(x, 3), np.zeros(3), atol=1e-4)


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_exact_inverse_and_log_det(batch):
    bij, grads = _trained((4, 4, 2), 17)
    assert_all_gradients_nonzero(bij.trainable_variables, grads)
    x = tf.constant(_pixels((*batch, 4, 4, 2), 17, 2), tf.float64)
    assert float(tf.reduce_max(tf.abs(bij.forward(x) - x))) > 1e-2  # trained away from the identity
    check_bijector(bij, x, [4, 4, 2], rtol=1e-6, atol=1e-8)


def test_every_pixel_stays_in_its_cell():
    bij, _ = _trained((4, 4, 1), 256, tf.float32)
    x = tf.constant(_pixels((64, 4, 4, 1), 256, 3), tf.float32)
    cells = np.floor(x.numpy())
    np.testing.assert_array_equal(np.floor(bij.inverse(x).numpy()), cells)
    np.testing.assert_array_equal(np.floor(bij.forward(x).numpy()), cells)
    # Cell edges: a fraction of exactly 0 (pixel + U[0, 1) can draw it) stays finite.
    edges = tf.constant(np.floor(x.numpy()), tf.float32)
    assert np.all(np.isfinite(bij.inverse_log_det_jacobian(edges, 3)))
    np.testing.assert_array_equal(np.floor(bij.inverse(edges).numpy()), cells)
    # Noise pushed against the top edge: k + sigmoid(y) rounds to k + 1 in float32 and is put back.
    bij.elementwise.b.assign([0.0, 40.0])  # (log-scale, shift) of the one channel
    for out in (bij.inverse(tf.identity(x)), bij.forward(tf.identity(x))):  # fresh tensors: no cached outputs
        np.testing.assert_array_equal(np.floor(out.numpy()), cells)
        assert float(tf.reduce_max(out)) < 256.0


def test_cell_masses_are_the_discrete_model():
    """On a 2-pixel image with 2 levels the four cells' probabilities, integrated numerically,
    are the same with the trained dequantizer in front of a density as without it."""
    bij, _ = _trained((1, 2, 1), 2)
    base = tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), [1, 2, 1])
    plain = tfd.TransformedDistribution(base, PixelLogit(2))
    dequantized = tfd.TransformedDistribution(base, tfb.Chain([bij, PixelLogit(2)]))
    # In logit coordinates (pixel = k + sigmoid(w)) both integrands are smooth and decay at the
    # cell edges, where the dequantized density may pile up: a fine grid in w is accurate.
    w = np.linspace(-30.0, 30.0, 601)
    weight = np.full_like(w, w[1] - w[0]) * np.exp(-np.logaddexp(0.0, w) - np.logaddexp(0.0, -w))
    w0, w1 = np.meshgrid(w, w, indexing="ij")
    frac = 1.0 / (1.0 + np.exp(-np.stack([w0, w1], -1).reshape(-1, 1, 2, 1)))
    area = np.outer(weight, weight).ravel()
    masses = {}
    for k0 in (0, 1):
        for k1 in (0, 1):
            grid = tf.constant(frac + np.reshape([k0, k1], [1, 1, 2, 1]), tf.float64)
            masses[k0, k1] = [float(np.sum(area * np.exp(d.log_prob(grid)))) for d in (plain, dequantized)]
    p, q = np.array(list(masses.values())).T
    # The quadrature itself: PixelLogit puts N(0, 1)'s mass within |logit| < logit(0.95) on [0, 2).
    inside = float(tfd.Normal(0.0, 1.0).cdf(np.log(0.95 / 0.05)) * 2 - 1) ** 2
    np.testing.assert_allclose(p.sum(), inside, rtol=1e-5)
    # Equal up to the mass g moves within 2^-20 of a cell's edge, where fractions are clipped: here
    # (a dequantizer trained to pile noise at the lower edge) 3e-4 of it is lost, none gained.
    np.testing.assert_allclose(q, p, rtol=1e-3)
    assert np.all(q <= p * (1 + 1e-9))


def test_validation_and_bad_arguments_name_the_problem():
    bij = VariationalDequantization((2, 2, 1), 17, validate_args=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"pixels must be in \[0, 17\)"):
        bij.inverse(tf.fill([1, 2, 2, 1], 17.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        bij.inverse(tf.fill([1, 2, 2, 1], np.nan))
    below_zero = tf.fill([1, 2, 2, 1], -0.3)  # (PixelLogit.forward clamps its samples into [0, 17))
    np.testing.assert_array_equal(bij.forward(below_zero), below_zero)  # the latent side is not checked
    with pytest.raises(ValueError, match="does not end in the event shape"):
        bij.inverse(tf.zeros([1, 3, 2, 1]))
    with pytest.raises(ValueError, match=r"\[H, W, C\]"):
        VariationalDequantization((4,), 17)
    with pytest.raises(ValueError, match="`levels`"):
        VariationalDequantization((2, 2, 1), 1)
