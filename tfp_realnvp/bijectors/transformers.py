"""Elementwise monotone transformers for autoregressive flows: NAF's deep sigmoidal flow and the
sum-of-squares polynomial flow, inverted by bisection.

A transformer is a `tf.Module` with `num_params` (raw parameters per dimension) and

    forward(u, params) -> (v, log_dv_du)      inverse(v, params) -> u

elementwise on u, v of shape [N, D] with params [N, D, num_params]: the unconstrained outputs of a
conditioner (a MADE). For every fixed params, `u -> v` is a strictly increasing bijection of the
real line. `MaskedAutoregressive` evaluates `forward` once on the data for a density and `inverse`
D times (once per autoregressive pass) to sample.
"""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_number, check_positive_int
from tfp_realnvp.bijectors.autoregressive import Transformer

__all__ = ["DeepSigmoidalTransformer", "SumOfSquaresTransformer", "bisection_inverse"]


# ---------------------------------------------------------------------------- bisection
def _limits(dtype):
    info = np.finfo(dtype.as_numpy_dtype)
    # Expansions: enough doublings for a bracket of width 2 to reach the dtype's largest value.
    # Halvings: from there down to one ulp of the root, plus the tolerance's own bits.
    return info.maxexp + 2, info.maxexp + info.nmant + 8, float(info.max)


def _check_tolerance(tolerance):
    return check_number(tolerance, "`tolerance`", 0.0, low_open=True)


def _check_iterations(max_iterations, what):
    if max_iterations is None:
        return None
    return check_positive_int(max_iterations, what)


def bisection_bracket(fn, v, lower, upper, tolerance=1e-6, max_iterations=None, max_expansions=None):
    """The bracket [lo, hi] that `bisection_inverse` ends with: fn(lo) <= v <= fn(hi) (unless the
    bracket could not be found, see there), hi - lo <= tolerance, or no representable midpoint."""
    if not callable(fn):
        raise TypeError(f"`fn` must be callable (u -> fn(u), elementwise), got {type(fn).__name__}")
    v = tf.convert_to_tensor(v)
    if not v.dtype.is_floating:
        raise TypeError(f"`v` must be a floating tensor, got {v.dtype.name}")
    tolerance = _check_tolerance(tolerance)
    max_iterations = _check_iterations(max_iterations, "`max_iterations`")
    max_expansions = _check_iterations(max_expansions, "`max_expansions`")
    default_expansions, default_iterations, biggest = _limits(v.dtype)
    max_expansions = max_expansions or default_expansions
    max_iterations = max_iterations or default_iterations
    lo = tf.broadcast_to(tf.cast(lower, v.dtype), tf.shape(v))
    hi = tf.broadcast_to(tf.cast(upper, v.dtype), tf.shape(v))
    lo, hi = tf.minimum(lo, hi), tf.maximum(lo, hi)
    biggest = tf.constant(biggest, v.dtype)
    tol = tf.constant(tolerance, v.dtype)

    # 1. Expansion: the side that does not bracket v moves out by the bracket's width (the width
    #    doubles), until fn(lo) <= v <= fn(hi). A NaN value counts as not bracketing.
    def unbracketed(lo, hi, f_lo, f_hi):
        return ~(f_lo <= v) & (lo > -biggest), ~(f_hi >= v) & (hi < biggest)

    def expand_cond(i, lo, hi, f_lo, f_hi):
        low, high = unbracketed(lo, hi, f_lo, f_hi)
        return (i < max_expansions) & tf.reduce_any(low | high)

    def expand_body(i, lo, hi, f_lo, f_hi):
        low, high = unbracketed(lo, hi, f_lo, f_hi)
        # At least 1, and 1/64 of the ends' magnitude: a step of one unit is lost to rounding far out.
        width = tf.maximum(hi - lo, tf.maximum(1.0 + tf.zeros_like(lo), (tf.abs(lo) + tf.abs(hi)) / 64.0))
        width = tf.minimum(width, biggest)
        lo = tf.where(low, tf.maximum(lo - width, -biggest), lo)
        hi = tf.where(high, tf.minimum(hi + width, biggest), hi)
        return i + 1, lo, hi, tf.where(low, fn(lo), f_lo), tf.where(high, fn(hi), f_hi)

    _, lo, hi, _, _ = tf.while_loop(
        expand_cond, expand_body, (tf.constant(0), lo, hi, fn(lo), fn(hi)), maximum_iterations=max_expansions
    )

    # 2. Halving: every unfinished element keeps the half whose ends still bracket v; an element
    #    is finished when its bracket is at most `tolerance` wide or has no representable midpoint.
    def midpoint(lo, hi):
        return 0.5 * lo + 0.5 * hi  # no overflow near the dtype's largest values

    def unfinished(lo, hi):
        mid = midpoint(lo, hi)
        return (hi - lo > tol) & (mid > lo) & (mid < hi)

    def halve_cond(i, lo, hi):
        return (i < max_iterations) & tf.reduce_any(unfinished(lo, hi))

    def halve_body(i, lo, hi):
        mid = midpoint(lo, hi)
        active = unfinished(lo, hi)
        below = fn(mid) < v
        return i + 1, tf.where(active & below, mid, lo), tf.where(active & ~below, mid, hi)

    _, lo, hi = tf.while_loop(halve_cond, halve_body, (tf.constant(0), lo, hi), maximum_iterations=max_iterations)
    return lo, hi


