import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_realnvp.optim import FusedAdam


def quadratic_problem():
    initial = [np.arange(6.0).reshape(2, 3), np.array([0.5, -1.0]), np.array(3.0)]
    variables = [tf.Variable(v) for v in initial]  # float64
    targets = [np.ones((2, 3)), np.array([2.0, 2.0]), -1.0]

    def loss():
        return tf.add_n([tf.reduce_sum((v - t) ** 2 * (i + 1)) for i, (v, t) in enumerate(zip(variables, targets))])

    return variables, loss


@pytest.mark.parametrize("clip", [None, 1.5])
def test_matches_keras_adam(clip):
    ours_vars, ours_loss = quadratic_problem()
    ref_vars, ref_loss = quadratic_problem()
    ours = FusedAdam(ours_vars, 0.1, clip_norm=clip)
    ref = tf_keras.optimizers.Adam(0.1, epsilon=1e-7, global_clipnorm=clip)
    for _ in range(5):
        for variables, loss, apply in (
            (ours_vars, ours_loss, lambda g: ours.apply(g, ours_vars)),
            (ref_vars, ref_loss, lambda g: ref.apply_gradients(zip(g, ref_vars))),
        ):
            with tf.GradientTape() as tape:
                value = loss()
            apply(tape.gradient(value, variables))
    for a, b in zip(ours_vars, ref_vars):
        # tf_keras keeps its learning rate and betas in float32: agreement is to ~1e-6, not 1e-15
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-5)
    assert int(ours.iterations) == 5


def test_schedule_is_called_with_the_step_and_variables_are_checked():
    variables, loss = quadratic_problem()
    seen = []
    opt = FusedAdam(variables, lambda step: seen.append(int(step)) or 0.01)
    for _ in range(3):
        with tf.GradientTape() as tape:
            value = loss()
        opt.apply(tape.gradient(value, variables), variables)
    assert seen == [0, 1, 2]
    with pytest.raises(ValueError, match="list the optimizer was built for"):
        opt.apply([tf.zeros([2])], variables[1:2])
