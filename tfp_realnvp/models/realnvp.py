"""The Real NVP distribution: multi-scale for images, stacked couplings for vectors."""

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
    check_sizes,
    check_stateless_seed,
    is_int,
)
from tfp_realnvp.bijectors import (
    AffineCoupling,
    FactorOut,
    FlowChain,
    InvertibleLinear,
    MovingAverageBatchNorm,
    PixelLogit,
    Squeeze,
    TrainingCall,
    VariationalDequantization,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    squeezed_checkerboard_mask,
)
from tfp_realnvp.bijectors.pixel_logit import below, pixel_assertions
from tfp_realnvp.networks import MLPConditioner, ResNetConditioner

__all__ = ["RealNVP"]

# `draw_samples` runs the flow on chunks of samples whose widest conditioner activation holds about
# this many floats (4 MiB). Measured on 2 CPU cores, samples/s in chunks vs one pass: MNIST at
# 14x14 x 16 maps (chunks of 334) 1,953 vs 1,773 for 1,000 samples; digits at 8x8 x 32 maps (512)
# 2,948 vs 2,504; the 2-D default (8,192) 100,636 vs 89,604 for 20,000; small models keep one pass.
_SAMPLE_CHUNK_FLOATS = 2**20

# Vector couplings start gentle, so that a plain Adam(1e-3) loop (no warm-up, no decay) trains the
# 32-coupling default stably: each coupling's log-scale bound `scale` starts at 0.5 (not 1) and its
# MLP's output is multiplied by 0.3 (Adam's step on the output layer moves the shift and log-scale
# 0.3x as far). Image flows keep 1 and 1. Measured in bench/README.md ("2-D under a plain training loop").
_VECTOR_SCALE_INIT = 0.5
_VECTOR_OUTPUT_SCALE = 0.3

# The layers' weight seeds are 1000 * seed + an index, and `linear_mixing`'s (NumPy's RandomState)
# must stay below 2**32.
_SEED_LIMIT = 2**22

# At most this many values per `sample` / `draw_samples` call: TF computes a sample's shape in int32.
_MAX_SAMPLE_VALUES = 2**31 - 1

tfb, tfd = tfp.bijectors, tfp.distributions


def _split_kwargs(kwargs):
    """`training=` (with its dropout `seed=`) and TFP's own `bijector_kwargs=` go to the bijector."""
    kwargs = dict(kwargs)
    distribution_kwargs = dict(kwargs.pop("distribution_kwargs", {}))
    bijector_kwargs = dict(kwargs.pop("bijector_kwargs", {}))
    seed = kwargs.pop("seed", None)
    if "training" in kwargs:
        bijector_kwargs["training"] = kwargs.pop("training")
    training = _checked_training(bijector_kwargs.get("training", False))
    if seed is not None and not training:
        raise ValueError("`seed=` seeds the dropout of a training call: pass it with `training=True`")
    if isinstance(training, TrainingCall):
        if seed is not None:
            raise ValueError("pass `seed=` or a `TrainingCall` that carries one, not both")
    elif training:  # also TFP's bijector_kwargs={"training": True}
        bijector_kwargs["training"] = TrainingCall(seed)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}; RealNVP takes `training=` and `seed=`")
    return distribution_kwargs, bijector_kwargs


def _checked_training(training):
    """`training`: a bool, or the `TrainingCall` of one training-mode call."""
    if isinstance(training, TrainingCall):
        return training
    return check_bool(training, "`training`")


