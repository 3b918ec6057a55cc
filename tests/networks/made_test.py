"""MADE: the autoregressive property from the exact Jacobian, every allowed connection live, degrees."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.networks import MADE
from tfp_realnvp.networks.made import hidden_degrees

F64 = tf.float64


def perturbed(made, stddev=0.5, seed=0):
    for i, v in enumerate(made.trainable_variables):
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[seed, i], stddev=stddev, dtype=v.dtype))
    return made


def jacobian_pattern(made, n=6, condition=None):
    """Which outputs [D, P] depend on which inputs [D]: max |d out / d x| over a batch, [D, P, D]."""
    x = tf.random.stateless_normal([n, made.features], seed=[1, 2], dtype=F64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = made(x, condition)
    jac = tape.batch_jacobian(out, x).numpy()  # [N, D, P, D]
    return np.abs(jac).max(axis=0)


def allowed(made):
    degrees = np.array(made.degrees)
    return degrees[None, :] < degrees[:, None]  # [output dim i, input dim j]


CASES = {
    "natural": dict(order="natural"),
    "reversed": dict(order="reversed"),
    "random": dict(order="random", seed=5),
    "explicit": dict(order=[3, 0, 4, 1, 2]),
    "residual": dict(order="random", seed=2, residual_blocks=2),
    "narrow": dict(hidden_units=(3, 2)),  # narrower than the D - 1 = 4 degrees: not every connection exists
    "conditional": dict(order="reversed", condition_dims=3, residual_blocks=1),
}


@pytest.mark.parametrize("name", CASES)
def test_outputs_depend_exactly_on_the_inputs_before_them_in_the_order(name):
    kw = {"hidden_units": (16, 16), "params_per_dim": 3, **CASES[name]}
    made = perturbed(MADE(5, dtype=F64, **kw))
    condition = None
    if made.condition_dims:
        condition = tf.random.stateless_normal([6, made.condition_dims], seed=[3, 4], dtype=F64)
    pattern = jacobian_pattern(made, condition=condition)
    mask = allowed(made)
    for p in range(made.params_per_dim):
        assert np.all(pattern[:, p][~mask] == 0.0), (name, p)  # exactly zero where it must be
        if name != "narrow":  # and every allowed connection live
            assert np.all(pattern[:, p][mask] > 1e-8), (name, p, pattern[:, p])
    assert sorted(made.order) == list(range(5)) and made.order[0] == made.degrees.index(0)


def test_orders():
    assert MADE(4).order == (0, 1, 2, 3)
    assert MADE(4, order="reversed").order == (3, 2, 1, 0)
    assert MADE(4, order=(2, 0, 3, 1)).degrees == (1, 3, 0, 2)
    randoms = {MADE(6, order="random", seed=s).order for s in range(4)}
    assert len(randoms) > 1 and MADE(6, order="random", seed=1).order == MADE(6, order="random", seed=1).order


def test_a_new_made_starts_random_and_small_or_at_zero_and_its_output_has_the_right_shape():
    x = tf.random.stateless_normal([7, 3], seed=[0, 1])
    out = MADE(3, hidden_units=(8,), params_per_dim=4, residual_blocks=1)(x)
    assert out.shape == (7, 3, 4)
    spread = np.abs(out).max(axis=0)
    assert np.all(spread > 1e-3) and np.all(spread < 2.0), spread  # every output starts off 0, none far
    again = MADE(3, hidden_units=(8,), params_per_dim=4, residual_blocks=1)(x)
    np.testing.assert_array_equal(again, out)  # the seed fixes the start
    zero = MADE(3, hidden_units=(8,), params_per_dim=4, residual_blocks=1, zero_output=True)(x)
    assert zero.shape == (7, 3, 4)
    np.testing.assert_array_equal(zero, 0.0)


def test_the_condition_reaches_every_output_dimension():
    made = perturbed(MADE(4, hidden_units=(16,), condition_dims=2, dtype=F64))
    x = tf.random.stateless_normal([5, 4], seed=[1, 2], dtype=F64)
    c = tf.random.stateless_normal([5, 2], seed=[3, 4], dtype=F64)
    with tf.GradientTape() as tape:
        tape.watch(c)
        out = made(x, c)
    jac = np.abs(tape.batch_jacobian(out, c).numpy()).max(axis=(0, 3))  # [D, P]
    assert np.all(jac > 1e-8), jac  # the first dimension (degree 0) too
    other = made(x, c + 1.0)
    assert np.all(np.abs(other - out).max(axis=(0, 2)) > 1e-6)


def test_condition_is_required_exactly_when_built_with_one():
    x = tf.zeros([2, 3])
    with pytest.raises(ValueError, match="condition"):
        MADE(3, condition_dims=2)(x)
    with pytest.raises(ValueError, match="condition"):
        MADE(3)(x, tf.zeros([2, 2]))
    with pytest.raises(ValueError, match="condition"):
        MADE(3, condition_dims=2)(x, tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="x"):
        MADE(3)(tf.zeros([2, 4]))


def test_every_hidden_unit_has_inputs_and_outputs():
    """Degrees: each layer's range keeps both ends, so every unit has a predecessor and a successor."""
    for width, low, high in ((10, 0, 3), (3, 0, 8), (2, -1, 5), (64, -1, 0)):
        d = hidden_degrees(width, low, high)
        assert d.min() == low and d.max() == high and len(d) == width, (width, low, high, d)
    made = MADE(9, hidden_units=(20, 3, 20))
    for layer in made.hidden[1:] + [made.out]:
        mask = layer.mask.numpy()
        assert np.all(mask.sum(axis=0) > 0) or layer is made.out  # every unit reads something
        assert np.all(mask.sum(axis=1) > 0)  # every unit of the layer below feeds something
