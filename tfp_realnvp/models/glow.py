"""Glow: ActNorm, invertible 1x1 convolutions and affine couplings, multi-scale (Kingma & Dhariwal 2018)."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_realnvp._validation import check_bool, check_number, check_positive_int, check_sizes
from tfp_realnvp.bijectors import (
    ActNorm,
    AffineCoupling,
    FactorOut,
    FlowChain,
    InvertibleLinear,
    Squeeze,
    channel_mask,
    half_mask,
)
from tfp_realnvp.models.flow import Flow, checked_common_args, pixel_front
from tfp_realnvp.networks import GlowConditioner, MLPConditioner, ZeroConvConditioner
from tfp_realnvp.networks.condition import check_condition_dims

__all__ = ["Glow"]

tfb = tfp.bijectors

_SEED_LIMIT = 2**22  # weight seeds are 1000 * seed + an index (InvertibleLinear's must stay below 2**32)


class Glow(Flow):
    """Glow (Kingma & Dhariwal 2018): a `Flow` of N(0, I) through steps of ActNorm, an invertible
    1x1 convolution and an affine coupling, multi-scale for images.

    One step of flow, data -> latent: `ActNorm` (per-channel affine, initialised from the first
    training batch so its output has zero mean and unit variance per channel; the statistics are
    those of the global batch on every replica, and the checkpoint keeps them, so a resume does not
    re-initialise) -> `InvertibleLinear` (the LU-parametrised 1x1 convolution) -> `AffineCoupling`
    on a channel split: the first half of the channels is shifted and multiplied by
    sigmoid(h + 2) (floored at e^-7: `AffineCoupling`'s `scale_fn="sigmoid"`), (shift, h)
    computed from the second half alone (`split_channels`) by Glow's
    conditioner (3x3 conv, ReLU, 1x1 conv, ReLU, zero-initialised 3x3 conv: `GlowConditioner`,
    `hidden_channels` wide, with `dropout` before its output conv while training). With
    `additive=True` the coupling only shifts.

    Images `[H, W, C]`, per level l of `num_scales` L: squeeze (2x2 -> channels), `num_steps` K
    steps, then, except at the last level, the split: the first half of the channels (the half the
    level's last coupling transformed) leaves the flow under a learned conditional prior
    N(mu, sigma^2), (mu, log sigma) from the kept half by a zero-initialised
    3x3 conv (`ZeroConvConditioner`; written as an affine coupling with an unbounded log-scale, so
    the latent is that half standardised); the last level ends with a learned per-channel top prior
    (`ActNorm` without data initialisation). H and W must be divisible by 2**L. `pixel_levels=K`
    (default 256) puts `PixelLogit(K, alpha)` first, so `log_prob` takes dequantized pixels in
    [0, K) and `bits_per_dim` is in the papers' units; `dequantization="variational"` adds learned
    dequantization (as in `RealNVP`).

    Vectors `[D]`: `num_steps` steps with MLP conditioners (`hidden_units`, zero-initialised
    output), the coupling moving the second half of the features given the first, then a
    learned top prior.

    The priors are layers, so the base is N(0, I): `sample(n, temperature=T)` scales the
    standardised latent by T, which is Glow's temperature (each learned prior's std times T).
    `compute_dtype` runs the conditioners in that dtype (mixed precision); variables, transforms
    and `log_prob` stay in `dtype`. `condition_dims=K` > 0 builds a conditional flow p(x | c):
    the coupling networks, the learned priors at the splits and the learned dequantization take
    the condition c [..., K] (e.g. a one-hot label; `Flow`); the top prior stays unconditional.

    Examples:

    ```python
    flow = tfp_realnvp.Glow(event_shape=(28, 28, 1), num_scales=2, num_steps=8)
    loss = -tf.reduce_mean(flow.log_prob(dequantized_pixels, training=True))  # initialises ActNorm
    images = flow.sample(16, temperature=0.7)
    ```

    References:
      Kingma & Dhariwal, Glow: Generative flow with invertible 1x1 convolutions, arXiv:1807.03039.
    """

    IMAGE_OPTIONS = frozenset(("num_scales", "hidden_channels", "dropout", "alpha", "dequantization"))
    VECTOR_OPTIONS = frozenset(("hidden_units",))

    def __init__(
        self,
        event_shape,
        num_scales=2,
        num_steps=8,
        hidden_channels=64,
        hidden_units=(128, 128),
        dropout=0.0,
        additive=False,
        pixel_levels=None,
        alpha=0.05,
        dequantization="uniform",
        dtype=tf.float32,
        compute_dtype=None,
        seed=0,
        validate_args=False,
        condition_dims=0,
        name="Glow",
    ):
        parameters = dict(locals())
        event_shape, pixel_levels, dtype, compute_dtype, seed, validate_args = checked_common_args(
            event_shape, pixel_levels, dtype, compute_dtype, seed, _SEED_LIMIT, validate_args, name
        )
        num_scales = check_positive_int(num_scales, "`num_scales`")
        num_steps = check_positive_int(num_steps, "`num_steps`")
        hidden_channels = check_positive_int(hidden_channels, "`hidden_channels`")
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        dropout = check_number(dropout, "`dropout`", 0.0, 1.0, high_open=True)
        if dropout and len(event_shape) == 1:
            raise ValueError("`dropout` applies to the image conditioners (GlowConditioner); vector flows take none")
        additive = check_bool(additive, "`additive`")
        check_number(alpha, "`alpha`", 0.0, 0.5, low_open=True, high_open=True)
        condition_dims = check_condition_dims(condition_dims)
        self._options = dict(dtype=dtype, compute_dtype=compute_dtype, additive=additive, condition_dims=condition_dims)
        self._seed, self._count, self._step, self._dropout = seed, 0, 0, dropout
        if len(event_shape) == 3:
            h, w, _ = event_shape
            if h % 2**num_scales or w % 2**num_scales:
                raise ValueError(
                    f"event shape {list(event_shape)} takes `num_scales` levels only if H and W are divisible by "
                    f"2**num_scales = {2**num_scales} (every level squeezes; images are never padded or cropped)"
                )
            layers = self._level(event_shape, 0, num_scales, num_steps, hidden_channels)
            widest = h * w // 4 * hidden_channels
        else:
            layers = self._steps(event_shape, num_steps, lambda c, s, k: self._mlp(event_shape[0], hidden_units, s, k))
            layers.append(ActNorm(event_shape, data_init=False, dtype=dtype, name="top_prior"))
            widest = max(hidden_units)
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
            front + layers,
            event_shape,
            parameters=parameters,
            pixel_levels=pixel_levels,
            num_scales=num_scales if len(event_shape) == 3 else 1,
            widest=max(widest, front_widest),
            dtype=dtype,
            validate_args=validate_args,
            condition_dims=condition_dims,
            name=name,
        )

    def _next_seed(self):
        self._count += 1
        return 1000 * self._seed + self._count

    def _mlp(self, features, hidden_units, seed, num_outputs):
        return MLPConditioner(
            features,
            hidden_units,
            num_outputs,
            dtype=self._options["dtype"],
            seed=seed,
            condition_dims=self._options["condition_dims"],
        )

    def _steps(self, shape, num_steps, make_net):
        """`num_steps` steps of flow on events of `shape`, data side first."""
        dtype, additive = self._options["dtype"], self._options["additive"]
        image = len(shape) == 3
        # Images: the coupling moves the first half of the channels given the second, so the last
        # coupling of a level transforms the half that leaves at the split, as in Glow's code
        # (bench/README.md measures the other way round: more non-finite samples, worse bits/dim).
        mask = channel_mask(*shape, parity=1) if image else half_mask(shape[0])
        layers = []
        for _ in range(num_steps):
            self._step += 1
            i = self._step
            layers.append(ActNorm(shape, dtype=dtype, name=f"act_norm{i}"))
            layers.append(InvertibleLinear(shape, seed=self._next_seed(), dtype=dtype, name=f"invertible_1x1_{i}"))
            net = make_net(shape[-1] // 2 if image else shape[-1], self._next_seed(), 1 if additive else 2)
            scale = {} if additive else {"scale_fn": "sigmoid"}
            layers.append(
                AffineCoupling(
                    mask,
                    net,
                    additive=additive,
                    split_channels=image,
                    dtype=dtype,
                    compute_dtype=self._options["compute_dtype"],
                    name=f"coupling{i}",
                    **scale,
                )
            )
        return layers

    def _level(self, shape, level, num_scales, num_steps, hidden):
        """Level `level` and the coarser ones, data side first (a `tfb.Chain` list)."""
        h, w, c = shape
        inner_shape = (h // 2, w // 2, 4 * c)
        dtype = self._options["dtype"]

        def conv_net(channels, seed, num_outputs):
            return GlowConditioner(
                channels,
                hidden,
                num_outputs=num_outputs,
                dropout=self._dropout,
                dtype=dtype,
                seed=seed,
                condition_dims=self._options["condition_dims"],
            )

        layers = [tfb.Invert(Squeeze(name=f"squeeze{level}"))]
        layers += self._steps(inner_shape, num_steps, conv_net)
        if level == num_scales - 1:
            layers.append(ActNorm(inner_shape, data_init=False, dtype=dtype, name="top_prior"))
        else:
            # The first half leaves; its prior N(mu, sigma^2) comes from the kept (second) half.
            prior_net = ZeroConvConditioner(
                2 * c,
                num_outputs=2,
                dtype=dtype,
                seed=self._next_seed(),
                condition_dims=self._options["condition_dims"],
            )
            layers.append(
                AffineCoupling(
                    channel_mask(*inner_shape, parity=1),
                    prior_net,
                    scale_fn="exp",
                    split_channels=True,
                    dtype=dtype,
                    compute_dtype=self._options["compute_dtype"],
                    name=f"split_prior{level}",
                )
            )
            inner = self._level((h // 2, w // 2, 2 * c), level + 1, num_scales, num_steps, hidden)
            layers.append(FactorOut(FlowChain(inner, event_ndims=3, name=f"level{level + 1}"), 2 * c))
        layers.append(Squeeze(name=f"unsqueeze{level}"))
        return layers
