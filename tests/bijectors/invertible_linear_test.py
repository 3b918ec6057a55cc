import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_all_gradients_nonzero, check_bijector, train_a_few_steps
from tfp_realnvp.bijectors import InvertibleLinear

tfd = tfp.distributions


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
@pytest.mark.parametrize("event_shape", [[2], [5], [4, 6, 3]])
def test_exact_inverse_and_log_det_at_init(event_shape, batch, dtype):
    mix = InvertibleLinear(event_shape, seed=4, dtype=dtype)
    x = tf.random.stateless_normal([*batch, *event_shape], seed=[1, 2], dtype=dtype)
    check_bijector(mix, x, event_shape, jacobian=dtype == tf.float64)
    w = mix.matrix().numpy()
    np.testing.assert_allclose(w @ w.T, np.eye(event_shape[-1]), atol=1e-5)  # starts as a rotation


@pytest.mark.parametrize("event_shape", [[3], [4, 4, 4]])
def test_log_det_after_training_matches_the_jacobian(event_shape):
    mix = InvertibleLinear(event_shape, seed=1, dtype=tf.float64)
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(tf.constant(0.0, tf.float64), 1.0), event_shape), mix)
    data = 0.3 * tf.random.stateless_normal([64, *event_shape], seed=[5, 6], dtype=tf.float64) + 1.0
    grads = train_a_few_steps(mix.trainable_variables, lambda: -tf.reduce_mean(flow.log_prob(tf.identity(data))))
    assert len(mix.trainable_variables) == 3
    assert_all_gradients_nonzero(mix.trainable_variables, grads)
    assert abs(float(tf.reduce_sum(mix.log_s))) > 1e-3  # no longer volume preserving
    x = tf.random.stateless_normal([3, *event_shape], seed=[7, 8], dtype=tf.float64)
    check_bijector(mix, x, event_shape)
    w = mix.matrix().numpy()
    positions = int(np.prod(event_shape[:-1]))
    np.testing.assert_allclose(
        mix.inverse_log_det_jacobian(x, event_ndims=len(event_shape)), positions * np.linalg.slogdet(w)[1], rtol=1e-10
    )


def test_image_version_is_a_1x1_convolution():
    mix = InvertibleLinear([4, 4, 3], seed=2, dtype=tf.float64)
    y = tf.random.stateless_normal([2, 4, 4, 3], seed=[1, 1], dtype=tf.float64)
    kernel = tf.transpose(mix.matrix())[None, None]  # [1, 1, in, out]
    np.testing.assert_allclose(mix.inverse(y), tf.nn.conv2d(y, kernel, 1, "VALID"), rtol=1e-12)


def test_seeds_give_different_rotations_and_bad_shapes_fail():
    a, b = InvertibleLinear([4], seed=0), InvertibleLinear([4], seed=1)
    assert not np.allclose(a.matrix(), b.matrix())
    np.testing.assert_allclose(InvertibleLinear([4], seed=0).matrix(), a.matrix())
    x = tf.ones([2, 4])
    assert not np.allclose(a.forward(x), b.forward(x))  # no cache sharing between instances
    with pytest.raises(ValueError, match="event shape"):
        a.forward(tf.ones([2, 5]))
    with pytest.raises(ValueError, match="fully defined"):
        InvertibleLinear([4, 4])
