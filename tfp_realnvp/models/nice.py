"""NICE: additive couplings with MLP conditioners and a diagonal scaling (Dinh, Krueger & Bengio 2014)."""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import check_positive_int, check_sizes
from tfp_realnvp.bijectors import AffineCoupling, DiagonalScale, alternating_mask
from tfp_realnvp.models.flow import Flow, checked_common_args, pixel_front
from tfp_realnvp.networks import MLPConditioner
from tfp_realnvp.networks.condition import check_condition_dims

__all__ = ["NICE"]

_SEED_LIMIT = 2**22  # the conditioners' weight seeds are 1000 * seed + an index


class _Flattened(tf.Module):
    """An MLP conditioner on the flattened event: [N, *event] -> [N, *event[:-1], k * C]."""

    def __init__(self, event_shape, hidden_units, num_outputs, dtype, seed, condition_dims, name):
        super().__init__(name=name)
        self._event_shape = tuple(event_shape)
        self._num_outputs = num_outputs
        with self.name_scope:
            self.mlp = MLPConditioner(
                int(np.prod(event_shape)),
                hidden_units,
                num_outputs=num_outputs,
                dtype=dtype,
                seed=seed,
                condition_dims=condition_dims,
                name="mlp",
            )

    def __call__(self, x, condition=None):
        out = self.mlp(tf.reshape(x, [-1, int(np.prod(self._event_shape))]), condition=condition)
        parts = tf.split(out, self._num_outputs, axis=-1)  # each [N, D]: s_raw then t, or t alone
        return tf.concat([tf.reshape(p, [-1, *self._event_shape]) for p in parts], axis=-1)


class NICE(Flow):
    """NICE (Dinh, Krueger & Bengio 2014): a `Flow` of a factorial prior through additive couplings.

    Data -> latent: `num_couplings` additive couplings `y_b = x_b + m(x_a)` on the flattened
    event, alternating between the even and the odd dimensions (index order of the flattened
    event), each `m` a ReLU MLP (`hidden_units`, weight-normalised, zero-initialised output, so
    the flow starts as the identity), then `DiagonalScale`: every dimension times its own learned
    scale, the only layer with a log-det (the couplings preserve volume). The prior is the
    standard logistic (`prior="logistic"`, the paper's choice for its image models) or N(0, I)
    (`prior="normal"`); `sample(n, temperature=T)` scales the prior's draw by T.

    Images `[H, W, C]` take `pixel_levels` (default 256): `PixelLogit(K, alpha)` comes first, so
    `log_prob` takes dequantized pixels in [0, K) and `bits_per_dim` is in the papers' units;
    the couplings see the H * W * C pixels as one vector and the latent keeps the image's shape.
    Vectors `[D]`, D >= 2, are used as they are. The defaults are the paper's MNIST model: 4
    couplings of 5 hidden layers of 1000 units (Table 1). `compute_dtype` runs the MLPs in
    that dtype (mixed precision); variables, transforms and `log_prob` stay in `dtype`.
    `condition_dims=K` > 0 builds a conditional flow p(x | c): every coupling's MLP takes the
    condition c [..., K] (e.g. a one-hot label; `Flow`).

    Examples:

    ```python
    flow = tfp_realnvp.NICE(event_shape=(28, 28, 1))  # pixels in [0, 256)
    loss = -tf.reduce_mean(flow.log_prob(dequantized_pixels))
    images = flow.sample(16)
    ```

    References:
      Dinh, Krueger & Bengio, NICE: Non-linear independent components estimation, arXiv:1410.8516.
    """

    IMAGE_OPTIONS = frozenset(("alpha",))

    def __init__(
        self,
        event_shape,
        num_couplings=4,
        hidden_units=(1000, 1000, 1000, 1000, 1000),
        prior="logistic",
        pixel_levels=None,
        alpha=0.05,
        dtype=tf.float32,
        compute_dtype=None,
        seed=0,
        validate_args=False,
        condition_dims=0,
        name="NICE",
    ):
        parameters = dict(locals())
        event_shape, pixel_levels, dtype, compute_dtype, seed, validate_args = checked_common_args(
            event_shape, pixel_levels, dtype, compute_dtype, seed, _SEED_LIMIT, validate_args, name
        )
        num_couplings = check_positive_int(num_couplings, "`num_couplings`")
        condition_dims = check_condition_dims(condition_dims)
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        dims = int(np.prod(event_shape))
        if dims < 2:
            raise ValueError(f"`event_shape` {list(event_shape)}: NICE's couplings need at least 2 dimensions")
        layers, _ = pixel_front(event_shape, pixel_levels, alpha, "uniform", None, dtype, 0, validate_args)
        for i in range(num_couplings):
            mask = alternating_mask(dims, i % 2).reshape(event_shape)
            net_seed = 1000 * seed + 10 * (i + 1)
            if len(event_shape) == 1:
                net = MLPConditioner(
                    dims,
                    hidden_units,
                    num_outputs=1,
                    dtype=dtype,
                    seed=net_seed,
                    condition_dims=condition_dims,
                    name=f"mlp{i + 1}",
                )
            else:
                net = _Flattened(event_shape, hidden_units, 1, dtype, net_seed, condition_dims, name=f"mlp{i + 1}")
            layers.append(
                AffineCoupling(
                    mask, net, additive=True, dtype=dtype, compute_dtype=compute_dtype, name=f"coupling{i + 1}"
                )
            )
        layers.append(DiagonalScale(event_shape, dtype=dtype, name="scaling"))
        super().__init__(
            layers,
            event_shape,
            parameters=parameters,
            pixel_levels=pixel_levels,
            prior=prior,
            widest=max(hidden_units),
            dtype=dtype,
            validate_args=validate_args,
            condition_dims=condition_dims,
            name=name,
        )
