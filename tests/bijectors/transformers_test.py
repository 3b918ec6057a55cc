"""DeepSigmoidalTransformer, SumOfSquaresTransformer and bisection_inverse: monotone, (near) identity at
zero params, exact log-derivatives, inverses to the stated tolerance (float64 and float32, extreme
params and inputs, eagerly and under XLA) and the implicit-function gradients of the inverse."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.bijectors import DeepSigmoidalTransformer, SumOfSquaresTransformer, bisection_inverse

F32, F64 = tf.float32, tf.float64
TRANSFORMERS = {
    "dsf": lambda **kw: DeepSigmoidalTransformer(hidden_units=8, **kw),
    "sos": lambda **kw: SumOfSquaresTransformer(degree=3, num_squares=2, **kw),
}


def random_params(t, shape, scale, dtype, seed=0):
    return scale * tf.random.stateless_normal([*shape, t.num_params], seed=[seed, 7], dtype=dtype)


def random_inputs(shape, scale, dtype, seed=0):
    return scale * tf.random.stateless_normal(shape, seed=[seed, 8], dtype=dtype)


def rounding_bound(t, u, v, log_slope, tolerance):
    """The inverse's stated error: tolerance / 2 from the bracket, an ulp or two of u, and fn's own
    rounding (a few ulps of v, plus one for the offset) divided by the slope at the root."""
    eps = np.finfo(u.dtype).eps
    return tolerance / 2 + 4 * eps * np.abs(u) + 16 * eps * (np.abs(v) + 1.0) / np.exp(log_slope)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_strictly_increasing_with_finite_log_slopes(name):
    t = TRANSFORMERS[name]()
    grid = tf.constant(np.linspace(-30.0, 30.0, 601), F64)
    params = random_params(t, [1, 1], 2.0, F64)  # one dimension's params, the whole grid through it
    v, log_slope = t.forward(grid[None, :], tf.broadcast_to(params, [1, 601, t.num_params]))
    assert np.all(np.diff(v.numpy()[0]) > 0)
    assert np.all(np.isfinite(log_slope))


def test_zero_params_give_the_identity():
    u = tf.constant(np.linspace(-50.0, 50.0, 201)[None], F64)
    sos = SumOfSquaresTransformer(degree=4, num_squares=3)
    v, log_slope = sos.forward(u, tf.zeros([1, 201, sos.num_params], F64))
    np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_slope, 0.0, atol=1e-12)
    for dsf in (DeepSigmoidalTransformer(hidden_units=1), DeepSigmoidalTransformer(hidden_units=8, spread=0.0)):
        v, log_slope = dsf.forward(u, tf.zeros([1, 201, dsf.num_params], F64))
        np.testing.assert_allclose(v, u, atol=1e-12)
        np.testing.assert_allclose(log_slope, 0.0, atol=1e-12)
    dsf = DeepSigmoidalTransformer()  # the default spread: near the identity, as documented
    v, _ = dsf.forward(u, tf.zeros([1, 201, dsf.num_params], F64))
    limit = np.log(np.mean(np.exp(np.linspace(-1.0, 1.0, 16))))
    assert 0.18 < limit < 0.19 and np.max(np.abs(v - u)) <= limit + 1e-9
    np.testing.assert_allclose(v.numpy()[0, [0, -1]], [-50.0 + limit, 50.0 - limit], atol=1e-9)


@pytest.mark.parametrize("name", TRANSFORMERS)
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_log_slope_is_the_autodiff_derivative(name, scale):
    t = TRANSFORMERS[name]()
    params = random_params(t, [64, 3], scale, F64, seed=1)
    u = random_inputs([64, 3], 3.0 * scale, F64, seed=1)
    with tf.GradientTape() as tape:
        tape.watch(u)
        v, log_slope = t.forward(u, params)
    np.testing.assert_allclose(tf.math.log(tape.gradient(v, u)), log_slope, rtol=1e-9, atol=1e-9)


def test_sos_integral_is_the_exact_polynomial_integral():
    """Against NumPy's expanded polynomial (squared, summed, integrated) inside [-bound, bound]."""
    t = SumOfSquaresTransformer(degree=3, num_squares=2, bound=4.0)
    params = random_params(t, [5, 1], 1.0, F64, seed=2).numpy()
    u = np.linspace(-3.9, 3.9, 5)[:, None]
    v, log_slope = t.forward(tf.constant(u), tf.constant(params))
    for i in range(5):
        c, a = params[i, 0, 0], params[i, 0, 1:].reshape(2, 4).copy()
        a[:, 0] += t._offsets[:, 0]
        g = sum(np.polynomial.Polynomial(a[k]) ** 2 for k in range(2)) + t.min_slope  # in s = u / bound
        mean = g.integ()(1.0) - g.integ()(-1.0)
        log_mean = np.log(mean / 2.0)
        gain = np.exp(log_mean / (1.0 + abs(log_mean) / t.max_log_gain) - log_mean)
        s = u[i, 0] / 4.0
        np.testing.assert_allclose(v[i, 0], c + gain * 4.0 * g.integ()(s), rtol=1e-12)
        np.testing.assert_allclose(log_slope[i, 0], np.log(gain * g(s)), rtol=1e-12)


