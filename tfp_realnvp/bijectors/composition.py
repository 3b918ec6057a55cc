"""Composites that keep one-pass log-dets and forward the `training` flag: FlowChain, FactorOut."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_realnvp._validation import check_int, check_positive_int
from tfp_realnvp.bijectors.one_pass import OnePassBijector, TrainingCall

tfb = tfp.bijectors

__all__ = ["FactorOut", "FlowChain", "inverse_parts"]


def _kwargs_for(bijector, training, condition, index=0):
    """`training` for a member that takes it (a seeded `TrainingCall` gets member `index`'s own
    stream), and `condition` for one that takes it."""
    kwargs = {}
    if getattr(bijector, "_takes_training", False):
        kwargs["training"] = training.fold_in(index) if isinstance(training, TrainingCall) else training
    if condition is not None and getattr(bijector, "_takes_condition", False):
        kwargs["condition"] = condition
    return kwargs


class FlowChain(OnePassBijector):
    """Composition with `tfb.Chain`'s order: `FlowChain([b2, b1]).forward(x) == b2(b1(x))`.

        log|det J_forward(x)| = sum_k log|det J_bk(x_k)|   (x_k the input of b_k)

    Unlike `tfb.Chain`, one `inverse` call computes the log-det on the way (each member's
    output and log-det come from one evaluation), and a `training=` keyword reaches every
    member that takes it (`MovingAverageBatchNorm`, nested `FlowChain` / `FactorOut`), so a
    whole flow is trained with `dist.log_prob(x, training=True)`; likewise a `condition=`
    ([*batch, condition_dims], the input's batch shape) reaches every member that takes one
    (couplings, autoregressive layers, nested composites). Members may be any TFP bijectors
    whose log-dets reduce over `event_ndims`.
    """

    _takes_training = True
    _takes_condition = True

    def __init__(self, bijectors, event_ndims, validate_args=False, name="flow_chain"):
        parameters = dict(locals())
        if not isinstance(bijectors, (list, tuple)):
            raise TypeError(f"`bijectors` must be a non-empty list of TFP bijectors, got {bijectors!r}")
        if not bijectors:
            raise ValueError("`bijectors` must be a non-empty list")
        for i, b in enumerate(bijectors):
            if not isinstance(b, tfb.Bijector):
                raise TypeError(f"`bijectors` must hold TFP bijectors, got {type(b).__name__} {b!r} at index {i}")
        self.bijectors = list(bijectors)
        self._event_ndims = check_int(event_ndims, "`event_ndims`", minimum=0)
        super().__init__(
            forward_min_event_ndims=self._event_ndims,
            validate_args=validate_args,
            parameters=parameters,
            dtype=self.bijectors[0].dtype,
            name=name,
        )

    def _forward_event_shape(self, shape):
        for b in reversed(self.bijectors):
            shape = b.forward_event_shape(shape)
        return shape

    def _inverse_event_shape(self, shape):
        for b in self.bijectors:
            shape = b.inverse_event_shape(shape)
        return shape

    def _forward_event_shape_tensor(self, shape):
        for b in reversed(self.bijectors):
            shape = b.forward_event_shape_tensor(shape)
        return shape

    def _inverse_event_shape_tensor(self, shape):
        for b in self.bijectors:
            shape = b.inverse_event_shape_tensor(shape)
        return shape

    def _forward_and_log_det(self, x, training=False, condition=None):
        fldj = 0.0
        for i, b in reversed(list(enumerate(self.bijectors))):
            kw = _kwargs_for(b, training, condition, i)
            y = b.forward(x, **kw)  # first, so the member's cache holds its log-det
            fldj += b.forward_log_det_jacobian(x, event_ndims=self._event_ndims, **kw)
            x = y
        return x, fldj

    def _inverse_and_log_det(self, y, training=False, condition=None):
        ildj = 0.0
        for i, b in enumerate(self.bijectors):
            kw = _kwargs_for(b, training, condition, i)
            x = b.inverse(y, **kw)
            ildj += b.inverse_log_det_jacobian(y, event_ndims=self._event_ndims, **kw)
            y = x
        return y, ildj


class FactorOut(OnePassBijector):
    """Real NVP's factor-out: the first `num_factored` channels go straight to the prior.

    On an [H, W, C] (or [D]) event, with z = (z1, z2) split on the last axis:

        forward:  y = (z1, inner.forward(z2));  inverse: x = (y1, inner.inverse(y2))
        log|det J| = log|det J_inner|

    In the multi-scale architecture, `inner` is everything at the coarser scales, so half of
    the variables of each scale leave the flow there (arXiv:1605.08803, section 3.6).
    `training=` and `condition=` go on to `inner`.
    """

    _takes_training = True
    _takes_condition = True

    def __init__(self, inner, num_factored, validate_args=False, name="factor_out"):
        parameters = dict(locals())
        if not isinstance(inner, tfb.Bijector):
            raise TypeError(f"`inner` must be a TFP bijector (the coarser scales), got {inner!r}")
        self.inner = inner
        self.num_factored = check_positive_int(num_factored, "`num_factored`")
        super().__init__(
            forward_min_event_ndims=inner.forward_min_event_ndims,
            validate_args=validate_args,
            parameters=parameters,
            dtype=inner.dtype,
            name=name,
        )

    def _split(self, t):
        channels = t.shape[-1] if t.shape.rank else None
        if channels is not None and channels <= self.num_factored:
            raise ValueError(
                f"{self.name}: `num_factored`={self.num_factored} leaves nothing for the inner flow: the input "
                f"of shape {t.shape} has {channels} channels (it needs more than {self.num_factored})"
            )
        return t[..., : self.num_factored], t[..., self.num_factored :]

    def _forward_and_log_det(self, x, training=False, condition=None):
        kept, rest = self._split(x)
        kw = _kwargs_for(self.inner, training, condition)
        y = self.inner.forward(rest, **kw)
        fldj = self.inner.forward_log_det_jacobian(rest, event_ndims=self.forward_min_event_ndims, **kw)
        return tf.concat([kept, y], axis=-1), fldj

    def _inverse_and_log_det(self, y, training=False, condition=None):
        kept, rest = self._split(y)
        kw = _kwargs_for(self.inner, training, condition)
        x = self.inner.inverse(rest, **kw)
        ildj = self.inner.inverse_log_det_jacobian(rest, event_ndims=self.forward_min_event_ndims, **kw)
        return tf.concat([kept, x], axis=-1), ildj


def inverse_parts(bijector, y, event_ndims, condition=None):
    """`bijector.inverse(y)` (inference mode) with its log-det split by layer: returns the output
    and a list of (layer name, inverse log-det with the batch shape), data side first. `FlowChain`
    and `FactorOut` are opened up (a factored-out part contributes nothing); any other bijector is
    one layer. The terms sum to `bijector.inverse_log_det_jacobian(y, event_ndims)`. `condition`
    reaches the layers that take one, as in `FlowChain`."""
    if isinstance(bijector, FlowChain):
        parts = []
        for member in bijector.bijectors:
            y, member_parts = inverse_parts(member, y, event_ndims, condition)
            parts += member_parts
        return y, parts
    if isinstance(bijector, FactorOut):
        kept, rest = bijector._split(y)
        rest, parts = inverse_parts(bijector.inner, rest, event_ndims, condition)
        return tf.concat([kept, rest], axis=-1), parts
    kw = _kwargs_for(bijector, False, condition)
    x = bijector.inverse(y, **kw)
    return x, [(bijector.name.rstrip("/"), bijector.inverse_log_det_jacobian(y, event_ndims=event_ndims, **kw))]
