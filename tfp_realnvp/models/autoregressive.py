"""Autoregressive flows: stacks of masked autoregressive layers (MAF, IAF, and the base for other transformers)."""

import inspect

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_bool, check_int, check_number, check_positive_int, check_sizes
from tfp_realnvp.bijectors import FlowChain, InvertibleLinear, MaskedAutoregressive, MovingAverageBatchNorm
from tfp_realnvp.bijectors.autoregressive import AffineTransformer
from tfp_realnvp.bijectors.one_pass import OnePassBijector, check_event_shape
from tfp_realnvp.models.flow import Flow, checked_common_args, pixel_front
from tfp_realnvp.networks import MADE
from tfp_realnvp.networks.condition import check_condition_dims

__all__ = ["IAF", "MAF", "AutoregressiveFlow"]

MIXINGS = ("reverse", "random", "linear", "none")

# The MADEs' weight seeds are 1000 * seed + an index, InvertibleLinear's (NumPy's RandomState) < 2**32.
_SEED_LIMIT = 2**22


class _FlatEvent(OnePassBijector):
    """`inner` (a vector flow on D = H * W * C) applied to image events [H, W, C]: the event is
    flattened in row-major order before it and unflattened after, both ways, so the latent keeps
    the image's shape. `training=` and `condition=` go on to `inner`."""

    _takes_training = True
    _takes_condition = True

    def __init__(self, inner, event_shape, validate_args=False, name="flat_event"):
        parameters = dict(locals())
        self.inner = inner
        self._event_shape = tf.TensorShape(event_shape)
        self._dims = int(np.prod(event_shape))
        super().__init__(
            forward_min_event_ndims=len(event_shape),
            validate_args=validate_args,
            parameters=parameters,
            dtype=inner.dtype,
            name=name,
        )

    def _kwargs(self, training, condition):
        kwargs = {"training": training}
        if condition is not None:
            kwargs["condition"] = condition
        return kwargs

    def _apply(self, t, direction, training, condition):
        check_event_shape(t, self._event_shape, self.name)
        ndims = self._event_shape.rank
        batch = tf.shape(t)[: tf.rank(t) - ndims]
        flat = tf.reshape(t, tf.concat([batch, [self._dims]], 0))
        flat.set_shape(t.shape[:-ndims].concatenate([self._dims]))
        kw = self._kwargs(training, condition)
        if direction == "forward":
            out = self.inner.forward(flat, **kw)
            log_det = self.inner.forward_log_det_jacobian(flat, event_ndims=1, **kw)
        else:
            out = self.inner.inverse(flat, **kw)
            log_det = self.inner.inverse_log_det_jacobian(flat, event_ndims=1, **kw)
        out = tf.reshape(out, tf.shape(t))
        out.set_shape(t.shape)
        return out, log_det

    def _forward_and_log_det(self, x, training=False, condition=None):
        return self._apply(x, "forward", training, condition)

    def _inverse_and_log_det(self, y, training=False, condition=None):
        return self._apply(y, "inverse", training, condition)