@pytest.mark.parametrize("name", TRANSFORMERS)
@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("scale", [1.0, 6.0])
def test_inverse_to_the_stated_tolerance(name, dtype, scale):
    """Random and extreme params (N(0, 6^2)) and inputs (N(0, 18^2)), plus inputs of +-1e4 and 0."""
    t = TRANSFORMERS[name]()
    params = random_params(t, [256, 4], scale, dtype, seed=3)
    u = random_inputs([256, 4], 3.0 * scale, dtype, seed=3)
    u = tf.concat([u[:-1], tf.constant([[1e4, -1e4, 0.0, 1e-3]], dtype)], 0)
    v, log_slope = t.forward(u, params)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(log_slope))
    u_back = t.inverse(tf.identity(v), params)
    bound = rounding_bound(t, u.numpy(), v.numpy(), log_slope.numpy(), t.tolerance)
    err = np.abs(u_back - u)
    assert np.all(err <= bound), (np.max(err / bound), u.numpy().ravel()[np.argmax(err / bound)])


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_inverse_under_xla_matches_eager(name):
    t = TRANSFORMERS[name]()
    params = random_params(t, [64, 2], 2.0, F32, seed=4)
    v = random_inputs([64, 2], 5.0, F32, seed=4)
    eager = t.inverse(v, params)
    compiled = tf.function(t.inverse, jit_compile=True)(v, params)
    tol = rounding_bound(t, eager.numpy(), v.numpy(), t.forward(eager, params)[1].numpy(), t.tolerance)
    assert np.all(np.abs(compiled - eager) <= 2 * tol)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_inverse_gradients_are_the_implicit_function_ones(name):
    """u = inverse(v, p) solves forward(u, p) = v: d forward(u(v, p), p) / dv = 1, / dp = 0; and
    du / dv = 1 / forward'(u)."""
    t = TRANSFORMERS[name]()
    params = random_params(t, [16, 3], 1.5, F64, seed=5)
    v = random_inputs([16, 3], 4.0, F64, seed=5)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([v, params])
        u = t.inverse(v, params)
        v_again, log_slope = t.forward(u, params)
    np.testing.assert_allclose(tape.gradient(v_again, v), 1.0, rtol=1e-8)
    np.testing.assert_allclose(tape.gradient(v_again, params), 0.0, atol=1e-8)
    np.testing.assert_allclose(tape.gradient(u, v), np.exp(-log_slope), rtol=1e-8)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_params_are_checked(name):
    t = TRANSFORMERS[name]()
    u = tf.zeros([2, 3], F64)
    with pytest.raises(ValueError, match="`params`.*num_params"):
        t.forward(u, tf.zeros([2, 3, t.num_params + 1], F64))
    with pytest.raises(ValueError, match="`params` must have the shape of `v`"):
        t.inverse(u, tf.zeros([2, 4, t.num_params], F64))
    with pytest.raises(TypeError, match="`params` must have the dtype"):
        t.forward(u, tf.zeros([2, 3, t.num_params], F32))


def test_constructor_arguments_are_checked():
    for make, what in [
        (lambda: DeepSigmoidalTransformer(hidden_units=0), "`hidden_units`"),
        (lambda: DeepSigmoidalTransformer(spread=-1.0), "`spread`"),
        (lambda: DeepSigmoidalTransformer(tolerance=0.0), "`tolerance`"),
        (lambda: SumOfSquaresTransformer(degree=0), "`degree`"),
        (lambda: SumOfSquaresTransformer(num_squares=1.5), "`num_squares`"),
        (lambda: SumOfSquaresTransformer(bound=0.0), "`bound`"),
        (lambda: SumOfSquaresTransformer(min_slope=1.0), "`min_slope`"),
        (lambda: SumOfSquaresTransformer(max_iterations=0), "`max_iterations`"),
    ]:
        with pytest.raises(ValueError, match=what):
            make()
    assert DeepSigmoidalTransformer(hidden_units=5).num_params == 15
    assert SumOfSquaresTransformer(degree=4, num_squares=3).num_params == 16


# ---------------------------------------------------------------------------- bisection_inverse
def cubic(u):
    return u**3 + 0.5 * u


@pytest.mark.parametrize("tolerance", [1e-2, 1e-6, 1e-10])
def test_bisection_reaches_its_tolerance_in_float64(tolerance):
    root = tf.constant([-7.3, -0.2, 0.0, 0.9, 3.1, 1e3], F64)
    u = bisection_inverse(cubic, cubic(root), lower=-1.0, upper=1.0, tolerance=tolerance)  # expands out to 1e3
    assert np.all(np.abs(u - root) <= tolerance / 2 * (1 + 1e-9) + 1e-12 * np.abs(root))


def test_bisection_in_float32_stops_at_an_ulp():
    root = tf.constant([0.3, 12.5, -900.0, 2.5e5], F32)
    for fn in (cubic, lambda u: 2.0 * u + 1.0):
        u = bisection_inverse(fn, fn(root), tolerance=1e-6)
        ulp = np.spacing(np.abs(root.numpy()))
        assert np.all(np.abs(u - root) <= np.maximum(5e-7, 2 * ulp) + 1e-4 * np.abs(root) * (fn is cubic)), u


def test_bisection_expands_far_brackets_up_to_the_dtype_range():
    v = tf.constant([1e30, -1e30, 5.0], F64)
    u = bisection_inverse(lambda u: u, v, lower=0.0, upper=1.0)
    np.testing.assert_allclose(u, v, rtol=1e-15, atol=0.5e-6)  # far out: an ulp of 1e30, not the tolerance
    # tanh never reaches 2: that element ends at the largest float; the others are unaffected.
    u = bisection_inverse(tf.tanh, tf.constant([2.0, 0.5], F32))
    assert float(u[0]) >= 0.99 * np.finfo(np.float32).max and abs(float(u[1]) - np.arctanh(0.5)) <= 0.5e-6


def test_bisection_under_xla_matches_eager():
    v = cubic(tf.linspace(tf.constant(-20.0, F32), 20.0, 41))
    eager = bisection_inverse(cubic, v)
    compiled = tf.function(lambda v: bisection_inverse(cubic, v), jit_compile=True)(v)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
