"""The Real NVP distribution: multi-scale for images, stacked couplings for vectors."""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

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
from tfp_realnvp.networks import MLPConditioner, ResNetConditioner

__all__ = ["RealNVP"]

# `draw_samples` runs the flow on chunks of samples whose widest conditioner activation holds about
# this many floats (4 MiB). Measured on 2 CPU cores, samples/s in chunks vs one pass: MNIST at
# 14x14 x 16 maps (chunks of 334) 1,953 vs 1,773 for 1,000 samples; digits at 8x8 x 32 maps (512)
# 2,948 vs 2,504; the 2-D default (8,192) 100,636 vs 89,604 for 20,000; small models keep one pass.
_SAMPLE_CHUNK_FLOATS = 2**20

tfb, tfd = tfp.bijectors, tfp.distributions


def _split_kwargs(kwargs):
    """`training=` (with its dropout `seed=`) and TFP's own `bijector_kwargs=` go to the bijector."""
    kwargs = dict(kwargs)
    distribution_kwargs = dict(kwargs.pop("distribution_kwargs", {}))
    bijector_kwargs = dict(kwargs.pop("bijector_kwargs", {}))
    seed = kwargs.pop("seed", None)
    if "training" in kwargs:
        bijector_kwargs["training"] = kwargs.pop("training")
    training = bijector_kwargs.get("training", False)
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

    def coupling(self, mask, make_net, width):
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
    (eight gaussians, checkerboard; rings alike; README). Train it with a learning-rate warm-up
    (`RECIPES["vector"]`: 300 steps): without one it can spike early.

    `compute_dtype` (mixed precision, e.g. `tf.float16` on GPUs) runs the conditioner networks
    in that dtype; variables, transforms, log-dets and `log_prob` stay in `dtype`.

    The latent has the data's shape: `encode(x)` / `decode(z)`, and `split_latents(z)` gives
    the per-scale parts. `log_prob(x, training=True)` uses and updates the batch-norm
    statistics and applies the dropout; `log_prob(x, training=True, seed=(a, b))` draws the
    dropout masks from that stateless seed (the `Trainer` folds in the step, so runs repeat
    exactly). `sample(n, temperature=T)` draws z ~ N(0, T^2 I).

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
        event_shape = tuple(int(d) for d in event_shape)
        if len(event_shape) not in (1, 3) or min(event_shape) < 1:
            raise ValueError(f"`event_shape` must be [D] or [H, W, C] with positive sizes, got {event_shape}")
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
            dtype, seed, additive, batch_norm, batch_norm_momentum, compute_dtype, dropout, bool(squeeze_first)
        )
        if len(event_shape) == 3:
            self._check_image_shape(event_shape, num_scales)
            flow = self._image_flow(builder, event_shape, 0, num_scales, num_blocks, hidden_channels)
            if pixel_levels is None:
                pixel_levels = 256
        else:
            flow = self._vector_flow(builder, event_shape[0], num_couplings, tuple(hidden_units), linear_mixing)
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
        h, w, _ = event_shape
        if num_scales < 1:
            raise ValueError(f"`num_scales` must be >= 1, got {num_scales}")
        f = 2 ** (num_scales - 1)
        if h % f or w % f or h * w < 2:
            largest = 1 + min(int(math.log2(h & -h)), int(math.log2(w & -w)))
            raise ValueError(
                f"event shape {list(event_shape)} supports `num_scales` <= {largest}: H and W must be "
                f"divisible by 2**(num_scales - 1) = {f} (images are never padded or cropped)"
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
            return MLPConditioner(features, hidden_units, name=f"mlp{builder.count + 1}", **kw)

        layers = []
        for i in range(num_couplings):
            layers += builder.coupling(alternating_mask(features, i % 2), mlp, max(hidden_units))
            if linear_mixing:
                layers.append(
                    InvertibleLinear([features], seed=1000 * builder.seed + i, dtype=builder.dtype, name=f"mix{i + 1}")
                )
        return layers

    # ------------------------------------------------------------------ TFP hooks
    def _call_sample_n(self, sample_shape, seed, temperature=1.0, **kwargs):
        distribution_kwargs, bijector_kwargs = self._kwargs_split_fn(kwargs)
        z = self.distribution.sample(sample_shape, seed=seed, **distribution_kwargs)
        return self.bijector.forward(z * tf.cast(temperature, self.dtype), **bijector_kwargs)

    # ------------------------------------------------------------------ public extras
    @property
    def num_dims(self):
        return int(np.prod(self._event_shape_tuple))

    def encode(self, x, training=False):
        """Data -> latent z (the data's shape)."""
        return self.bijector.inverse(x, training=TrainingCall() if training else False)

    def decode(self, z):
        """Latent z -> data."""
        return self.bijector.forward(z)

    def split_latents(self, z):
        """The per-scale latents, finest first: scale s has shape [H/2^(s+1), W/2^(s+1), 2^(2s+1) C]
        for s < num_scales - 1 and the remaining coarsest block last. Vectors: [z]."""
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
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"`sample_chunk_size` must be a positive int, got {size!r}")
        self._sample_chunk_size = int(size)
        self.__dict__.pop("_draw_fn", None)  # traced with the old size

    def draw_samples(self, num_samples, temperature=1.0, seed=None):
        """`sample(num_samples, temperature=...)` through one compiled function: any count (a
        Python int or a scalar tensor) and temperature reuse the same graph, no retracing.
        The samples go through the flow `sample_chunk_size` at a time, so that the widest
        activation of a chunk (~4 MiB) stays in cache (small models take one chunk); chunk i is
        drawn from `fold_in(seed, i)`. `seed`: a stateless seed (two ints); None draws one."""
        if seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
        specs = [tf.TensorSpec([], tf.int32), tf.TensorSpec([], self.dtype), tf.TensorSpec([2], tf.int32)]
        fn = self._compiled("_draw_fn", self._sample_in_chunks, specs)
        return fn(tf.cast(num_samples, tf.int32), tf.cast(temperature, self.dtype), tf.cast(seed, tf.int32))

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
        reuses the same graph."""
        spec = tf.TensorSpec([None, *self._event_shape_tuple], self.dtype)
        fn = self._compiled("_log_prob_fn", lambda t: self.log_prob(t), [spec])
        return fn(tf.convert_to_tensor(x, self.dtype))

    def _compiled(self, key, python_fn, signature):
        """`tf.function(python_fn)` built once per flow and kept under `key` (not a tracked attribute)."""
        fn = self.__dict__.get(key)
        if fn is None:
            fn = self.__dict__[key] = tf.function(python_fn, input_signature=signature)
        return fn

    def bits_per_dim(self, x, training=False):
        """-log_prob(x) / (D ln 2) for dequantized pixels x (or vectors: nats -> bits per dim)."""
        return -self.log_prob(x, training=training) / (self.num_dims * np.log(2.0))

    def discrete_bits_per_dim(self, images, draws=1, seed=(0, 0)):
        """Mean bits/dim of integer images [N, H, W, C] in [0, pixel_levels): each of `draws`
        uniform dequantizations x = pixel + U[0, 1) is scored and the results averaged (an upper
        bound on the discrete model's bits/dim; Theis et al. 2016). Returns a [N] tensor."""
        if not self.pixel_levels:
            raise ValueError("discrete_bits_per_dim is for image flows (built with `pixel_levels`)")
        images = tf.convert_to_tensor(images)
        if images.dtype.is_floating or images.dtype.is_complex or images.dtype == tf.bool:
            raise ValueError(f"`images` must be integer pixels, got dtype {images.dtype.name}")
        if images.shape.rank != 4 or tuple(images.shape[1:]) != self._event_shape_tuple:
            raise ValueError(
                f"`images` must have shape [N, {', '.join(map(str, self._event_shape_tuple))}], got {images.shape}"
            )
        low, high = int(tf.reduce_min(images)), int(tf.reduce_max(images))
        if low < 0 or high >= self.pixel_levels:
            raise ValueError(f"pixels must be in [0, {self.pixel_levels}), got values in [{low}, {high}]")
        pixels = tf.cast(images, self.dtype)
        total = 0.0
        for i in range(draws):
            noise = tf.random.stateless_uniform(tf.shape(pixels), seed=[seed[0], seed[1] + i], dtype=self.dtype)
            total += self.bits_per_dim(pixels + noise)
        return total / draws

    @property
    def regularization_variables(self):
        """The weight-norm scales `g`, which the paper regularizes with L2 (5e-5)."""
        return [v for v in self.trainable_variables if "weight_scale" in v.name]
