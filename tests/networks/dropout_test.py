"""per_example_dropout: the rate, the scaling, masks by global position, the same in every mode."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.networks.dropout import per_example_dropout

SEED = tf.constant([7, 11], tf.int64)


def _masks(shape, rate, seed=SEED, offset=0):
    return per_example_dropout(tf.ones(shape), rate, seed, offset).numpy() > 0


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_drops_the_rate_and_scales_the_kept_units(rate):
    x = tf.random.stateless_normal([64, 16, 16, 64], seed=[1, 2])  # 1,048,576 units
    y = per_example_dropout(x, rate, SEED).numpy()
    kept = y != 0
    sigma = np.sqrt(rate * (1 - rate) / kept.size)
    assert abs((1 - kept.mean()) - rate) < 5 * sigma
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - rate), rtol=1e-6)


def test_masks_follow_the_global_position_not_the_split():
    full = _masks([8, 4, 4, 3], 0.3)
    parts = np.concatenate([_masks([3, 4, 4, 3], 0.3, offset=0), _masks([5, 4, 4, 3], 0.3, offset=3)])
    np.testing.assert_array_equal(full, parts)
    assert not np.array_equal(full[:5], full[3:])  # another position, another mask


def test_eager_graph_and_xla_draw_the_same_masks():
    x = tf.random.stateless_normal([6, 5, 5, 8], seed=[3, 4])
    offset = tf.constant(13)
    eager = per_example_dropout(x, 0.2, SEED, offset)
    graph = tf.function(per_example_dropout)(x, 0.2, SEED, offset)
    xla = tf.function(per_example_dropout, jit_compile=True)(x, 0.2, SEED, offset)
    unknown_batch = tf.function(
        lambda t: per_example_dropout(t, 0.2, SEED, offset), input_signature=[tf.TensorSpec([None, 5, 5, 8])]
    )(x)
    for other in (graph, xla, unknown_batch):
        np.testing.assert_array_equal(eager.numpy() == 0, other.numpy() == 0)
        np.testing.assert_allclose(eager.numpy(), other.numpy(), rtol=1e-6)  # XLA may multiply by 1 / 0.8


def test_every_part_of_the_seed_changes_the_masks_and_neighbours_are_independent():
    shape, rate = [256, 64, 64], 0.2
    base = _masks(shape, rate)
    same = rate**2 + (1 - rate) ** 2  # agreement of two independent masks
    for seed in ([8, 11], [7, 12], [7 + 2**40, 11], [7, 11 + 2**40]):
        agree = (base == _masks(shape, rate, tf.constant(seed, tf.int64))).mean()
        assert abs(agree - same) < 0.005, seed
    flat = base.reshape(256, -1).astype(np.float64)
    for a, b in ((flat[:, :-1], flat[:, 1:]), (flat[:-1], flat[1:]), (flat[:, :-64], flat[:, 64:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01