class AutoregressiveFlow(Flow):
    """A `Flow` of N(0, I) through `num_layers` masked autoregressive layers (`MaskedAutoregressive`,
    each with its own `MADE`), the base of MAF, IAF and any flow that only changes the transformer.

    Data -> latent, per layer: the autoregressive layer, then (`batch_norm=True`) a
    `MovingAverageBatchNorm`, then the mixing before the next layer:

      * `mixing="reverse"` (default, the MAF paper's): no extra layer; the MADEs' orders alternate
        natural / reversed, which is the same as reversing the dimensions between layers;
      * `"random"`: each MADE has its own random order (drawn from the seed);
      * `"linear"`: a learned `InvertibleLinear` between layers (natural orders);
      * `"none"`: every MADE in the natural order.

    Each MADE has the hidden layers `hidden_units` (ReLU) and `residual_blocks` masked residual
    blocks, and starts as `MADE` does. `zero_output=True` starts every MADE's output at 0, so the
    flow starts at its transformers' zero parameters (the identity for MAF, IAF and SOS);
    `False` starts the outputs random and small (a new flow is near the identity); `None` takes
    the model's `ZERO_OUTPUT` (MAF, IAF: False; SOS, NAF: True: the starts compared on the 2-D
    densities in bench/README.md). `condition_dims=K` > 0 builds a conditional
    flow p(x | c): every MADE takes the condition c [..., K] (e.g. a one-hot label; `Flow`).
    Images `[H, W, C]` take `pixel_levels` (default 256): `PixelLogit(K, alpha)` comes first
    (`log_prob` takes dequantized pixels in [0, K)), then the layers work on the H * W * C pixels as
    one vector (row-major) and the latent keeps the image's shape. `compute_dtype` runs the MADEs
    in that dtype (mixed precision); variables, transforms and `log_prob` stay in `dtype`.

    Subclasses choose the transformer and say which direction is the fast one:

      * `_make_transformer(self, **options)` returns a new `Transformer` (one per layer); `options`
        are the subclass's own constructor options, named with their defaults in the class
        attribute `TRANSFORMER_OPTIONS` (a dict). They become keyword-only constructor arguments of
        the subclass automatically (its signature, `parameters`, `copy()` and `ExperimentConfig`
        see them), so a subclass needs no `__init__` of its own:

        ```python
        class NAF(AutoregressiveFlow):
            TRANSFORMER_OPTIONS = {"sigmoid_units": 16}

            def _make_transformer(self, sigmoid_units):
                return DeepSigmoidalTransformer(sigmoid_units)
        ```

      * `ZERO_OUTPUT` is the default of `zero_output` (False here).
      * `INVERSE_AUTOREGRESSIVE = True` makes every layer an IAF layer (one pass latent -> data,
        D passes data -> latent).
      * The flow's default `name` is the class name.

    References:
      Papamakarios, Pavlakou & Murray, Masked autoregressive flow for density estimation, arXiv:1705.07057.
      Kingma et al., Improved variational inference with inverse autoregressive flow, arXiv:1606.04934.
    """

    IMAGE_OPTIONS = frozenset(("alpha",))
    TRANSFORMER_OPTIONS = {}
    INVERSE_AUTOREGRESSIVE = False
    ZERO_OUTPUT = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # a subclass with a constructor of its own spells out its arguments
            return
        base = inspect.signature(AutoregressiveFlow.__init__).parameters.values()
        params = [p for p in base if p.kind is not inspect.Parameter.VAR_KEYWORD]
        clash = sorted(set(cls.TRANSFORMER_OPTIONS) & {p.name for p in params})
        if clash:
            raise TypeError(f"{cls.__name__}.TRANSFORMER_OPTIONS {clash} clash with AutoregressiveFlow's own arguments")
        params = [p.replace(default=cls.__name__) if p.name == "name" else p for p in params]
        params += [
            inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY, default=default)
            for option, default in cls.TRANSFORMER_OPTIONS.items()
        ]

        def __init__(self, *args, **kwargs):
            AutoregressiveFlow.__init__(self, *args, **kwargs)

        # The constructor's real signature: what `inspect.signature(cls)` (ExperimentConfig's
        # options), TFP's `copy()` and its composite-tensor spec read; they refuse `**kwargs`.
        __init__.__signature__ = inspect.Signature(params)
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = AutoregressiveFlow.__init__.__doc__
        cls.__init__ = __init__

    def __init__(
        self,
        event_shape,
        num_layers=5,
        hidden_units=(128, 128),
        residual_blocks=0,
        mixing="reverse",
        batch_norm=False,
        batch_norm_momentum=0.9,
        pixel_levels=None,
        alpha=0.05,
        dtype=tf.float32,
        compute_dtype=None,
        seed=0,
        validate_args=False,
        condition_dims=0,
        zero_output=None,
        name=None,
        **options,
    ):
        name = type(self).__name__ if name is None else name
        parameters = {k: v for k, v in locals().items() if k not in ("self", "options", "__class__")}
        unknown = sorted(set(options) - set(self.TRANSFORMER_OPTIONS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments {unknown}; its transformer takes "
                f"{sorted(self.TRANSFORMER_OPTIONS) or 'none'}"
            )
        options = {**self.TRANSFORMER_OPTIONS, **options}
        parameters.update(options)
        event_shape, pixel_levels, dtype, compute_dtype, seed, validate_args = checked_common_args(
            event_shape, pixel_levels, dtype, compute_dtype, seed, _SEED_LIMIT, validate_args, name
        )
        num_layers = check_positive_int(num_layers, "`num_layers`")
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        residual_blocks = check_int(residual_blocks, "`residual_blocks`", minimum=0)
        if not isinstance(mixing, str) or mixing not in MIXINGS:
            raise ValueError(f"`mixing` must be one of {', '.join(map(repr, MIXINGS))}, got {mixing!r}")
        batch_norm = check_bool(batch_norm, "`batch_norm`")
        batch_norm_momentum = check_number(batch_norm_momentum, "`batch_norm_momentum`", 0.0, 1.0, high_open=True)
        condition_dims = check_condition_dims(condition_dims)
        zero_output = self.ZERO_OUTPUT if zero_output is None else check_bool(zero_output, "`zero_output`")
        dims = int(np.prod(event_shape))
        if dims < 2:
            raise ValueError(f"`event_shape` {list(event_shape)}: an autoregressive flow needs at least 2 dimensions")
        layers = []
        for i in range(num_layers):
            transformer = self._make_transformer(**options)
            if mixing == "reverse":
                order = "natural" if i % 2 == 0 else "reversed"
            else:
                order = "random" if mixing == "random" else "natural"
            made = MADE(
                dims,
                hidden_units,
                params_per_dim=transformer.num_params,
                order=order,
                residual_blocks=residual_blocks,
                condition_dims=condition_dims,
                zero_output=zero_output,
                dtype=dtype,
                seed=1000 * seed + 10 * (i + 1),
                name=f"made{i + 1}",
            )
            layers.append(
                MaskedAutoregressive(
                    made,
                    transformer,
                    inverse_autoregressive=self.INVERSE_AUTOREGRESSIVE,
                    dtype=dtype,
                    compute_dtype=compute_dtype,
                    name=f"autoregressive{i + 1}",
                )
            )
            if batch_norm:
                layers.append(
                    MovingAverageBatchNorm([dims], momentum=batch_norm_momentum, dtype=dtype, name=f"batch_norm{i + 1}")
                )
            if mixing == "linear" and i < num_layers - 1:
                layers.append(InvertibleLinear([dims], seed=1000 * seed + i, dtype=dtype, name=f"mix{i + 1}"))
        if len(event_shape) == 3:
            layers = [_FlatEvent(FlowChain(layers, event_ndims=1, name="layers"), event_shape, name="flattened")]
        front, front_widest = pixel_front(event_shape, pixel_levels, alpha, "uniform", None, dtype, 0, validate_args)
        super().__init__(
            front + layers,
            event_shape,
            parameters=parameters,
            pixel_levels=pixel_levels,
            widest=max(max(hidden_units), front_widest),
            dtype=dtype,
            validate_args=validate_args,
            condition_dims=condition_dims,
            name=name,
        )

    def _make_transformer(self, **options):
        """A new `Transformer` for one layer, from the subclass's `TRANSFORMER_OPTIONS`."""
        raise NotImplementedError(f"{type(self).__name__} must implement _make_transformer")


class MAF(AutoregressiveFlow):
    """Masked autoregressive flow (Papamakarios et al. 2017): `AutoregressiveFlow` with affine
    layers, z_i = x_i * exp(s_i(x_<i)) + t_i(x_<i) (data -> latent; `AffineTransformer`, its log-scale
    soft-bounded to (-3, 3) per layer).

    `log_prob` and training cost one MADE pass per layer; `sample` / `decode` D passes per layer
    (one compiled loop each). Defaults: 5 layers of MADE (128, 128), orders reversed between
    layers, no batch norm (the MAF paper's 5-layer density estimators, trained here without batch
    norm like Real NVP's vector flows), MADE outputs random at the start (`ZERO_OUTPUT = False`: a
    new flow is near, not at, the identity).

    Examples:

    ```python
    flow = tfp_realnvp.MAF(event_shape=(2,))
    loss = -tf.reduce_mean(flow.log_prob(points))
    labels_flow = tfp_realnvp.MAF(event_shape=(2,), condition_dims=3)
    labels_flow.sample(10, condition=tf.one_hot(1, 3))
    ```

    References:
      Papamakarios, Pavlakou & Murray, Masked autoregressive flow for density estimation, arXiv:1705.07057.
    """

    def _make_transformer(self):
        return AffineTransformer()


class IAF(MAF):
    """Inverse autoregressive flow (Kingma et al. 2016): `MAF`'s layers turned around, each one pass
    latent -> data, x_i = z_i * exp(s_i(z_<i)) + t_i(z_<i), so sampling is fast (one MADE pass per
    layer) and `log_prob` slow (D passes per layer, differentiated through the loop): the flow for
    sampling and variational posteriors rather than density estimation.

    References:
      Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, Improved variational inference with
      inverse autoregressive flow, arXiv:1606.04934.
    """

    INVERSE_AUTOREGRESSIVE = True
