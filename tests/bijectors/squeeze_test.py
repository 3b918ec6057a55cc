import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import check_bijector
from tfp_realnvp.bijectors import Squeeze

tfb, tfd = tfp.bijectors, tfp.distributions


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_exact_inverse_and_zero_log_det(batch, dtype):
    x = tf.random.stateless_normal([*batch, 4, 6, 2], seed=[1, 2], dtype=dtype)
    y = check_bijector(Squeeze(), x, [4, 6, 2], jacobian=dtype == tf.float64)
    assert y.shape == (*batch, 2, 3, 8)
    np.testing.assert_array_equal(Squeeze().forward_log_det_jacobian(x, event_ndims=3), np.zeros(batch))


def test_subsquares_become_channels():
    x = np.arange(4 * 4 * 2).reshape(1, 4, 4, 2).astype(np.float32)
    y = Squeeze().forward(x).numpy()
    for i in range(2):
        for j in range(2):
            # channel block (2*di + dj) holds the pixel at (2i + di, 2j + dj), all C channels
            expected = np.concatenate([x[0, 2 * i + di, 2 * j + dj] for di in (0, 1) for dj in (0, 1)])
            np.testing.assert_array_equal(y[0, i, j], expected)


def test_event_shape_hooks_and_transformed_distribution():
    sq = Squeeze()
    assert sq.forward_event_shape([8, 6, 3]) == [4, 3, 12]
    assert sq.inverse_event_shape([4, 3, 12]) == [8, 6, 3]
    np.testing.assert_array_equal(sq.forward_event_shape_tensor([8, 6, 3]), [4, 3, 12])
    np.testing.assert_array_equal(sq.inverse_event_shape_tensor([4, 3, 12]), [8, 6, 3])
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [2, 2, 4]), tfb.Invert(sq))
    assert flow.event_shape == [4, 4, 1]
    assert flow.sample(5, seed=(1, 2)).shape == (5, 4, 4, 1)
    x = tf.random.stateless_normal([5, 4, 4, 1], seed=[3, 4])
    np.testing.assert_allclose(flow.log_prob(x), tfd.Sample(tfd.Normal(0.0, 1.0), [4, 4, 1]).log_prob(x), rtol=1e-6)


def test_odd_sizes_are_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="even height"):
        Squeeze().forward(tf.zeros([1, 5, 4, 1]))
    with pytest.raises(ValueError, match="even width"):
        Squeeze().forward(tf.zeros([1, 4, 3, 1]))
    with pytest.raises(ValueError, match="even height"):
        Squeeze().forward_event_shape([3, 4, 1])
    with pytest.raises(ValueError, match="divisible by 4"):
        Squeeze().inverse(tf.zeros([1, 2, 2, 6]))
    with pytest.raises(ValueError, match=r"\[\.\.\., H, W, C\]"):
        Squeeze().forward(tf.zeros([4, 4]))
