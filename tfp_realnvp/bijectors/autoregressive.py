"""Masked autoregressive bijectors (MAF and IAF) and the elementwise transformers they apply."""

import tensorflow as tf

from tfp_realnvp._validation import check_bool, check_dtype, check_number
from tfp_realnvp.bijectors.one_pass import OnePassBijector, check_event_shape, flatten_batch, unflatten_batch

__all__ = ["AffineTransformer", "MaskedAutoregressive", "Transformer"]


class Transformer(tf.Module):
    """The elementwise, strictly increasing map v = tau(u; params) of an autoregressive layer.

    A subclass sets `num_params` (raw parameters per dimension, what the MADE outputs) and
    implements, for u, v of shape [N, D] and params [N, D, num_params] (the MADE's raw,
    unconstrained outputs):

      * `forward(u, params) -> (v, log_dv_du)`: v and the elementwise log-derivative, both [N, D];
      * `inverse(v, params) -> u`, [N, D]: the exact inverse (analytic or numerical).

    All-zero params (a MADE built with `zero_output=True`) should give the identity or a map near it. The
    transformer owns no variables of its own in this package's transformers (everything learned
    comes through `params`), but a subclass may, as a `tf.Module`.
    """

    num_params = None

    def forward(self, u, params):
        raise NotImplementedError

    def inverse(self, v, params):
        raise NotImplementedError


class AffineTransformer(Transformer):
    """v = u * exp(s) + t: shift t = params[..., 0] and log-scale s from params[..., 1].

    The raw log-scale a = params[..., 1] is soft-bounded, s = a / (1 + |a| / bound) (`bound`, 3 by
    default: each layer scales a unit by at most e^±3), an odd, increasing map with slope 1 at 0
    whose slope decays like (bound / |a|)^2 rather than exponentially (tanh): a log-scale that one
    large Adam step pushed far out still gets a gradient back, and the product of scales along a
    stack of layers cannot overflow. All-zero params give the identity.

    log dv/du = s, so a MAF layer's log-det costs nothing beyond the MADE pass.
    """

    num_params = 2

    def __init__(self, bound=3.0, name="affine_transformer"):
        super().__init__(name=name)
        self.bound = check_number(bound, "`bound`", 0.0, low_open=True)

    def _shift_and_log_scale(self, params):
        shift, raw = params[..., 0], params[..., 1]
        return shift, raw / (1.0 + tf.abs(raw) / tf.cast(self.bound, raw.dtype))

    def forward(self, u, params):
        shift, log_scale = self._shift_and_log_scale(params)
        return u * tf.exp(log_scale) + shift, log_scale

    def inverse(self, v, params):
        shift, log_scale = self._shift_and_log_scale(params)
        return (v - shift) * tf.exp(-log_scale)


