"""ResNet conditioner for image couplings (Real NVP, arXiv:1605.08803, section 4.1)."""

import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_int, check_number, check_positive_int, check_seed
from tfp_realnvp.networks.condition import ConditionBias, check_condition_dims, checked_condition
from tfp_realnvp.networks.dropout import per_example_dropout
from tfp_realnvp.networks.weight_norm import WeightNormConv2D, ZeroConv2D

__all__ = ["ResNetConditioner"]


class ResNetConditioner(tf.Module):
    """Maps a masked image [N, H, W, C] to `num_outputs * C` channels (s and t, or t alone).

    in-conv (3x3, `hidden_channels`) -> `num_blocks` pre-activation residual blocks
    (ReLU, 3x3 conv, ReLU, 3x3 conv, + skip) -> ReLU -> zero-initialised 3x3 out-conv.
    Every hidden conv is weight-normalized; the zero output layer makes a new coupling
    the identity. No batch norm inside, so the conditioner is the same function in
    training and inference and under any distribution strategy. `dropout` > 0 drops units
    between the two convs of each block when called with `training=True` (as in Flow++,
    arXiv:1902.00275: it regularizes small datasets); inference is deterministic. With a
    stateless `seed` (two ints) example b's masks are a function of the seed (block i uses it
    folded with i) and of `example_offset + b`, its position in the global batch
    (`per_example_dropout`), so seeded training runs repeat exactly, XLA included, on any number
    of replicas; without one they come from TF's global generator. With `condition_dims` > 0 the
    call takes a `condition` [N, condition_dims] (e.g. a one-hot label), added to the in-conv's
    output at every position as a learned bias (`ConditionBias`).
    """

    def __init__(
        self,
        in_channels,
        hidden_channels=64,
        num_blocks=2,
        num_outputs=2,
        dropout=0.0,
        dtype=tf.float32,
        seed=0,
        condition_dims=0,
        name="resnet_conditioner",
    ):
        super().__init__(name=name)
        in_channels = check_positive_int(in_channels, "`in_channels`")
        hidden_channels = check_positive_int(hidden_channels, "`hidden_channels`")
        num_blocks = check_int(num_blocks, "`num_blocks`", minimum=0)
        num_outputs = check_positive_int(num_outputs, "`num_outputs`")
        self.dropout = check_number(dropout, "`dropout`", 0.0, 1.0, high_open=True)
        dtype = check_dtype(dtype, "`dtype`")
        seed = check_seed(seed, "`seed`", upper=2**62)
        self.condition_dims = check_condition_dims(condition_dims)
        with self.name_scope:
            self.in_conv = WeightNormConv2D(in_channels, hidden_channels, dtype=dtype, seed=seed, name="in_conv")
            self.condition_bias = (
                ConditionBias(self.condition_dims, hidden_channels, dtype=dtype, seed=seed) if condition_dims else None
            )
            self.blocks = [
                (
                    WeightNormConv2D(
                        hidden_channels, hidden_channels, dtype=dtype, seed=seed + 2 * i + 1, name=f"block{i}_a"
                    ),
                    WeightNormConv2D(
                        hidden_channels, hidden_channels, dtype=dtype, seed=seed + 2 * i + 2, name=f"block{i}_b"
                    ),
                )
                for i in range(num_blocks)
            ]
            self.out_conv = ZeroConv2D(hidden_channels, num_outputs * in_channels, dtype=dtype, name="out_conv")

    def __call__(self, x, training=False, seed=None, example_offset=0, condition=None):
        condition = checked_condition(condition, self.condition_dims, x.shape[0], self.name)
        h = self.in_conv(x)
        if condition is not None:
            h = h + self.condition_bias(condition, h)
        for i, (conv_a, conv_b) in enumerate(self.blocks):
            inner = tf.nn.relu(conv_a(tf.nn.relu(h)))
            if training and self.dropout:
                if seed is None:
                    inner = tf.nn.dropout(inner, rate=self.dropout)
                else:
                    block_seed = tf.random.experimental.stateless_fold_in(seed, i)
                    inner = per_example_dropout(inner, self.dropout, block_seed, example_offset)
            h = h + conv_b(inner)
        return self.out_conv(tf.nn.relu(h))
