"""The base every model shares: a `tfd.TransformedDistribution` of a fixed prior through a `FlowChain`."""

import inspect

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_realnvp._validation import (
    check_bool,
    check_dtype,
    check_event_shape_arg,
    check_int,
    check_number,
    check_positive_int,
    check_seed,
    check_stateless_seed,
    is_int,
)
from tfp_realnvp.bijectors import FlowChain, PixelLogit, Squeeze, TrainingCall, VariationalDequantization
from tfp_realnvp.bijectors.composition import inverse_parts
from tfp_realnvp.bijectors.pixel_logit import below, pixel_assertions
from tfp_realnvp.networks.condition import check_condition_dims

__all__ = ["Flow"]

tfd = tfp.distributions

# `draw_samples` runs the flow on chunks of samples whose widest conditioner activation holds about
# this many floats (4 MiB): chunks that stay in cache beat one pass on CPU (bench/README.md).
_SAMPLE_CHUNK_FLOATS = 2**20

# At most this many values per `sample` / `draw_samples` call: TF computes a sample's shape in int32.
_MAX_SAMPLE_VALUES = 2**31 - 1

PRIORS = ("normal", "logistic")


def _split_kwargs(kwargs):
    """`training=` (with its dropout `seed=`), `condition=` (checked and broadcast by the flow) and
    TFP's own `bijector_kwargs=` go to the bijector."""
    kwargs = dict(kwargs)
    distribution_kwargs = dict(kwargs.pop("distribution_kwargs", {}))
    bijector_kwargs = dict(kwargs.pop("bijector_kwargs", {}))
    seed = kwargs.pop("seed", None)
    condition = kwargs.pop("condition", None)
    if condition is not None:
        bijector_kwargs["condition"] = condition
    if "training" in kwargs:
        bijector_kwargs["training"] = kwargs.pop("training")
    training = checked_training(bijector_kwargs.get("training", False))
    if seed is not None and not training:
        raise ValueError("`seed=` seeds the dropout of a training call: pass it with `training=True`")
    if isinstance(training, TrainingCall):
        if seed is not None:
            raise ValueError("pass `seed=` or a `TrainingCall` that carries one, not both")
    elif training:  # also TFP's bijector_kwargs={"training": True}
        bijector_kwargs["training"] = TrainingCall(seed)
    if kwargs:
        raise TypeError(
            f"unexpected keyword arguments {sorted(kwargs)}; a flow takes `training=`, `seed=` and `condition=`"
        )
    return distribution_kwargs, bijector_kwargs


def checked_training(training):
    """`training`: a bool, or the `TrainingCall` of one training-mode call."""
    if isinstance(training, TrainingCall):
        return training
    return check_bool(training, "`training`")


def checked_common_args(event_shape, pixel_levels, dtype, compute_dtype, seed, seed_limit, validate_args, name):
    """The arguments every model takes, checked: returns (event_shape, pixel_levels, dtype,
    compute_dtype, seed, validate_args). Images `[H, W, C]` default to 256 pixel levels; vectors
    `[D]` need D >= 2 (a coupling splits the features)."""
    event_shape = check_event_shape_arg(event_shape)
    if pixel_levels is not None:
        pixel_levels = check_int(pixel_levels, "`pixel_levels`", minimum=2)
    elif len(event_shape) == 3:
        pixel_levels = 256
    dtype = check_dtype(dtype, "`dtype`")
    compute_dtype = check_dtype(compute_dtype, "`compute_dtype`", allow_none=True)
    seed = check_seed(seed, "`seed`", upper=seed_limit)
    validate_args = check_bool(validate_args, "`validate_args`")
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str, got {name!r}")
    if len(event_shape) == 1 and event_shape[0] < 2:
        raise ValueError(f"`event_shape` {list(event_shape)}: a vector flow's couplings need at least 2 features")
    return event_shape, pixel_levels, dtype, compute_dtype, seed, validate_args