class _Builder:
    """Creates the layers with deterministic seeds and the shared hyper-parameters."""

    def __init__(
        self, dtype, seed, additive, batch_norm, momentum, compute_dtype=None, dropout=0.0, squeeze_first=False
    ):
        self.dtype, self.seed, self.additive, self.compute_dtype = dtype, seed, additive, compute_dtype
        self.batch_norm, self.momentum, self.dropout = batch_norm, momentum, dropout
        self.squeeze_first = squeeze_first
        self.count = 0
        self.widest = 1  # the largest conditioner activation of one sample: positions x width

    def coupling(self, mask, make_net, width, scale_init=1.0):
        self.count += 1
        self.widest = max(self.widest, int(np.prod(mask.shape[:-1])) * width)
        k = 1 if self.additive else 2
        net = make_net(num_outputs=k, dtype=self.dtype, seed=1000 * self.seed + 10 * self.count)
        layers = [
            AffineCoupling(
                mask,
                net,
                additive=self.additive,
                dtype=self.dtype,
                compute_dtype=self.compute_dtype,
                scale_init=scale_init,
                name=f"coupling{self.count}",
            )
        ]
        if self.batch_norm:
            layers.append(
                MovingAverageBatchNorm(
                    mask.shape, momentum=self.momentum, dtype=self.dtype, name=f"batch_norm{self.count}"
                )
            )
        return layers