def bisection_inverse(fn, v, lower=-1.0, upper=1.0, tolerance=1e-6, max_iterations=None, max_expansions=None):
    """Solve fn(u) = v elementwise for an elementwise, increasing `fn`, by bisection (vectorised).

    `lower` and `upper` (broadcastable to v) are the starting bracket. First every element whose
    bracket does not contain the root (fn(lower) > v, or fn(upper) < v, or NaN there) moves that
    side out by the bracket's width (at least 1, and 1/64 of the ends' magnitudes), doubling it,
    until it brackets or reaches the dtype's largest finite value (at most `max_expansions`
    rounds; default: enough to get there from width 1). Then each element's bracket is halved
    until it is at most `tolerance` wide or its midpoint is no longer representable between its
    ends, at most `max_iterations` times (default: enough for any float bracket to reach one
    ulp). Both loops are `tf.while_loop`s that stop when every element is done: the function
    runs eagerly, in `tf.function` and under XLA. There is no gradient through it (the result is
    piecewise constant in v); the transformers attach the implicit-function gradient themselves.

    Returns the bracket's midpoint. Tolerance: where the bracket was found, |u - u*| <=
    `tolerance` / 2 for the root u*, up to the rounding of `fn` itself (where the computed fn(u)
    and v differ by less than fn's rounding error the comparison may go either way, which can add
    about that error divided by fn'(u*)). In float32 the bracket cannot be narrower than one ulp of
    u (1.2e-7 |u|), so for |u| > ~8 the default 1e-6 is not reachable and the error is at most an
    ulp of u instead: |u - u*| <= max(tolerance, 2 ulp(u*)) / 2. Where no bracket was found (fn
    never reaches v within the dtype's range: fn is not onto) the result is the nearest end
    reached, the dtype's largest finite value or its negative. A NaN value of fn counts as not
    bracketing, and as above v while halving: give a fn that is finite on the real line.
    """
    lo, hi = bisection_bracket(fn, v, lower, upper, tolerance, max_iterations, max_expansions)
    return 0.5 * lo + 0.5 * hi


