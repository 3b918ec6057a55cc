"""MADE: a masked MLP whose output for each dimension depends only on the dimensions before it."""

import numpy as np
import tensorflow as tf

from tfp_realnvp._validation import (
    check_bool,
    check_dtype,
    check_int,
    check_positive_int,
    check_seed,
    check_sizes,
    is_int,
)
from tfp_realnvp.networks.condition import ConditionBias, check_condition_dims, checked_condition

__all__ = ["MADE"]

ORDERS = ("natural", "reversed", "random")


def _check_order(order, features, seed):
    """The generation order as a tuple of dimensions: order[k] is the k-th dimension generated."""
    if isinstance(order, str):
        if order not in ORDERS:
            raise ValueError(
                f"`order` must be one of {', '.join(map(repr, ORDERS))} or a permutation of range({features}), "
                f"got {order!r}"
            )
        if order == "natural":
            return tuple(range(features))
        if order == "reversed":
            return tuple(range(features - 1, -1, -1))
        return tuple(int(i) for i in np.random.default_rng(seed).permutation(features))
    try:
        values = list(order)
    except TypeError:
        values = None
    if values is None or sorted(v if is_int(v) else -1 for v in values) != list(range(features)):
        raise ValueError(
            f"`order` must be one of {', '.join(map(repr, ORDERS))} or a permutation of range({features}), "
            f"got {order!r}"
        )
    return tuple(int(v) for v in values)


def hidden_degrees(width, low, high):
    """Degrees in [low, high] for `width` hidden units: every degree in turn (cyclically) when the
    layer is at least `high - low + 1` wide, else spread evenly with both ends included (a single
    unit gets `low`). A unit of degree k sees the inputs of degree <= k and feeds the outputs of
    degree > k, so with both ends in every layer each unit has a predecessor and a successor."""
    count = high - low + 1
    if width >= count:
        return low + np.arange(width) % count
    if width == 1:
        return np.array([low])
    return np.round(np.linspace(low, high, width)).astype(int)


class _MaskedDense(tf.Module):
    """y = x (W * M) + b with a fixed 0/1 mask M [n_in, n_out]. W and b start uniform in
    +-1 / sqrt(n_in), n_in counting masked inputs too (PyTorch's `nn.Linear` default, which zuko's
    MADE starts from), or at zero (`zero=True`). `seed` (made_seed, layer): the layer's own
    stateless streams, [made_seed, 2 layer] and [made_seed, 2 layer + 1]."""

    def __init__(self, mask, dtype, seed, zero=False, name="masked_dense"):
        super().__init__(name=name)
        mask = np.asarray(mask, np.float32)
        if zero:
            kernel, bias = tf.zeros(mask.shape, dtype), tf.zeros([mask.shape[1]], dtype)
        else:
            bound = 1.0 / np.sqrt(mask.shape[0])
            kernel, bias = (
                tf.random.stateless_uniform(
                    shape, seed=[seed[0], 2 * seed[1] + i], minval=-bound, maxval=bound, dtype=dtype
                )
                for i, shape in enumerate((mask.shape, [mask.shape[1]]))
            )
            kernel = kernel * tf.constant(mask, dtype)
        with self.name_scope:
            self.mask = tf.constant(mask, dtype)
            self.kernel = tf.Variable(kernel, name="kernel")
            self.bias = tf.Variable(bias, name="bias")

    def __call__(self, x):
        # Computes in the input's dtype (mixed precision: float16 / bfloat16 inputs, float32 variables).
        kernel = tf.cast(self.kernel * self.mask, x.dtype)
        return tf.matmul(x, kernel) + tf.cast(self.bias, x.dtype)