def pixel_front(
    event_shape, pixel_levels, alpha, dequantization, hidden_channels, dtype, seed, validate_args, condition_dims=0
):
    """The data-side layers of an image flow: optional `VariationalDequantization`, then `PixelLogit`.

    `dequantization`: "uniform" (the data pipeline's noise is scored as it is) or "variational"
    (Flow++'s learned noise, `hidden_channels` wide, seeded with `seed`, given the condition when
    `condition_dims` > 0). No layers without pixels.
    Returns (layers, widest): `widest` is the largest activation of one sample they compute
    (positions x `hidden_channels` for the learned noise, else 1), for `Flow(widest=)`."""
    if dequantization not in ("uniform", "variational"):
        raise ValueError(f"`dequantization` must be 'uniform' or 'variational', got {dequantization!r}")
    if not pixel_levels:
        if dequantization == "variational":
            raise ValueError("`dequantization='variational'` applies to image flows (pixels); vectors are continuous")
        return [], 1
    alpha = check_number(alpha, "`alpha`", 0.0, 0.5, low_open=True, high_open=True)
    layers, widest = [], 1
    if dequantization == "variational":
        widest = int(np.prod(event_shape[:-1])) * hidden_channels
        layers.append(
            VariationalDequantization(
                event_shape,
                pixel_levels,
                hidden_channels,
                dtype=dtype,
                seed=seed,
                validate_args=validate_args,
                condition_dims=condition_dims,
            )
        )
    layers.append(PixelLogit(pixel_levels, alpha, validate_args=validate_args))
    return layers, widest