# ---------------------------------------------------------------------------- shared base
class _MonotoneTransformer(Transformer):
    """Base: subclasses implement `forward(u, params) -> (v, log_dv_du)` and `_bracket(v, params)`
    (a starting bracket for the root). `inverse` bisects to `tolerance`, takes one Newton step
    when it stays inside the final bracket, and carries the implicit-function gradient."""

    num_params = None

    def __init__(self, tolerance, max_iterations, name):
        super().__init__(name=name)
        self.tolerance = _check_tolerance(tolerance)
        self.max_iterations = _check_iterations(max_iterations, "`max_iterations`")

    def _checked(self, t, params, what):
        t = tf.convert_to_tensor(t)
        params = tf.convert_to_tensor(params, dtype_hint=t.dtype)
        if not t.dtype.is_floating:
            raise TypeError(f"{self.name}: `{what}` must be a floating tensor, got {t.dtype.name}")
        if params.dtype != t.dtype:
            raise TypeError(
                f"{self.name}: `params` must have the dtype of `{what}` ({t.dtype.name}), got {params.dtype.name}"
            )
        if params.shape.rank is not None and t.shape.rank is not None:
            if params.shape.rank != t.shape.rank + 1 or not params.shape[:-1].is_compatible_with(t.shape):
                raise ValueError(
                    f"{self.name}: `params` must have the shape of `{what}` plus one axis of {self.num_params}, "
                    f"got {params.shape} for {what} {t.shape}"
                )
        if params.shape.rank is not None and params.shape[-1] is not None and params.shape[-1] != self.num_params:
            raise ValueError(
                f"{self.name}: `params` must have {self.num_params} entries on its last axis (num_params), "
                f"got {params.shape[-1]}"
            )
        return t, params

    def forward(self, u, params):
        u, params = self._checked(u, params, "u")
        return self._forward(u, params)

    def inverse(self, v, params):
        v, params = self._checked(v, params, "v")
        return self._inverse(v, params)

    def _solve(self, v, params):
        """The root u of forward(u, params) = v: bisection, then one Newton step when it lands
        inside the final bracket (it can then only improve on the midpoint): rounding-level
        accuracy where the function is smooth.

        The elements are solved as one flat vector with one dummy element (v = 0, params = 0)
        appended: graph-mode TF (Grappler's constant folding) dies of a floating point exception
        on SOS's loop when the batch is statically empty, and a never-empty vector avoids that."""
        flat_v = tf.concat([tf.reshape(v, [-1]), tf.zeros([1], v.dtype)], 0)
        flat_p = tf.concat([tf.reshape(params, [-1, self.num_params]), tf.zeros([1, self.num_params], v.dtype)], 0)
        u = tf.reshape(self._solve_flat(flat_v, flat_p)[:-1], tf.shape(v))
        u.set_shape(v.shape)
        return u

    def _solve_flat(self, v, params):
        lower, upper = self._bracket(v, params)
        lo, hi = bisection_bracket(
            lambda u: self._forward(u, params)[0], v, lower, upper, self.tolerance, self.max_iterations
        )
        u = 0.5 * lo + 0.5 * hi
        f, log_slope = self._forward(u, params)
        newton = u - (f - v) * tf.exp(-log_slope)
        return tf.where((newton >= lo) & (newton <= hi), newton, u)

    def _inverse(self, v, params):
        @tf.custom_gradient
        def solve(v, params):
            v0, p0 = tf.stop_gradient(v), tf.stop_gradient(params)
            # Eagerly the bisection's while loops would run op by op in Python (~100x slower).
            u = _graph_solver(self)(v0, p0) if tf.executing_eagerly() else self._solve(v0, p0)

            def grad(du):
                # Implicit function theorem at the root: du/dv = 1 / f'(u), du/dp = -(df/dp) / f'(u).
                with tf.GradientTape() as tape:
                    tape.watch(p0)
                    f, log_slope = self._forward(u, p0)
                scaled = du * tf.exp(-tf.stop_gradient(log_slope))
                return scaled, tape.gradient(f, p0, output_gradients=-scaled)

            return u, grad

        return solve(v, params)


_GRAPH_SOLVERS = {}


