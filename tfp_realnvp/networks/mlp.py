"""MLP conditioner for vector couplings."""

import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_number, check_positive_int, check_seed, check_sizes
from tfp_realnvp.networks.condition import ConditionBias, check_condition_dims, checked_condition
from tfp_realnvp.networks.weight_norm import WeightNormDense, ZeroDense

__all__ = ["MLPConditioner"]


class MLPConditioner(tf.Module):
    """Maps a masked vector [N, D] to `num_outputs * D` values: weight-normalized ReLU MLP,
    zero-initialised output layer (a new coupling is the identity) whose result is multiplied by
    the constant `output_scale`. Adam moves every weight by about its learning rate per step
    whatever the gradient's size, so `output_scale` < 1 shrinks how far one step moves the output
    (the shift and log-scale) without changing the initial function, and `hidden_step` < 1 does
    the same for the hidden layers' weight-norm directions (`WeightNormDense(direction_step=)`:
    the same initial kernels, directions that turn `hidden_step` times less per step).

    `first_bias_spread` > 0 starts the first hidden layer's biases uniform in +-spread instead of
    at 0: with zero biases every first-layer ReLU kinks where its input is 0, so the new MLP is
    piecewise linear with all its kinks through one point; spread biases place them across the
    data from the start.

    With `condition_dims` > 0 it is a conditional network: `__call__(x, condition)` takes a
    condition [N, condition_dims] (e.g. a one-hot label), which enters the first hidden layer as
    a learned bias (`ConditionBias`)."""

    def __init__(
        self,
        features,
        hidden_units=(256, 256),
        num_outputs=2,
        dtype=tf.float32,
        seed=0,
        output_scale=1.0,
        condition_dims=0,
        first_bias_spread=0.0,
        hidden_step=1.0,
        name="mlp_conditioner",
    ):
        super().__init__(name=name)
        features = check_positive_int(features, "`features`")
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        num_outputs = check_positive_int(num_outputs, "`num_outputs`")
        dtype = check_dtype(dtype, "`dtype`")
        seed = check_seed(seed, "`seed`", upper=2**62)
        self.output_scale = check_number(output_scale, "`output_scale`", 0.0, low_open=True)
        first_bias_spread = check_number(first_bias_spread, "`first_bias_spread`", 0.0)
        hidden_step = check_number(hidden_step, "`hidden_step`", 0.0, 1.0, low_open=True)
        self.condition_dims = check_condition_dims(condition_dims)
        sizes = [features, *hidden_units]
        with self.name_scope:
            self.hidden = [
                WeightNormDense(a, b, dtype=dtype, seed=seed + i, name=f"dense{i}", direction_step=hidden_step)
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
            ]
            if first_bias_spread:
                bias, spread = self.hidden[0].b, first_bias_spread
                bias.assign(tf.random.stateless_uniform(bias.shape, [seed, 1], -spread, spread, dtype=dtype))
            self.out = ZeroDense(sizes[-1], num_outputs * features, dtype=dtype, name="out")
            self.condition_bias = (
                ConditionBias(self.condition_dims, sizes[1], dtype=dtype, seed=seed) if self.condition_dims else None
            )

    def __call__(self, x, condition=None):
        condition = checked_condition(condition, self.condition_dims, x.shape[0], self.name)
        for i, layer in enumerate(self.hidden):
            h = layer(x)
            x = tf.nn.relu(h if i or condition is None else h + self.condition_bias(condition, h))
        out = self.out(x)
        return out if self.output_scale == 1.0 else out * tf.cast(self.output_scale, out.dtype)