class MaskedAutoregressive(OnePassBijector):
    """A masked autoregressive layer on vector events [D]: MAF (Papamakarios et al. 2017) or IAF
    (Kingma et al. 2016), with any `Transformer` (affine by default).

    With tau the transformer and params = made(input, condition) (the MADE's output for dimension
    i depends only on the dimensions before i in its order):

      * MAF (default, `inverse_autoregressive=False`). Data -> latent (TFP's `inverse`, what
        `log_prob` and training use) is ONE MADE pass: z = tau(x; made(x)), and
        log|det dz/dx| = sum_i log tau'(x_i). Latent -> data (`forward`, sampling) solves
        z = tau(x; made(x)) for x with D MADE passes: pass k computes the params from the current x
        and inverts tau, so after it the first k dimensions in the MADE's order are exact, and after
        D passes all are (exactly, not approximately: no iteration error beyond rounding; the
        dimensions not yet solved are held at 0). The passes run in one `tf.while_loop` (in a
        graph it is one loop op whose body is traced once, whatever D; eagerly TF runs it as a
        Python loop of D passes). The last pass's params are exact too, so they give the log-det
        without an extra pass.
      * IAF (`inverse_autoregressive=True`): the roles swapped. Latent -> data is one pass,
        x = tau(z; made(z)); data -> latent takes the D-pass loop (so `log_prob` and its gradient
        cost D passes, backpropagated through the loop).

    Batch dimensions of any rank are flattened before the MADE is called. With `compute_dtype`
    (e.g. `tf.float16` on GPUs: mixed precision) the MADE runs in that dtype while tau, the inputs
    and the log-det stay in `dtype`. The D-pass loop has a static trip count (D), so it compiles
    under XLA (`jit_compile=True`) and is differentiable there too.

    Conditioning: a MADE built with `condition_dims` > 0 needs `condition=` [*batch, condition_dims]
    (the batch shape of the input) in every call, e.g. `forward(z, condition=c)`; an unconditional
    one refuses it.

    Examples:

    ```python
    made = MADE(features=2, hidden_units=(64, 64), params_per_dim=2)
    layer = MaskedAutoregressive(made)                      # MAF, affine
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [2]), layer)
    loss = -tf.reduce_mean(flow.log_prob(points))           # one MADE pass
    samples = flow.sample(100)                               # D = 2 passes
    ```

    References:
      Papamakarios, Pavlakou & Murray, Masked autoregressive flow for density estimation, arXiv:1705.07057.
      Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, Improved variational inference with
      inverse autoregressive flow, arXiv:1606.04934.
      Germain, Gregor, Murray & Larochelle, MADE, arXiv:1502.03509.
    """

    _takes_condition = True

    def __init__(
        self,
        made,
        transformer=None,
        inverse_autoregressive=False,
        dtype=tf.float32,
        compute_dtype=None,
        validate_args=False,
        name="masked_autoregressive",
    ):
        from tfp_realnvp.networks.made import MADE

        parameters = dict(locals())
        if not isinstance(made, MADE):
            raise TypeError(f"`made` must be a tfp_realnvp.networks.MADE, got {type(made).__name__}")
        transformer = AffineTransformer() if transformer is None else transformer
        if not (
            isinstance(transformer, tf.Module)
            and isinstance(getattr(transformer, "num_params", None), int)
            and callable(getattr(transformer, "forward", None))
            and callable(getattr(transformer, "inverse", None))
        ):
            raise TypeError(
                "`transformer` must be a Transformer (a tf.Module with `num_params`, `forward(u, params)` and "
                f"`inverse(v, params)`) or None (affine), got {type(transformer).__name__}"
            )
        if made.params_per_dim != transformer.num_params:
            raise ValueError(
                f"the `made` outputs params_per_dim={made.params_per_dim} per dimension but the `transformer` "
                f"{type(transformer).__name__} takes num_params={transformer.num_params}"
            )
        inverse_autoregressive = check_bool(inverse_autoregressive, "`inverse_autoregressive`")
        dtype = check_dtype(dtype, "`dtype`")
        compute_dtype = check_dtype(compute_dtype, "`compute_dtype`", allow_none=True)
        with tf.name_scope(name) as scope_name:
            self.made = made
            self.transformer = transformer
            self.inverse_autoregressive = inverse_autoregressive
            self.compute_dtype = tf.as_dtype(compute_dtype or dtype)
            self._event_shape = tf.TensorShape([made.features])
            super().__init__(
                forward_min_event_ndims=1,
                validate_args=validate_args,
                parameters=parameters,
                dtype=dtype,
                name=scope_name,
            )

    @property
    def features(self):
        return self.made.features

    @property
    def condition_dims(self):
        return self.made.condition_dims

    # ------------------------------------------------------------------ pieces
    def _flat(self, t, condition):
        """[*batch, D] -> [N, D] (and the condition [*batch, C] -> [N, C])."""
        check_event_shape(t, self._event_shape, self.name)
        flat, batch = flatten_batch(t, 1)
        if condition is None:
            if self.condition_dims:
                raise ValueError(
                    f"{self.name}: `condition` [..., {self.condition_dims}] is required: the MADE was built with "
                    f"condition_dims={self.condition_dims}"
                )
            return flat, None, batch
        if not self.condition_dims:
            raise ValueError(f"{self.name}: got a `condition`, but the MADE was built unconditional (condition_dims=0)")
        condition = tf.convert_to_tensor(condition)
        if not condition.dtype.is_floating:
            raise TypeError(f"{self.name}: `condition` must be a float tensor, got dtype {condition.dtype.name}")
        if (
            condition.shape.rank is not None
            and t.shape.rank is not None
            and not condition.shape.is_compatible_with(t.shape[:-1].concatenate([self.condition_dims]))
        ):
            raise ValueError(
                f"{self.name}: `condition` must have shape [*batch, {self.condition_dims}] with the input's batch "
                f"shape {t.shape[:-1]}, got {condition.shape}"
            )
        return flat, tf.reshape(tf.cast(condition, self.dtype), [-1, self.condition_dims]), batch

    def _params(self, u, condition):
        """The MADE's output for input u [N, D]: [N, D, num_params] in `dtype`."""
        c = None if condition is None else tf.cast(condition, self.compute_dtype)
        return tf.cast(self.made(tf.cast(u, self.compute_dtype), condition=c), self.dtype)

    def _one_pass(self, u, condition):
        """v = tau(u; made(u)) and sum_i log tau'(u_i): [N, D], [N]."""
        v, log_dv_du = self.transformer.forward(u, self._params(u, condition))
        return v, tf.reduce_sum(log_dv_du, axis=-1)

    def _d_passes(self, v, condition):
        """Solve v = tau(u; made(u)) for u: D passes in one while loop. Pass k computes the params
        from the dimensions solved so far and inverts the transformer for the one dimension at
        position k of the order (its params depend on positions < k only, so it is exact; an
        iterative inverse such as bisection runs on one column, not D). The dimensions not yet
        solved are held at 0: a non-finite value there would otherwise reach every output of the
        next pass (0 * inf in the masked product). Returns u [N, D] and sum_i log tau'(u_i) [N],
        from the last pass's params (exact for every dimension)."""
        features, num_params = self.features, self.transformer.num_params
        by_position = tf.constant(sorted(range(features), key=lambda i: self.made.degrees[i]), tf.int32)
        columns = tf.range(features)

        def body(k, u, params):
            params = self._params(u, condition)
            dim = by_position[k]
            solved = self.transformer.inverse(tf.gather(v, [dim], axis=1), tf.gather(params, [dim], axis=1))
            u = tf.where(tf.equal(columns, dim)[None, :], solved, u)  # [N, 1] broadcast into column `dim`
            u.set_shape(v.shape)
            return k + 1, u, params

        params0 = tf.zeros(tf.concat([tf.shape(v), [num_params]], 0), self.dtype)
        params0.set_shape(v.shape.concatenate([num_params]))
        _, u, params = tf.while_loop(
            lambda k, u, params: k < features,
            body,
            (tf.constant(0), tf.zeros_like(v), params0),
            maximum_iterations=features,
        )
        _, log_dv_du = self.transformer.forward(u, params)
        return u, tf.reduce_sum(log_dv_du, axis=-1)

    # ------------------------------------------------------------------ OnePassBijector
    def _forward_and_log_det(self, x, condition=None):
        flat, c, batch = self._flat(x, condition)
        if self.inverse_autoregressive:  # latent -> data in one pass
            y, fldj = self._one_pass(flat, c)
        else:  # MAF: x_data = tau^-1(z; made(x_data)), D passes
            y, log_det = self._d_passes(flat, c)
            fldj = -log_det
        return unflatten_batch(y, batch, 1), _unflatten_log_det(fldj, batch)

    def _inverse_and_log_det(self, y, condition=None):
        flat, c, batch = self._flat(y, condition)
        if self.inverse_autoregressive:  # data -> latent: D passes
            x, log_det = self._d_passes(flat, c)
            ildj = -log_det
        else:  # MAF: one pass
            x, ildj = self._one_pass(flat, c)
        return unflatten_batch(x, batch, 1), _unflatten_log_det(ildj, batch)


def _unflatten_log_det(log_det, batch):
    """A per-example log-det [N] back to the batch shape (`flatten_batch`'s second output)."""
    batch_shape, batch_static = batch
    out = tf.reshape(log_det, batch_shape)
    out.set_shape(batch_static)
    return out