def _graph_solver(transformer):
    """`transformer._solve` as a `tf.function`, one per transformer class and settings (they own
    no variables, so every instance with the same settings computes the same graph): what eager
    calls run, traced once per settings, dtype and rank rather than once per layer."""
    key = (type(transformer), transformer._settings())
    if key not in _GRAPH_SOLVERS:
        _GRAPH_SOLVERS[key] = tf.function(transformer._solve, reduce_retracing=True, autograph=False)
    return _GRAPH_SOLVERS[key]


# ---------------------------------------------------------------------------- DSF
class DeepSigmoidalTransformer(_MonotoneTransformer):
    """NAF's deep sigmoidal flow (DSF, Huang et al. 2018): a monotone sigmoid mixture in logit space.

        v = logit(sum_j w_j sigmoid(a_j u + b_j)),   j = 1..hidden_units,

    from the raw params [..., 3 H] (H = `hidden_units`) laid out as [a_raw (H) | b_raw (H) | w_raw
    (H)]: `a = softplus(a_raw + log(expm1(1 - a_min))) + a_min` (1 at a_raw = 0, never below
    `a_min` = 1e-3), `b = b_raw + beta`, `w = softmax(w_raw)`. `beta` are fixed offsets evenly
    spaced on [-`spread`, `spread`]: without them every unit would start alike under a
    zero-initialised MADE output (`zero_output=True`) and get the same gradient forever, so the
    mixture would stay a single sigmoid and the layer affine. At zero params the layer is
    therefore the identity only for H = 1 or `spread` = 0; otherwise it is
    v = logit(mean_j sigmoid(u + beta_j)): odd, slope 1
    in the tails and about (sigmoid(spread) - sigmoid(-spread)) / (spread / 2) at 0 (0.92 for the
    default spread 1), and |v - u| stays below its limit in the tails, log(mean_j exp(beta_j)) <=
    `spread` (0.18 for the default 16 units and spread 1). Without the spread (spread = 0) the same
    flow trains markedly worse on 2-D densities.

    Numerics: nothing is clamped. With s = sum_j w_j sigmoid(z_j), z = a u + b, and because the
    weights sum to one, 1 - s = sum_j w_j sigmoid(-z_j), so

        v = logsumexp_j(log w_j + log_sigmoid(z_j)) - logsumexp_j(log w_j + log_sigmoid(-z_j))
        log dv/du = logsumexp_j(log w_j + log a_j + log_sigmoid(z_j) + log_sigmoid(-z_j)) - log s - log(1 - s)

    are computed in log space (no logit of a rounded-off s, no log of an underflowed sigmoid): v and
    log dv/du are finite and accurate for every finite u, float32 included; the tails are linear
    (v ~ min_j a_j u for u -> +inf, ditto for -inf), so v is a bijection of the real line.

    Inverse: bisection (`bisection_inverse`) from the exact bracket min_j (v - b_j) / a_j <= u <=
    max_j (v - b_j) / a_j (because min_j z_j <= v <= max_j z_j), to `tolerance` (absolute, in u;
    float32: at least an ulp of u), then one Newton step when it stays inside the final bracket.
    Gradients of `inverse` are the implicit-function ones (1 / f'(u) and -(df/dparams) / f'(u)).
    """

    def __init__(self, hidden_units=16, spread=1.0, tolerance=1e-6, max_iterations=None, name="deep_sigmoidal"):
        self.hidden_units = check_positive_int(hidden_units, "`hidden_units`")
        self.spread = check_number(spread, "`spread`", 0.0)
        super().__init__(tolerance, max_iterations, name)
        self.num_params = 3 * self.hidden_units
        self.a_min = 1e-3
        self._a_shift = float(np.log(np.expm1(1.0 - self.a_min)))
        self._offsets = np.linspace(-self.spread, self.spread, self.hidden_units) if self.hidden_units > 1 else [0.0]

    def _settings(self):
        return (self.hidden_units, self.spread, self.tolerance, self.max_iterations)

    def _constrained(self, params):
        a_raw, b_raw, w_raw = tf.split(params, 3, axis=-1)
        a = tf.nn.softplus(a_raw + self._a_shift) + self.a_min
        b = b_raw + tf.constant(self._offsets, params.dtype)
        return a, b, tf.nn.log_softmax(w_raw, axis=-1)

    def _forward(self, u, params):
        a, b, log_w = self._constrained(params)
        z = a * u[..., None] + b
        log_sig, log_sig_neg = tf.math.log_sigmoid(z), tf.math.log_sigmoid(-z)
        log_s = tf.reduce_logsumexp(log_w + log_sig, axis=-1)
        log_1ms = tf.reduce_logsumexp(log_w + log_sig_neg, axis=-1)
        log_ds = tf.reduce_logsumexp(log_w + tf.math.log(a) + log_sig + log_sig_neg, axis=-1)
        return log_s - log_1ms, log_ds - log_s - log_1ms

    def _bracket(self, v, params):
        a, b, _ = self._constrained(params)
        roots = (v[..., None] - b) / a
        lower, upper = tf.reduce_min(roots, axis=-1), tf.reduce_max(roots, axis=-1)
        pad = 1e-3 * (1.0 + tf.abs(lower) + tf.abs(upper))  # rounding margin; the expansion covers the rest
        return lower - pad, upper + pad