class RealNVP(tfd.TransformedDistribution):
    """Real NVP: a `tfd.TransformedDistribution` of N(0, I) with the data's event shape.

    Images `[H, W, C]` (Dinh et al. 2016, section 3.6), data -> latent, per scale:
    3 checkerboard couplings (alternating parity) -> squeeze -> 3 channel-wise couplings
    (alternating) -> half of the channels factored out to the prior; the last scale has 4
    checkerboard couplings. The conditioners are ResNets whose width doubles per scale (with
    `dropout` inside their blocks while training, when > 0). With `batch_norm=True` (the default
    for images) a `MovingAverageBatchNorm` follows every coupling. `pixel_levels=K`
    puts `PixelLogit(K, alpha)` first, so `log_prob` takes dequantized pixels in [0, K) and
    `bits_per_dim` is in the papers' units. H and W must be divisible by 2**(num_scales - 1):
    the flow is built at the data's own size, never padded or cropped (28x28 MNIST takes
    `num_scales <= 3`: 28 -> 14 -> 7).
    `squeeze_first=True` squeezes at the start of each scale instead and runs its checkerboard
    couplings on the squeezed grid (`squeezed_checkerboard_mask`: the same pixels pass through and
    are transformed as in the paper, but each conditioner works on [H/2, W/2, 4C], so the first
    scale costs ~4x fewer convolution FLOPs; a scale with odd H or W keeps the pixel grid). Its
    batch norms then keep statistics per 2x2 sub-position (4C channels) rather than per channel.
    `dequantization="variational"` puts a `VariationalDequantization` (Flow++'s learned noise,
    conditioned on the pixels, at `hidden_channels` wide) in front of `PixelLogit`: each pixel
    stays in its unit cell, so `log_prob` of uniformly dequantized pixels becomes the tighter
    variational bound of the same discrete model, with no change to the data pipeline or loss.

    Vectors `[D]`: `num_couplings` couplings with alternating masks and MLP conditioners,
    optionally batch norm (off by default) and `linear_mixing` (a learned `InvertibleLinear`,
    off by default) after each. The default depth, 32 couplings of 2x128 MLPs (565k parameters
    in 2-D, about the FLOPs and parameters of 8 couplings of 2x256: 545k), takes ~2.5x longer per
    step on CPU but fits sharp multimodal 2-D densities far better per step and at equal time
    (eight gaussians, checkerboard; rings alike; README). Its couplings start gentle: each
    log-scale bound (`AffineCoupling.scale`) starts at 0.5 rather than 1 and each MLP's
    zero-initialised output is multiplied by 0.3 (`MLPConditioner(output_scale=0.3)`), so one Adam
    step moves the shifts and log-scales less. A plain loop (constant Adam 1e-3, no warm-up)
    then trains it without non-finite steps and with lower KL than before, though its loss still
    jumps at times; the vector recipe (`RECIPES["vector"]`: 300 warm-up steps, cosine
    decay) still reaches lower KL on moons, eight gaussians and checkerboard (bench/README.md).

    `compute_dtype` (mixed precision, e.g. `tf.float16` on GPUs) runs the conditioner networks
    in that dtype; variables, transforms, log-dets and `log_prob` stay in `dtype`.

    The latent has the data's shape: `encode(x)` / `decode(z)`, and `split_latents(z)` gives
    the per-scale parts. `log_prob(x, training=True)` uses and updates the batch-norm
    statistics and applies the dropout; `log_prob(x, training=True, seed=(a, b))` draws the
    dropout masks from that stateless seed (the `Trainer` folds in the step, so runs repeat
    exactly). `sample(n, temperature=T)` draws z ~ N(0, T^2 I).

    Samples are valid data: `PixelLogit` clamps an image flow's samples into [0, pixel_levels),
    so their `log_prob` is finite at any temperature whose latent the couplings carry without
    overflow (float32, weights perturbed by N(0, 0.5): through T = 1e32; the first NaN at 1e34,
    where convolution sums pass 3.4e38). A coupling scales its input by at most exp(max |scale|)
    and adds a shift linear in it (the conditioner's Lipschitz constant L), so a flow's output
    grows at most like prod_k (exp(max |scale_k|) + L_k) * T |z|: a vector flow's samples stay
    finite until that nears 3.4e38 (measured: T = 1e36), and their `log_prob` until T |z| nears
    2.6e19, beyond which the N(0, I) density itself underflows to -inf (not NaN).

    Input checks: every method checks its input's dtype (the flow's; NumPy floats are converted)
    and shape ([..., *event_shape]) at trace time, which costs nothing per call. `log_prob` and
    `prob`, the training hot path, follow TFP's convention and check the values only with
    `validate_args=True`; `bits_per_dim`, `encode`, `compiled_log_prob` (and `training.evaluate`)
    also refuse NaN / Inf and, for image flows, pixels outside [0, pixel_levels); `decode`
    refuses a non-finite latent. `sample` / `draw_samples` take non-negative integer counts
    (Python, NumPy or integer tensors) asking for at most 2**31 - 1 values per call and a
    finite scalar temperature T >= 0 (T = 0 decodes the latent's mode); `draw_samples` and
    `discrete_bits_per_dim` take stateless seeds of two ints.

    Examples:

    ```python
    flow = tfp_realnvp.RealNVP(event_shape=(28, 28, 1), pixel_levels=256, num_scales=3)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(flow.log_prob(dequantized_pixels, training=True))
    grads = tape.gradient(loss, flow.trainable_variables)
    images = flow.sample(16, temperature=0.7)
    ```

    References:
      Dinh, Sohl-Dickstein & Bengio, Density estimation using Real NVP, arXiv:1605.08803.
      Kingma & Dhariwal, Glow, arXiv:1807.03039 (sampling temperature).
    """

    def __init__(
        self,
        event_shape,
        num_scales=2,
        num_blocks=2,
        hidden_channels=32,
        dropout=0.0,
        pixel_levels=None,
        alpha=0.05,
        dequantization="uniform",
        num_couplings=32,
        hidden_units=(128, 128),
        batch_norm=None,
        batch_norm_momentum=0.9,
        linear_mixing=False,
        squeeze_first=False,
        additive=False,
        dtype=tf.float32,
        compute_dtype=None,
        seed=0,
        validate_args=False,
        name="RealNVP",
    ):
        parameters = dict(locals())
        event_shape = check_event_shape_arg(event_shape)
        num_scales = check_positive_int(num_scales, "`num_scales`")
        num_blocks = check_int(num_blocks, "`num_blocks`", minimum=0)
        hidden_channels = check_positive_int(hidden_channels, "`hidden_channels`")
        dropout = check_number(dropout, "`dropout`", 0.0, 1.0, high_open=True)
        if pixel_levels is not None:
            pixel_levels = check_int(pixel_levels, "`pixel_levels`", minimum=2)
        alpha = check_number(alpha, "`alpha`", 0.0, 0.5, low_open=True, high_open=True)
        num_couplings = check_positive_int(num_couplings, "`num_couplings`")
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        if batch_norm is not None:
            batch_norm = check_bool(batch_norm, "`batch_norm`")
        batch_norm_momentum = check_number(batch_norm_momentum, "`batch_norm_momentum`", 0.0, 1.0, high_open=True)
        linear_mixing, squeeze_first, additive, validate_args = (
            check_bool(value, f"`{what}`")
            for what, value in (
                ("linear_mixing", linear_mixing),
                ("squeeze_first", squeeze_first),
                ("additive", additive),
                ("validate_args", validate_args),
            )
        )
        dtype = check_dtype(dtype, "`dtype`")
        compute_dtype = check_dtype(compute_dtype, "`compute_dtype`", allow_none=True)
        seed = check_seed(seed, "`seed`", upper=_SEED_LIMIT)
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, got {name!r}")
        if len(event_shape) == 1 and event_shape[0] < 2:
            raise ValueError(f"`event_shape` {list(event_shape)}: a vector flow's couplings need at least 2 features")
        if linear_mixing and len(event_shape) == 3:
            raise ValueError("`linear_mixing` applies to vector flows (an InvertibleLinear after each coupling)")
        if batch_norm is None:  # bench/results: it costs 2-D densities 0.1-0.7 nats of KL; neutral on digits
            batch_norm = len(event_shape) == 3
        if dropout and len(event_shape) == 1:
            raise ValueError("`dropout` applies to the image conditioners (ResNets); vector flows take none")
        if squeeze_first and len(event_shape) == 1:
            raise ValueError("`squeeze_first` applies to image flows; vectors have nothing to squeeze")
        if dequantization not in ("uniform", "variational"):
            raise ValueError(f"`dequantization` must be 'uniform' or 'variational', got {dequantization!r}")
        if dequantization == "variational" and len(event_shape) == 1:
            raise ValueError("`dequantization='variational'` applies to image flows (pixels); vectors are continuous")
        builder = _Builder(
            dtype, seed, additive, batch_norm, batch_norm_momentum, compute_dtype, dropout, squeeze_first
        )
        if len(event_shape) == 3:
            self._check_image_shape(event_shape, num_scales)
            flow = self._image_flow(builder, event_shape, 0, num_scales, num_blocks, hidden_channels)
            if pixel_levels is None:
                pixel_levels = 256
        else:
            flow = self._vector_flow(builder, event_shape[0], num_couplings, hidden_units, linear_mixing)
        layers = []  # data side first
        if dequantization == "variational":
            builder.widest = max(builder.widest, int(np.prod(event_shape[:-1])) * hidden_channels)
            layers.append(
                VariationalDequantization(
                    event_shape,
                    pixel_levels,
                    hidden_channels,
                    dtype=dtype,
                    seed=1000 * seed + 999,
                    validate_args=validate_args,
                )
            )
        if pixel_levels:
            layers.append(PixelLogit(pixel_levels, alpha, validate_args=validate_args))
        bijector = FlowChain(layers + flow, event_ndims=len(event_shape), name="realnvp_flow")
        base = tfd.Sample(tfd.Normal(tf.zeros([], dtype), tf.ones([], dtype)), event_shape)
        self._event_shape_tuple = event_shape
        self._num_scales = num_scales if len(event_shape) == 3 else 1
        self.pixel_levels = pixel_levels
        self._sample_chunk_size = max(1, _SAMPLE_CHUNK_FLOATS // builder.widest)
        super().__init__(
            base, bijector, kwargs_split_fn=_split_kwargs, validate_args=validate_args, parameters=parameters, name=name
        )

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _check_image_shape(event_shape, num_scales):
        """Scale s works on [H, W] / 2**s: H and W must be divisible by 2**(num_scales - 1), and the
        last scale must keep at least 2 positions (a 1x1 grid has no checkerboard)."""
        h, w, _ = event_shape
        if h * w < 2:
            raise ValueError(
                f"`event_shape` {list(event_shape)} is too small: an image flow's checkerboards need H * W >= 2"
            )
        largest = 1
        while h % 2**largest == 0 and w % 2**largest == 0 and (h >> largest) * (w >> largest) >= 2:
            largest += 1
        if num_scales > largest:
            f = 2 ** (num_scales - 1)
            raise ValueError(
                f"event shape {list(event_shape)} supports `num_scales` <= {largest}, got {num_scales}: H and W must "
                f"be divisible by 2**(num_scales - 1) = {f} (images are never padded or cropped) and the last "
                "scale must keep at least 2 positions for its checkerboards"
            )

    @classmethod
    def _image_flow(cls, builder, shape, scale, num_scales, num_blocks, hidden):
        """Layers of one scale and the coarser ones, data side first (a `tfb.Chain` list)."""
        h, w, c = shape
        width = hidden * 2**scale

        def resnet(channels):
            return lambda **kw: ResNetConditioner(
                channels, width, num_blocks, dropout=builder.dropout, name=f"resnet{builder.count + 1}", **kw
            )

        def couplings(n, mask_fn, size):
            layers = []
            for i in range(n):
                mask = mask_fn(*size, parity=i % 2)
                layers += builder.coupling(mask, resnet(mask.shape[-1]), width)
            return layers

        def squeeze():  # data -> latent squeezes
            return tfb.Invert(Squeeze(name=f"squeeze{scale}"))

        def unsqueeze():  # the latent keeps the data's shape
            return Squeeze(name=f"unsqueeze{scale}")

        last = scale == num_scales - 1
        checkers = 4 if last else 3
        if builder.squeeze_first and h % 2 == 0 and w % 2 == 0:
            layers = [squeeze(), *couplings(checkers, squeezed_checkerboard_mask, (h, w, c))]
            if last:
                return [*layers, unsqueeze()]
        else:
            layers = couplings(checkers, checkerboard_mask, (h, w, c))
            if last:
                return layers
            layers.append(squeeze())
        layers += couplings(3, channel_mask, (h // 2, w // 2, 4 * c))
        inner = cls._image_flow(builder, (h // 2, w // 2, 2 * c), scale + 1, num_scales, num_blocks, hidden)
        layers.append(
            FactorOut(FlowChain(inner, event_ndims=3, name=f"scale{scale + 1}"), 2 * c, name=f"factor_out{scale}")
        )
        layers.append(unsqueeze())
        return layers

    @staticmethod
    def _vector_flow(builder, features, num_couplings, hidden_units, linear_mixing):
        if features < 2:
            raise ValueError(f"a coupling flow needs at least 2 features, got event shape [{features}]")

        def mlp(**kw):
            return MLPConditioner(
                features, hidden_units, output_scale=_VECTOR_OUTPUT_SCALE, name=f"mlp{builder.count + 1}", **kw
            )

        layers = []
        for i in range(num_couplings):
            mask = alternating_mask(features, i % 2)
            layers += builder.coupling(mask, mlp, max(hidden_units), scale_init=_VECTOR_SCALE_INIT)
            if linear_mixing:
                layers.append(
                    InvertibleLinear([features], seed=1000 * builder.seed + i, dtype=builder.dtype, name=f"mix{i + 1}")
                )
        return layers

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
    def _call_log_prob(self, value, name, **kwargs):
        # The training hot path: dtype and shape are checked when traced (free), values only with validate_args.
        value = self._checked_data(value, "`value`", "data" if self.validate_args else None)
        return super()._call_log_prob(value, name, **kwargs)

    def _call_prob(self, value, name, **kwargs):
        value = self._checked_data(value, "`value`", "data" if self.validate_args else None)
        return super()._call_prob(value, name, **kwargs)

    def _call_sample_n(self, sample_shape, seed, temperature=1.0, **kwargs):
        sample_shape = self._checked_count(sample_shape, "`sample_shape`")
        temperature = self._checked_temperature(temperature)
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        z = self.distribution.sample(sample_shape, seed=seed, **distribution_kwargs)
        return self.bijector.forward(z * temperature, **bijector_kwargs)

    # ------------------------------------------------------------------ public extras
    @property
    def num_dims(self):
        return int(np.prod(self._event_shape_tuple))

    def encode(self, x, training=False):
        """Data -> latent z (the data's shape). Checks `x`: dtype, shape, finite, pixels in [0, K)."""
        x = self._checked_data(x, "`x`", "data")
        training = _checked_training(training)
        return self.bijector.inverse(x, training=TrainingCall() if training is True else training)

    def decode(self, z):
        """Latent z -> data. Checks `z`: dtype, shape [..., *event_shape], finite."""
        return self.bijector.forward(self._checked_data(z, "`z`", "latent"))

    def split_latents(self, z):
        """The per-scale latents, finest first: scale s has shape [H/2^(s+1), W/2^(s+1), 2^(2s+1) C]
        for s < num_scales - 1 and the remaining coarsest block last. Vectors: [z]."""
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

    @property
    def sample_chunk_size(self):
        """How many samples `draw_samples` runs through the flow at a time: by default as many as
        keep the widest conditioner activation near 2**20 floats (4 MiB). Settable (a positive int)."""
        return self._sample_chunk_size

    @sample_chunk_size.setter
    def sample_chunk_size(self, size):
        self._sample_chunk_size = check_positive_int(size, "`sample_chunk_size`")
        self.__dict__.pop("_draw_fn", None)  # traced with the old size

    def draw_samples(self, num_samples, temperature=1.0, seed=None):
        """`sample(num_samples, temperature=...)` through one compiled function: any count (a
        Python int or a scalar tensor) and temperature reuse the same graph, no retracing.
        The samples go through the flow `sample_chunk_size` at a time, so that the widest
        activation of a chunk (~4 MiB) stays in cache (small models take one chunk); chunk i is
        drawn from `fold_in(seed, i)`. `seed`: a stateless seed (two ints); None draws one."""
        num_samples = self._checked_count(num_samples, "`num_samples`", scalar=True)
        temperature = self._checked_temperature(temperature)
        if seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
        seed = check_stateless_seed(seed, "`seed`")
        specs = [tf.TensorSpec([], tf.int32), tf.TensorSpec([], self.dtype), tf.TensorSpec([2], tf.int32)]
        fn = self._compiled("_draw_fn", self._sample_in_chunks, specs)
        return fn(tf.cast(num_samples, tf.int32), temperature, seed)

    def _sample_in_chunks(self, num_samples, temperature, seed):
        tf.debugging.assert_non_negative(num_samples, message="`num_samples` must be >= 0")
        chunk = self.sample_chunk_size
        num_chunks = (num_samples + chunk - 1) // chunk
        event = [*self._event_shape_tuple]
        parts = tf.TensorArray(self.dtype, size=num_chunks, infer_shape=False, element_shape=[None, *event])

        def draw(i, parts):
            count = tf.minimum(chunk, num_samples - i * chunk)
            part_seed = tf.random.experimental.stateless_fold_in(seed, i)
            return i + 1, parts.write(i, self.sample(count, seed=part_seed, temperature=temperature))

        _, parts = tf.while_loop(lambda i, _: i < num_chunks, draw, (tf.constant(0), parts))
        return tf.reshape(parts.concat(), [-1, *event])

    def compiled_log_prob(self, x):
        """`log_prob(x)` (inference statistics) through one compiled function: any batch size
        reuses the same graph. Checks `x` [N, *event_shape]: dtype, shape, finite, pixels in [0, K)."""
        x = self._checked_data(x, "`x`", batch="N")
        spec = tf.TensorSpec([None, *self._event_shape_tuple], self.dtype)
        fn = self._compiled("_log_prob_fn", lambda t: self.log_prob(self._checked_values(t, "`x`", "data")), [spec])
        return fn(x)

    def _compiled(self, key, python_fn, signature):
        """`tf.function(python_fn)` built once per flow and kept under `key` (not a tracked attribute)."""
        fn = self.__dict__.get(key)
        if fn is None:
            fn = self.__dict__[key] = tf.function(python_fn, input_signature=signature)
        return fn

    def bits_per_dim(self, x, training=False):
        """-log_prob(x) / (D ln 2) for dequantized pixels x (or vectors: nats -> bits per dim).
        Checks `x`: dtype, shape, finite, pixels in [0, K)."""
        x = self._checked_data(x, "`x`", "data")
        return -self.log_prob(x, training=training) / (self.num_dims * np.log(2.0))

    def discrete_bits_per_dim(self, images, draws=1, seed=(0, 0)):
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
            total += self.bits_per_dim(tf.minimum(pixels + noise, top))
        return total / draws

    @property
    def regularization_variables(self):
        """The weight-norm scales `g`, which the paper regularizes with L2 (5e-5)."""
        return [v for v in self.trainable_variables if "weight_scale" in v.name]
