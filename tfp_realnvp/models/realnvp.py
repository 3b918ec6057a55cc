"""The Real NVP distribution: multi-scale for images, stacked couplings for vectors."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_realnvp._validation import (
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    check_sizes,
)
from tfp_realnvp.bijectors import (
    AffineCoupling,
    FactorOut,
    FlowChain,
    InvertibleLinear,
    MovingAverageBatchNorm,
    Squeeze,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    squeezed_checkerboard_mask,
)
from tfp_realnvp.models.flow import Flow, checked_common_args, pixel_front
from tfp_realnvp.networks import MLPConditioner, ResNetConditioner
from tfp_realnvp.networks.condition import check_condition_dims

__all__ = ["RealNVP"]

# Vector couplings start gentle, so that a plain Adam(1e-3) loop (no warm-up, no decay) trains the
# 32-coupling default stably: each coupling's log-scale bound `scale` starts at 0.5 (not 1), its
# MLP's output is multiplied by `output_scale` (default 0.1: Adam's step on the output layer moves
# the shift and log-scale 0.1x as far), and the MLP's first-layer biases start uniform in +-0.5,
# spreading the ReLUs' kinks over the data. Only `output_scale` shapes a trained flow (the others
# shape the start), so it is a constructor option that runs save. Image flows keep the plain
# start. Measured in bench/README.md.
_VECTOR_SCALE_INIT = 0.5
_VECTOR_MLP_START = {"first_bias_spread": 0.5}

# The layers' weight seeds are 1000 * seed + an index, and `linear_mixing`'s (NumPy's RandomState)
# must stay below 2**32.
_SEED_LIMIT = 2**22

tfb = tfp.bijectors


class _Builder:
    """Creates the layers with deterministic seeds and the shared hyper-parameters."""

    def __init__(
        self,
        dtype,
        seed,
        additive,
        batch_norm,
        momentum,
        compute_dtype=None,
        dropout=0.0,
        squeeze_first=False,
        condition_dims=0,
    ):
        self.dtype, self.seed, self.additive, self.compute_dtype = dtype, seed, additive, compute_dtype
        self.condition_dims = condition_dims
        self.batch_norm, self.momentum, self.dropout = batch_norm, momentum, dropout
        self.squeeze_first = squeeze_first
        self.count = 0
        self.widest = 1  # the largest conditioner activation of one sample: positions x width

    def coupling(self, mask, make_net, width, scale_init=1.0):
        self.count += 1
        self.widest = max(self.widest, int(np.prod(mask.shape[:-1])) * width)
        k = 1 if self.additive else 2
        net = make_net(
            num_outputs=k, dtype=self.dtype, seed=1000 * self.seed + 10 * self.count, condition_dims=self.condition_dims
        )
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


class RealNVP(Flow):
    """Real NVP (Dinh et al. 2016): a `Flow` of N(0, I) with the data's event shape.

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
    off by default) after each. The default is deep and narrow, 32 couplings of 2x128 MLPs (565k
    parameters in 2-D). Its couplings start gentle: each log-scale bound (`AffineCoupling.scale`)
    starts at 0.5, and each MLP's zero-initialised output is multiplied by `output_scale` (0.1),
    so one Adam step moves the shifts and log-scales less; its first-layer biases start spread
    over +-0.5 (`MLPConditioner(first_bias_spread=0.5)`), so the ReLUs kink across the data, not
    all at 0. The vector recipe (`experiment.RECIPES`) trains it at a peak learning rate of 2e-3
    (why these defaults: bench/README.md).

    `compute_dtype` (mixed precision, e.g. `tf.float16` on GPUs) runs the conditioner networks
    in that dtype; variables, transforms, log-dets and `log_prob` stay in `dtype`.

    `condition_dims=K` > 0 builds a conditional flow p(x | c): every conditioner (and the learned
    dequantization) takes the condition c [..., K], e.g. a one-hot label (`Flow`).

    The latent has the data's shape; `split_latents(z)` gives the per-scale parts (`Flow`).
    `log_prob(x, training=True)` uses and updates the batch-norm statistics and applies the
    dropout. `sample(n, temperature=T)` draws z ~ N(0, T^2 I).

    Samples' `log_prob` is finite at any temperature whose latent the couplings carry without
    overflow (float32, weights perturbed by N(0, 0.5): through T = 1e32; the first NaN at 1e34,
    where convolution sums pass 3.4e38). A coupling scales its input by at most exp(max |scale|)
    and adds a shift linear in it (the conditioner's Lipschitz constant L), so a flow's output
    grows at most like prod_k (exp(max |scale_k|) + L_k) * T |z|: a vector flow's samples stay
    finite until that nears 3.4e38 (measured: T = 1e36), and their `log_prob` until T |z| nears
    2.6e19, beyond which the N(0, I) density itself underflows to -inf (not NaN).

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

    IMAGE_OPTIONS = frozenset(
        ("num_scales", "num_blocks", "hidden_channels", "dropout", "alpha", "dequantization", "squeeze_first")
    )
    VECTOR_OPTIONS = frozenset(("num_couplings", "hidden_units", "linear_mixing", "output_scale"))

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
        output_scale=0.1,
        dtype=tf.float32,
        compute_dtype=None,
        seed=0,
        validate_args=False,
        condition_dims=0,
        name="RealNVP",
    ):
        parameters = dict(locals())
        event_shape, pixel_levels, dtype, compute_dtype, seed, validate_args = checked_common_args(
            event_shape, pixel_levels, dtype, compute_dtype, seed, _SEED_LIMIT, validate_args, name
        )
        num_scales = check_positive_int(num_scales, "`num_scales`")
        num_blocks = check_int(num_blocks, "`num_blocks`", minimum=0)
        hidden_channels = check_positive_int(hidden_channels, "`hidden_channels`")
        dropout = check_number(dropout, "`dropout`", 0.0, 1.0, high_open=True)
        alpha = check_number(alpha, "`alpha`", 0.0, 0.5, low_open=True, high_open=True)
        num_couplings = check_positive_int(num_couplings, "`num_couplings`")
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        if batch_norm is not None:
            batch_norm = check_bool(batch_norm, "`batch_norm`")
        batch_norm_momentum = check_number(batch_norm_momentum, "`batch_norm_momentum`", 0.0, 1.0, high_open=True)
        linear_mixing, squeeze_first, additive = (
            check_bool(value, f"`{what}`")
            for what, value in (
                ("linear_mixing", linear_mixing),
                ("squeeze_first", squeeze_first),
                ("additive", additive),
            )
        )
        output_scale = check_number(output_scale, "`output_scale`", 0.0, low_open=True)
        if linear_mixing and len(event_shape) == 3:
            raise ValueError("`linear_mixing` applies to vector flows (an InvertibleLinear after each coupling)")
        if batch_norm is None:  # images only (bench/README.md, "Why the recipes")
            batch_norm = len(event_shape) == 3
        if dropout and len(event_shape) == 1:
            raise ValueError("`dropout` applies to the image conditioners (ResNets); vector flows take none")
        if squeeze_first and len(event_shape) == 1:
            raise ValueError("`squeeze_first` applies to image flows; vectors have nothing to squeeze")
        condition_dims = check_condition_dims(condition_dims)
        builder = _Builder(
            dtype,
            seed,
            additive,
            batch_norm,
            batch_norm_momentum,
            compute_dtype,
            dropout,
            squeeze_first,
            condition_dims,
        )
        if len(event_shape) == 3:
            self._check_image_shape(event_shape, num_scales)
            flow = self._image_flow(builder, event_shape, 0, num_scales, num_blocks, hidden_channels)
        else:
            flow = self._vector_flow(builder, event_shape[0], num_couplings, hidden_units, linear_mixing, output_scale)
        front, front_widest = pixel_front(
            event_shape,
            pixel_levels,
            alpha,
            dequantization,
            hidden_channels,
            dtype,
            1000 * seed + 999,
            validate_args,
            condition_dims,
        )
        super().__init__(
            front + flow,
            event_shape,
            parameters=parameters,
            pixel_levels=pixel_levels,
            num_scales=num_scales if len(event_shape) == 3 else 1,
            widest=max(builder.widest, front_widest),
            dtype=dtype,
            validate_args=validate_args,
            condition_dims=condition_dims,
            name=name,
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
    def _vector_flow(builder, features, num_couplings, hidden_units, linear_mixing, output_scale):
        if features < 2:
            raise ValueError(f"a coupling flow needs at least 2 features, got event shape [{features}]")

        def mlp(**kw):
            kw.update(_VECTOR_MLP_START, output_scale=output_scale, name=f"mlp{builder.count + 1}")
            return MLPConditioner(features, hidden_units, **kw)

        layers = []
        for i in range(num_couplings):
            mask = alternating_mask(features, i % 2)
            layers += builder.coupling(mask, mlp, max(hidden_units), scale_init=_VECTOR_SCALE_INIT)
            if linear_mixing:
                layers.append(
                    InvertibleLinear([features], seed=1000 * builder.seed + i, dtype=builder.dtype, name=f"mix{i + 1}")
                )
        return layers