class Flow(tfd.TransformedDistribution):
    """A normalizing flow: a fixed prior (N(0, I), or a standard logistic) through a `FlowChain`.

    Every model of the package (`tfp_realnvp.models.MODELS`) is a subclass that only builds its
    chain of bijectors; this class gives them one API. TFP's direction: `bijector.forward` maps
    latent -> data (sampling), `bijector.inverse` data -> latent (`log_prob`, training).

    - `log_prob(x, training=False, seed=None)`: `training=True` uses and updates the training-mode
      state of the layers (batch-norm statistics, ActNorm's data-dependent initialisation, dropout);
      `seed=(a, b)` draws the dropout masks from that stateless seed (the `Trainer` folds in the
      step, so runs repeat exactly).
    - `log_prob_parts(x)`: per example, the prior's term and every bijector's log-det term, data
      side first, summing to `log_prob(x)`.
    - `bits_per_dim(x)`, `discrete_bits_per_dim(images)` (image flows: `pixel_levels` set).
    - `encode(x)` / `decode(z)`: data <-> latent (the data's shape); `split_latents(z)`: the
      per-scale parts; `latent_statistics(x)`: mean, std and the share outside 3 sigma per scale.
    - `sample(n, temperature=T)` draws z from the prior scaled by T (T = 0: the prior's mode);
      `draw_samples(n, temperature, seed)` does it through one compiled function in cache-sized
      chunks, for any count; `compiled_log_prob(x)` likewise for densities.
    - `regularization_variables`: what an L2 penalty applies to (weight-norm scales);
      `num_dims`, `pixel_levels` and `sample_chunk_size`: what export needs.

    Samples are valid data: `PixelLogit` clamps an image flow's samples into [0, pixel_levels).

    Conditional flows (`condition_dims` = K > 0, e.g. K = 10 for one-hot digit labels) model
    p(x | c): every method above takes `condition=` (the same keyword in `log_prob`, `sample`,
    `encode`, `decode`, ...), a float tensor [..., K] in the flow's dtype that broadcasts against
    the batch (a single [K] condition serves the whole batch; [N, K] gives each example its own),
    and it reaches every conditioner of the chain. An unconditional flow (K = 0, the default)
    refuses a condition and a conditional one requires it.

    Input checks: every method checks its input's dtype (the flow's; NumPy floats are converted)
    and shape ([..., *event_shape]) at trace time, which costs nothing per call. `log_prob` and
    `prob`, the training hot path, follow TFP's convention and check the values only with
    `validate_args=True`; `bits_per_dim`, `encode`, `compiled_log_prob`, `log_prob_parts` (and
    `training.evaluate`) also refuse NaN / Inf and, for image flows, pixels outside
    [0, pixel_levels); `decode` refuses a non-finite latent. `sample` / `draw_samples` take
    non-negative integer counts (Python, NumPy or integer tensors) asking for at most 2**31 - 1
    values per call and a finite scalar temperature T >= 0; `draw_samples` and
    `discrete_bits_per_dim` take stateless seeds of two ints.

    Subclasses call `super().__init__(layers, event_shape, ...)` with the layers data side first
    (a `tfb.Chain` list) and their constructor's `parameters`, and name the constructor arguments
    that only images or only vectors use in `IMAGE_OPTIONS` / `VECTOR_OPTIONS`.
    """

    IMAGE_OPTIONS = frozenset()
    VECTOR_OPTIONS = frozenset()

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        # No batchable tensor parameters: the constructor takes sizes and options and the weights
        # are variables, so a flow's batch shape is [].
        return {}

    def __init_subclass__(cls, **kwargs):
        # TFP wraps an inherited `_parameter_properties` in a warning ("may not match the subclass
        # parameters"); every model has the same (none), so each subclass gets this one.
        super().__init_subclass__(**kwargs)
        cls._parameter_properties = Flow.__dict__["_parameter_properties"]

    @classmethod
    def options(cls, image):
        """The constructor's argument names that shape a flow of images (`image=True`) or vectors."""
        names = frozenset(inspect.signature(cls).parameters)
        return names - (cls.VECTOR_OPTIONS if image else cls.IMAGE_OPTIONS)

    def __init__(
        self,
        layers,
        event_shape,
        *,
        parameters,
        pixel_levels=None,
        prior="normal",
        num_scales=1,
        widest=1,
        dtype=tf.float32,
        validate_args=False,
        condition_dims=0,
        name="Flow",
    ):
        self.condition_dims = check_condition_dims(condition_dims)
        if prior not in PRIORS:
            raise ValueError(f"`prior` must be one of {', '.join(map(repr, PRIORS))}, got {prior!r}")
        dtype = check_dtype(dtype, "`dtype`")
        event_shape = tuple(int(d) for d in event_shape)
        bijector = FlowChain(list(layers), event_ndims=len(event_shape), name=f"{name.lower()}_flow")
        zero, one = tf.zeros([], dtype), tf.ones([], dtype)
        unit = tfd.Normal(zero, one) if prior == "normal" else tfd.Logistic(zero, one)
        self._event_shape_tuple = event_shape
        self._num_scales = num_scales
        self.pixel_levels = pixel_levels
        self.prior = prior
        self._sample_chunk_size = max(1, _SAMPLE_CHUNK_FLOATS // max(1, widest))
        super().__init__(
            tfd.Sample(unit, event_shape),
            bijector,
            kwargs_split_fn=_split_kwargs,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )

    # ------------------------------------------------------------------ argument checks
    def _checked_data(self, x, what, values=None, batch="..."):
        """`x` as a tensor of the flow's dtype with shape [batch, *event_shape] (`batch`: "..." any
        batch dims, "N" exactly one). `values`: None (hot path: no value checks), "latent" (finite)
        or "data" (finite and, for image flows, pixels in [0, pixel_levels))."""
        dtype = getattr(x, "dtype", None)
        event = ", ".join(map(str, self._event_shape_tuple))
        expected = f"a {self.dtype.name} tensor of shape [{batch}, {event}]"
        if dtype is not None:  # tensors and arrays keep their dtype; only NumPy floats are converted
            try:
                dtype = tf.as_dtype(dtype)
            except TypeError:
                dtype = None
            if dtype is None or not dtype.is_floating or (tf.is_tensor(x) and dtype != self.dtype):
                got = dtype.name if dtype is not None else str(x.dtype)
                raise TypeError(f"{what} must be {expected}, got dtype {got}")
        try:
            x = tf.convert_to_tensor(x, self.dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{what} must be {expected}, got {type(x).__name__}: {err}") from None
        rank, ndims = x.shape.rank, len(self._event_shape_tuple)
        if rank is not None and (
            (rank != ndims + 1 if batch == "N" else rank < ndims)
            or not x.shape[rank - ndims :].is_compatible_with(self._event_shape_tuple)
        ):
            raise ValueError(f"{what} must have shape [{batch}, {event}] (batch, then the event shape), got {x.shape}")
        return self._checked_values(x, what, values) if values else x

    def _checked_condition(self, condition, target, values=False, batch_ndims=None):
        """`condition` broadcast to the batch shape of `target` ([*batch, *event_shape], or with
        `batch_ndims` given, `target` is that batch shape itself as a tensor), as [*batch, K] in
        the flow's dtype; None for an unconditional flow. `values`: also refuse NaN / Inf."""
        k = self.condition_dims
        if not k:
            if condition is not None:
                raise ValueError("`condition`: this flow is unconditional (`condition_dims`=0); pass no condition")
            return None
        expected = f"`condition` must be a {self.dtype.name} tensor of shape [..., {k}] (e.g. tf.one_hot(labels, {k}))"
        if condition is None:
            raise ValueError(f"this flow is conditional (`condition_dims`={k}): pass `condition=`, a tensor [..., {k}]")
        dtype = getattr(condition, "dtype", None)
        if dtype is not None:
            try:
                dtype = tf.as_dtype(dtype)
            except TypeError:
                dtype = None
            if dtype is None or not dtype.is_floating or (tf.is_tensor(condition) and dtype != self.dtype):
                raise TypeError(f"{expected}, got dtype {getattr(dtype, 'name', condition.dtype)}")
        try:
            condition = tf.convert_to_tensor(condition, self.dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{expected}, got {type(condition).__name__}: {err}") from None
        shape = condition.shape
        if shape.rank is not None and (shape.rank == 0 or shape[-1] not in (None, k)):
            raise ValueError(f"{expected}, got shape {shape}")
        if batch_ndims is None:
            ndims = len(self._event_shape_tuple)
            batch_static = target.shape[:-ndims] if target.shape.rank is not None else tf.TensorShape(None)
            batch = tf.shape(target)[: tf.rank(target) - ndims]
        else:
            batch_static, batch = tf.TensorShape(tf.get_static_value(target)), target
        if shape.rank is not None and batch_static.rank is not None:
            try:
                tf.broadcast_static_shape(shape[:-1], batch_static)
            except ValueError:
                raise ValueError(
                    f"`condition` of shape {shape} does not broadcast against the batch shape {batch_static}"
                ) from None
        if values:
            condition = self._checked_values(condition, "`condition`", "latent")
        out = tf.broadcast_to(condition, tf.concat([batch, [k]], 0))
        if batch_static.rank is not None:
            out.set_shape(batch_static.concatenate([k]))
        return out

    def _checked_values(self, x, what, values):
        if values == "data" and self.pixel_levels:
            checks = pixel_assertions(x, self.pixel_levels, what)
        else:
            checks = [tf.debugging.assert_all_finite(x, f"{what} contains NaN or Inf")]
        with tf.control_dependencies(checks):
            return tf.identity(x)

    def _checked_count(self, count, what, scalar=False):
        """Sample counts: a non-negative int (Python, NumPy or an integer tensor; a sample shape may
        be a list or vector of them) asking for at most 2**31 - 1 values. Traced counts are checked
        for their sign when the graph runs."""
        kind = "a non-negative int" + ("" if scalar else " or a list of them")
        if isinstance(count, tf.TensorShape) and not scalar and count.is_fully_defined():
            count = count.as_list()
        if tf.is_tensor(count) or isinstance(count, (np.ndarray, np.generic)):
            try:
                dtype = tf.as_dtype(count.dtype)
            except TypeError:
                dtype = None
            if dtype is None or not dtype.is_integer or (tf.TensorShape(count.shape).rank or 0) > (0 if scalar else 1):
                raise TypeError(f"{what} must be {kind}, got {count!r}")
            value = tf.get_static_value(count) if tf.is_tensor(count) else np.asarray(count)
            if value is None:  # traced
                with tf.control_dependencies([tf.debugging.assert_non_negative(count, f"{what} must be >= 0")]):
                    return tf.identity(count)
            counts = [int(c) for c in np.ravel(value)]
        elif is_int(count):
            counts = [int(count)]
        elif not scalar and isinstance(count, (list, tuple)) and all(is_int(c) for c in count):
            counts = [int(c) for c in count]
        else:
            raise TypeError(f"{what} must be {kind}, got {count!r}")
        if min(counts, default=0) < 0:
            raise ValueError(f"{what} must be >= 0, got {count!r}")
        total = int(np.prod(counts, dtype=object)) * self.num_dims
        if total > _MAX_SAMPLE_VALUES:
            raise ValueError(
                f"{what} {count!r} asks for {total:,} values ({self.num_dims} per sample), more than the "
                f"{_MAX_SAMPLE_VALUES:,} (2**31 - 1) one call can draw: draw them in smaller batches"
            )
        return count

    def _checked_temperature(self, temperature):
        """A finite scalar T >= 0 (T = 0 gives the mode of the latent), as a tensor of the flow's dtype."""
        expected = "`temperature` must be a finite scalar >= 0"
        if temperature is None or isinstance(temperature, (bool, np.bool_, str, bytes)):
            raise TypeError(f"{expected}, got {temperature!r}")
        try:
            t = tf.convert_to_tensor(temperature)
        except (TypeError, ValueError):
            raise TypeError(f"{expected}, got {temperature!r}") from None
        if not (t.dtype.is_floating or t.dtype.is_integer):
            raise TypeError(f"{expected}, got dtype {t.dtype.name}")
        if t.shape.rank is not None and t.shape.rank != 0:
            raise ValueError(f"{expected}: a scalar, got shape {t.shape}")
        t = tf.cast(tf.ensure_shape(t, []), self.dtype)
        value = tf.get_static_value(t)
        if value is not None:
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{expected}, got {float(value)}")
            return t
        checks = [
            tf.debugging.assert_all_finite(t, f"{expected} (finite)"),
            tf.debugging.assert_non_negative(t, f"{expected} (>= 0)"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(t)

    # ------------------------------------------------------------------ TFP hooks
    def _call_log_prob(self, value, name, condition=None, **kwargs):
        # The training hot path: dtype and shape are checked when traced (free), values only with validate_args.
        value = self._checked_data(value, "`value`", "data" if self.validate_args else None)
        condition = self._checked_condition(condition, value, self.validate_args)
        return super()._call_log_prob(value, name, condition=condition, **kwargs)

    def _call_prob(self, value, name, condition=None, **kwargs):
        value = self._checked_data(value, "`value`", "data" if self.validate_args else None)
        condition = self._checked_condition(condition, value, self.validate_args)
        return super()._call_prob(value, name, condition=condition, **kwargs)

    def _call_sample_n(self, sample_shape, seed, temperature=1.0, condition=None, **kwargs):
        sample_shape = self._checked_count(sample_shape, "`sample_shape`")
        temperature = self._checked_temperature(temperature)
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        z = self.distribution.sample(sample_shape, seed=seed, **distribution_kwargs)
        condition = self._checked_condition(condition, z, values=True)
        if condition is not None:
            bijector_kwargs["condition"] = condition
        return self.bijector.forward(z * temperature, **bijector_kwargs)

    # ------------------------------------------------------------------ public extras
    @property
    def num_dims(self):
        return int(np.prod(self._event_shape_tuple))

    def _condition_kwargs(self, condition, target):
        condition = self._checked_condition(condition, target, values=True)
        return {} if condition is None else {"condition": condition}

    def encode(self, x, training=False, condition=None):
        """Data -> latent z (the data's shape). Checks `x`: dtype, shape, finite, pixels in [0, K)."""
        x = self._checked_data(x, "`x`", "data")
        training = checked_training(training)
        kwargs = self._condition_kwargs(condition, x)
        return self.bijector.inverse(x, training=TrainingCall() if training is True else training, **kwargs)

    def decode(self, z, condition=None):
        """Latent z -> data. Checks `z`: dtype, shape [..., *event_shape], finite."""
        z = self._checked_data(z, "`z`", "latent")
        return self.bijector.forward(z, **self._condition_kwargs(condition, z))

    def log_prob_parts(self, x, condition=None):
        """The terms of `log_prob(x)` per example (inference mode), data side first: one entry per
        bijector of the chain, composites opened up (the log-det of the data -> latent map through
        that layer, named by the layer), then "prior" (the prior's log-density of the latent). Each
        entry has the batch shape and together they sum to `log_prob(x)` (to float rounding).
        Checks `x` like `encode`."""
        x = self._checked_data(x, "`x`", "data")
        condition = self._checked_condition(condition, x, values=True)
        z, parts = inverse_parts(self.bijector, x, len(self._event_shape_tuple), condition)
        named = {}
        for layer, ildj in parts:
            key, n = layer, 2
            while key in named:
                key, n = f"{layer}_{n}", n + 1
            named[key] = ildj
        named["prior"] = self.distribution.log_prob(z)
        return named

    def split_latents(self, z):
        """The per-scale latents, finest first: scale s has shape [H/2^(s+1), W/2^(s+1), 2^(2s+1) C]
        for s < num_scales - 1 and the remaining coarsest block last. Vectors and single-scale
        flows: [z]."""
        z = self._checked_data(z, "`z`")
        if len(self._event_shape_tuple) == 1:
            return [z]
        parts = []
        squeeze = Squeeze()
        for _ in range(self._num_scales - 1):
            s = squeeze.forward(z)
            c = s.shape[-1] // 2
            parts.append(s[..., :c])
            z = s[..., c:]
        parts.append(z)
        return parts

    def latent_statistics(self, x, condition=None):
        """Per scale (finest first, `split_latents` of `encode(x)`): a dict of the latent's `mean`,
        `std` (over all its entries), `outside_3_sigma` (the share of entries with |z| > 3) and the
        number of `dims`. A flow fit by maximum likelihood has latents near its prior's: N(0, 1)
        has std 1 and 0.27% outside 3 sigma, the standard logistic std pi / sqrt(3)."""
        stats = []
        for part in self.split_latents(self.encode(x, condition=condition)):
            flat = tf.reshape(part, [-1])
            mean = tf.reduce_mean(flat)
            stats.append(
                {
                    "dims": int(np.prod(part.shape[1:])),
                    "mean": float(mean),
                    "std": float(tf.math.reduce_std(flat)),
                    "outside_3_sigma": float(tf.reduce_mean(tf.cast(tf.abs(flat) > 3.0, self.dtype))),
                }
            )
        return stats

    @property
    def sample_chunk_size(self):
        """How many samples `draw_samples` runs through the flow at a time: by default as many as
        keep the widest conditioner activation near 2**20 floats (4 MiB). Settable (a positive int)."""
        return self._sample_chunk_size

    @sample_chunk_size.setter
    def sample_chunk_size(self, size):
        self._sample_chunk_size = check_positive_int(size, "`sample_chunk_size`")
        self.__dict__.pop("_draw_fn", None)  # traced with the old size

    def draw_samples(self, num_samples, temperature=1.0, seed=None, condition=None):
        """`sample(num_samples, temperature=...)` through one compiled function: any count (a
        Python int or a scalar tensor) and temperature reuse the same graph, no retracing.
        The samples go through the flow `sample_chunk_size` at a time, so that the widest
        activation of a chunk (~4 MiB) stays in cache (small models take one chunk); chunk i is
        drawn from `fold_in(seed, i)`. `seed`: a stateless seed (two ints); None draws one.
        A conditional flow takes `condition` [K] (every sample) or [num_samples, K] (one each)."""
        num_samples = self._checked_count(num_samples, "`num_samples`", scalar=True)
        temperature = self._checked_temperature(temperature)
        if seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
        seed = check_stateless_seed(seed, "`seed`")
        count = tf.cast(num_samples, tf.int32)
        specs = [tf.TensorSpec([], tf.int32), tf.TensorSpec([], self.dtype), tf.TensorSpec([2], tf.int32)]
        args = [count, temperature, seed]
        if self.condition_dims:
            args.append(self._checked_condition(condition, tf.reshape(count, [1]), values=True, batch_ndims=1))
            specs.append(tf.TensorSpec([None, self.condition_dims], self.dtype))
        else:
            self._checked_condition(condition, None)
        fn = self._compiled("_draw_fn", self._sample_in_chunks, specs)
        return fn(*args)

    def _sample_in_chunks(self, num_samples, temperature, seed, condition=None):
        tf.debugging.assert_non_negative(num_samples, message="`num_samples` must be >= 0")
        chunk = self.sample_chunk_size
        num_chunks = (num_samples + chunk - 1) // chunk
        event = [*self._event_shape_tuple]
        parts = tf.TensorArray(self.dtype, size=num_chunks, infer_shape=False, element_shape=[None, *event])

        def draw(i, parts):
            count = tf.minimum(chunk, num_samples - i * chunk)
            part_seed = tf.random.experimental.stateless_fold_in(seed, i)
            kwargs = {} if condition is None else {"condition": condition[i * chunk : i * chunk + count]}
            return i + 1, parts.write(i, self.sample(count, seed=part_seed, temperature=temperature, **kwargs))

        _, parts = tf.while_loop(lambda i, _: i < num_chunks, draw, (tf.constant(0), parts))
        return tf.reshape(parts.concat(), [-1, *event])

    def compiled_log_prob(self, x, condition=None):
        """`log_prob(x)` (inference statistics) through one compiled function: any batch size
        reuses the same graph. Checks `x` [N, *event_shape]: dtype, shape, finite, pixels in [0, K)."""
        x = self._checked_data(x, "`x`", batch="N")
        specs = [tf.TensorSpec([None, *self._event_shape_tuple], self.dtype)]
        args = [x]
        condition = self._checked_condition(condition, x, values=True)
        if condition is not None:
            args.append(condition)
            specs.append(tf.TensorSpec([None, self.condition_dims], self.dtype))

        def log_prob(t, c=None):
            return self.log_prob(self._checked_values(t, "`x`", "data"), condition=c)

        return self._compiled("_log_prob_fn", log_prob, specs)(*args)

    def _compiled(self, key, python_fn, signature):
        """`tf.function(python_fn)` built once per flow and kept under `key` (not a tracked attribute)."""
        fn = self.__dict__.get(key)
        if fn is None:
            fn = self.__dict__[key] = tf.function(python_fn, input_signature=signature)
        return fn

    def bits_per_dim(self, x, training=False, condition=None):
        """-log_prob(x) / (D ln 2) for dequantized pixels x (or vectors: nats -> bits per dim).
        Checks `x`: dtype, shape, finite, pixels in [0, K)."""
        x = self._checked_data(x, "`x`", "data")
        condition = self._checked_condition(condition, x, values=True)
        return -self.log_prob(x, training=training, condition=condition) / (self.num_dims * np.log(2.0))

    def discrete_bits_per_dim(self, images, draws=1, seed=(0, 0), condition=None):
        """Mean bits/dim of integer images [N, H, W, C] in [0, pixel_levels): each of `draws`
        uniform dequantizations x = pixel + U[0, 1) is scored and the results averaged (an upper
        bound on the discrete model's bits/dim; Theis et al. 2016). Returns a [N] tensor.
        `seed`: a stateless seed (two ints); draw i uses (seed[0], seed[1] + i)."""
        if not self.pixel_levels:
            raise ValueError("discrete_bits_per_dim is for image flows (built with `pixel_levels`)")
        draws = check_positive_int(draws, "`draws`")
        seed = check_stateless_seed(seed, "`seed`")
        try:
            images = tf.convert_to_tensor(images)
        except (TypeError, ValueError):
            raise TypeError(f"`images` must be integer pixels [N, H, W, C], got {type(images).__name__}") from None
        if not images.dtype.is_integer:
            raise ValueError(f"`images` must be integer pixels, got dtype {images.dtype.name}")
        if images.shape.rank != 4 or tuple(images.shape[1:]) != self._event_shape_tuple:
            raise ValueError(
                f"`images` must have shape [N, {', '.join(map(str, self._event_shape_tuple))}], got {images.shape}"
            )
        if images.shape[0]:
            low, high = int(tf.reduce_min(images)), int(tf.reduce_max(images))
            if low < 0 or high >= self.pixel_levels:
                raise ValueError(f"pixels must be in [0, {self.pixel_levels}), got values in [{low}, {high}]")
        pixels = tf.cast(images, self.dtype)
        top = below(self.pixel_levels, self.dtype)  # k + U[0, 1) can round up to k + 1 in float32
        total = 0.0
        for i in range(draws):
            noise = tf.random.stateless_uniform(tf.shape(pixels), seed=seed + [0, i], dtype=self.dtype)
            total += self.bits_per_dim(tf.minimum(pixels + noise, top), condition=condition)
        return total / draws

    @property
    def regularization_variables(self):
        """The weight-norm scales `g`, which Real NVP regularizes with L2 (5e-5); empty for models
        without weight-normalised layers."""
        return [v for v in self.trainable_variables if "weight_scale" in v.name]
