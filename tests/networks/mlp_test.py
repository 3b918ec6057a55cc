"""MLPConditioner's start: the options that shape its first Adam steps leave the initial function as documented."""

import numpy as np
import tensorflow as tf

from tfp_realnvp.networks import MLPConditioner


def test_hidden_step_keeps_the_initial_kernels_and_lengthens_the_directions():
    plain = MLPConditioner(3, (16, 16), seed=4)
    slow = MLPConditioner(3, (16, 16), seed=4, hidden_step=0.25)
    for a, b in zip(plain.hidden, slow.hidden):
        np.testing.assert_allclose(b.kernel, a.kernel, rtol=1e-6)
        np.testing.assert_allclose(tf.norm(b.v, axis=0), 4.0 * tf.norm(a.v, axis=0), rtol=1e-6)
        np.testing.assert_array_equal(b.g, a.g)


def test_first_bias_spread_spreads_only_the_first_layers_biases_and_the_output_still_starts_at_zero():
    net = MLPConditioner(2, (256, 8), seed=1, first_bias_spread=2.0)
    first = net.hidden[0].b.numpy()
    assert np.all(np.abs(first) <= 2.0) and first.min() < -1.5 and first.max() > 1.5
    np.testing.assert_array_equal(net.hidden[1].b, 0.0)
    np.testing.assert_array_equal(net(tf.random.stateless_normal([5, 2], seed=[0, 1])), 0.0)
    np.testing.assert_array_equal(MLPConditioner(2, (256, 8), seed=1).hidden[0].b, 0.0)  # the default: 0