# ---------------------------------------------------------------------------- SOS
class SumOfSquaresTransformer(_MonotoneTransformer):
    """Sum-of-squares polynomial flow (SOS, Jaini et al. 2019): the integral of a sum of squared
    polynomials, on [-B, B] (B = `bound`) with linear tails beyond, its gain soft-bounded.

        g(t) = sum_k p_k(t / B)^2 + eps,   p_k(s) = sum_{l=0..L} a_kl s^l,   k = 1..K,
        v = c + G * integral_0^u g(t) dt                      for |u| <= B,
        v = v(+-B) + v'(+-B) (u -+ B)                          beyond (linear, same slope as at the end),

    K = `num_squares`, L = `degree`, eps = `min_slope` (so dv/du > 0 everywhere). On [-B, B] v is a
    polynomial of degree 2L + 1 in u. The gain G normalises the layer: with m = the mean of g over
    [-B, B], G = exp(h(log m) - log m), h(x) = x / (1 + |x| / beta), beta = `max_log_gain`, so the
    layer maps [-B, B] onto an interval of length 2B * exp(h(log m)), within a factor e^+-beta of
    2B (slope 1 at m = 1, like an unbounded SOS for small changes). Unbounded, a stack of SOS layers
    can send an outlier to |u|^(2L+1) and the next layer to that power again: float32 overflow and
    loss spikes that derail Adam. Bounded this way, every layer's output is finite for every
    finite input, the growth per layer is at most linear, and the polynomial only ever sees
    |u / B| <= 1 (well conditioned for the monomials). Standardised data, and the 2-D toy densities
    (|x| <= 4), sit inside the polynomial part.

    Raw params [..., 1 + K (L + 1)] are laid out as [c | a_10 .. a_1L | a_20 .. a_2L | ...]; the
    coefficients used are the raw ones plus fixed offsets `a_k0 += r_k`, with r_k > 0 distinct
    (decreasing from square 1 to K) and sum_k r_k^2 = 1 - eps, so zero params give g = 1, m = 1,
    G = 1 and v = u: the identity. The offsets differ so that squares do not start (and stay)
    alike under a zero-initialised MADE output (`zero_output=True`); a square that started at zero
    would get no gradient at all.

    The integral is exact: Gauss-Legendre quadrature with L + 1 nodes integrates the degree-2L
    integrand exactly, and, a sum of non-negative terms times u, it has no cancellation (unlike
    the expanded degree-2L+1 polynomial). log dv/du = log(G g(u)) (g(+-B) in the tails) is
    computed directly, not differentiated.

    Inverse: bisection (`bisection_inverse`) from the bracket between 0 and u0 = v - c (it holds
    the root where the slope is at least 1 on the way), expanded until it brackets, to
    `tolerance` (absolute, in u; float32: at least an ulp of u), then one Newton step when it stays
    inside the final bracket. Gradients of `inverse` are the implicit-function ones.
    """

    def __init__(
        self,
        degree=3,
        num_squares=2,
        bound=4.0,
        max_log_gain=1.0,
        min_slope=1e-3,
        tolerance=1e-6,
        max_iterations=None,
        name="sum_of_squares",
    ):
        self.degree = check_positive_int(degree, "`degree`")
        self.num_squares = check_positive_int(num_squares, "`num_squares`")
        self.bound = check_number(bound, "`bound`", 0.0, low_open=True)
        self.max_log_gain = check_number(max_log_gain, "`max_log_gain`", 0.0, low_open=True)
        self.min_slope = check_number(min_slope, "`min_slope`", 0.0, 1.0, low_open=True, high_open=True)
        super().__init__(tolerance, max_iterations, name)
        self.num_params = 1 + self.num_squares * (self.degree + 1)
        weights = np.arange(self.num_squares, 0, -1, dtype=np.float64)  # K, K-1, .., 1
        offsets = np.zeros([self.num_squares, self.degree + 1])
        offsets[:, 0] = np.sqrt((1.0 - self.min_slope) * weights / weights.sum())
        self._offsets = offsets
        nodes, node_weights = np.polynomial.legendre.leggauss(self.degree + 1)  # on [-1, 1]
        self._nodes, self._node_weights = nodes, node_weights / 2.0  # weights: a mean over [-1, 1]

    def _settings(self):
        return (
            self.degree,
            self.num_squares,
            self.bound,
            self.max_log_gain,
            self.min_slope,
            self.tolerance,
            self.max_iterations,
        )

    def _coefficients(self, params):
        c, a = params[..., 0], params[..., 1:]
        a = tf.reshape(a, tf.concat([tf.shape(a)[:-1], [self.num_squares, self.degree + 1]], 0))
        return c, a + tf.constant(self._offsets, params.dtype)  # a: [..., K, L + 1]

    def _integrand(self, s, a):
        """g at t = B s: sum_k p_k(s)^2 + eps for s [..., Q] and a [..., K, L + 1] -> [..., Q]."""
        s = s[..., None]  # [..., Q, 1] against [..., 1, K]
        a = a[..., None, :, :]
        p = a[..., self.degree]
        for power in range(self.degree - 1, -1, -1):  # Horner: [..., Q, K]
            p = p * s + a[..., power]
        return tf.reduce_sum(tf.square(p), axis=-1) + self.min_slope

    def _forward(self, u, params):
        c, a = self._coefficients(params)
        dtype = u.dtype
        nodes, weights = tf.constant(self._nodes, dtype), tf.constant(self._node_weights, dtype)
        s = tf.clip_by_value(u / self.bound, -1.0, 1.0)  # where the polynomial is evaluated
        # integral_0^u g = u * mean of g(u x) over x in [0, 1]; the nodes on [0, 1] are (nodes + 1) / 2.
        at_nodes = self._integrand(s[..., None] * (0.5 * nodes + 0.5), a)
        integral = self.bound * s * tf.reduce_sum(weights * at_nodes, axis=-1)
        mean = tf.reduce_sum(weights * self._integrand(tf.ones_like(s)[..., None] * nodes, a), axis=-1)
        log_mean = tf.math.log(mean)
        log_gain = log_mean / (1.0 + tf.abs(log_mean) / self.max_log_gain) - log_mean
        log_slope = log_gain + tf.math.log(self._integrand(s[..., None], a)[..., 0])
        tail = u - self.bound * s  # 0 inside [-B, B]
        return c + tf.exp(log_gain) * integral + tf.exp(log_slope) * tail, log_slope

    def _bracket(self, v, params):
        u0 = v - params[..., 0]  # the root lies between 0 and u0 where the slope is >= 1 on the way
        return tf.minimum(u0, 0.0), tf.maximum(u0, 0.0)