class MADE(tf.Module):
    """Masked autoencoder for distribution estimation (Germain et al. 2015): a ReLU MLP from x [N, D]
    to [N, D, params_per_dim] whose output for dimension i depends only on the dimensions that come
    before i in `order`, the conditioner of a masked autoregressive flow.

    `order` is the generation order: `"natural"` (0, 1, ..., D-1), `"reversed"`, `"random"` (a
    permutation drawn from `seed`) or an explicit permutation of range(D), `order[0]` being the
    dimension that depends on nothing. `self.order` holds it as a tuple and `self.degrees[i]` the
    position of dimension i in it.

    The masks come from degrees: input i has degree `degrees[i]`, each hidden unit a degree k in
    [0, D-2] (in [-1, D-2] with a condition: degree -1 units see the condition alone, which is what
    the first dimension's parameters then depend on), and a connection exists from a unit of degree
    a to a hidden unit of degree b when a <= b, to an output of dimension i when a < degrees[i].
    Hidden degrees cycle through the whole range in every layer at least that wide, else are spread
    evenly with both ends kept (`hidden_degrees`), so every hidden unit has inputs and outputs
    whenever each layer has at least two units.

    `residual_blocks` > 0 adds that many masked residual blocks after the hidden layers, each
    `h + B2(relu(B1(h)))` with B1 and B2 masked dense layers on the last hidden layer's degrees
    (connections a <= b, so the autoregressive property holds) and B2 zero-initialised: a new
    block is the identity.

    The hidden layers, the blocks' first layers and (`zero_output=False`, the default) the output
    layer start as PyTorch's `nn.Linear` does (weights and biases uniform in +-1 / sqrt(fan_in), as
    in zuko's MADE): the random first-layer biases place the ReLUs' kinks across the data from the
    start. `zero_output=True` starts the output layer at 0 instead, so every output is 0 and a flow
    of such layers starts at its transformers' zero parameters. Measured in a plain Adam loop on
    the 2-D densities (bench/README.md): this hidden start trains MAF, SOS and NAF to lower KL than
    He weights with zero biases; MAF also gains from the random output layer, SOS from the zero
    one, which NAF keeps too (their models' `ZERO_OUTPUT`).

    `condition_dims` > 0 makes it a conditional MADE: `__call__(x, condition)` takes a condition
    [N, condition_dims], which enters every unit of the first hidden layer as a learned bias
    (`ConditionBias`: an unmasked linear map of the condition, the same as feeding it as extra
    inputs to that layer); the residual blocks and the output layer see it through the hidden
    units only, which suffices: every output dimension, the first one included (through the
    degree -1 units), depends on it. Built with 0, passing a condition is an error, and the other
    way round.

    The layers compute in their input's dtype (mixed precision: cast x and the condition to
    float16 / bfloat16; the variables stay in `dtype`).

    Examples:

    ```python
    made = MADE(features=3, hidden_units=(64, 64), params_per_dim=2)
    params = made(x)  # [N, 3, 2]; params[:, 1] depends on x[:, 0] only, params[:, 0] is constant
    ```

    References:
      Germain, Gregor, Murray & Larochelle, MADE: Masked autoencoder for distribution estimation,
      arXiv:1502.03509.
      Papamakarios, Pavlakou & Murray, Masked autoregressive flow for density estimation, arXiv:1705.07057.
    """

    def __init__(
        self,
        features,
        hidden_units=(64, 64),
        params_per_dim=2,
        order="natural",
        residual_blocks=0,
        condition_dims=0,
        zero_output=False,
        dtype=tf.float32,
        seed=0,
        name="made",
    ):
        super().__init__(name=name)
        features = check_int(features, "`features`", minimum=2)
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        params_per_dim = check_positive_int(params_per_dim, "`params_per_dim`")
        residual_blocks = check_int(residual_blocks, "`residual_blocks`", minimum=0)
        condition_dims = check_condition_dims(condition_dims)
        zero_output = check_bool(zero_output, "`zero_output`")
        dtype = check_dtype(dtype, "`dtype`")
        seed = check_seed(seed, "`seed`", upper=2**62)
        self.features, self.params_per_dim = features, params_per_dim
        self.hidden_units, self.residual_blocks = hidden_units, residual_blocks
        self.condition_dims = condition_dims
        self.order = _check_order(order, features, seed)
        degrees = np.empty(features, int)
        degrees[list(self.order)] = np.arange(features)
        self.degrees = tuple(int(d) for d in degrees)
        low = -1 if condition_dims else 0
        layer_degrees = [degrees] + [hidden_degrees(width, low, features - 2) for width in hidden_units]
        out_degrees = np.repeat(degrees, params_per_dim)  # output unit i * P + p belongs to dimension i
        with self.name_scope:
            self.hidden = [
                _MaskedDense(a[:, None] <= b[None, :], dtype, (seed, i), name=f"masked_dense{i}")
                for i, (a, b) in enumerate(zip(layer_degrees[:-1], layer_degrees[1:]))
            ]
            last = layer_degrees[-1]
            square = last[:, None] <= last[None, :]
            self.blocks = [
                (
                    _MaskedDense(square, dtype, (seed, 100 + i), name=f"block{i}_a"),
                    _MaskedDense(square, dtype, (seed, 0), zero=True, name=f"block{i}_b"),
                )
                for i in range(residual_blocks)
            ]
            self.condition_bias = (  # the layers draw from streams [seed, 0 .. 401]
                ConditionBias(condition_dims, hidden_units[0], dtype=dtype, seed=seed, stream=1000)
                if condition_dims
                else None
            )
            self.out = _MaskedDense(
                last[:, None] < out_degrees[None, :], dtype, (seed, 200), zero=zero_output, name="out"
            )

    def __call__(self, x, condition=None):
        x = tf.convert_to_tensor(x)
        if x.shape.rank is not None and (x.shape.rank != 2 or x.shape[-1] not in (None, self.features)):
            raise ValueError(f"{self.name}: `x` must have shape [N, {self.features}], got {x.shape}")
        condition = checked_condition(condition, self.condition_dims, x.shape[0], self.name)
        h = x
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            h = tf.nn.relu(h if i or condition is None else h + self.condition_bias(condition, h))
        for first, second in self.blocks:
            h = h + second(tf.nn.relu(first(h)))
        return tf.reshape(self.out(h), [-1, self.features, self.params_per_dim])
