"""MLP conditioner for vector couplings."""

import tensorflow as tf

from tfp_realnvp._validation import check_dtype, check_positive_int, check_seed, check_sizes
from tfp_realnvp.networks.weight_norm import WeightNormDense, ZeroDense

__all__ = ["MLPConditioner"]


class MLPConditioner(tf.Module):
    """Maps a masked vector [N, D] to `num_outputs * D` values: weight-normalized ReLU MLP,
    zero-initialised output layer (a new coupling is the identity) whose result is multiplied by
    the constant `output_scale`. Adam moves every weight by about its learning rate per step
    whatever the gradient's size, so `output_scale` < 1 shrinks how far one step moves the output
    (the shift and log-scale) without changing the initial function."""

    def __init__(
        self,
        features,
        hidden_units=(256, 256),
        num_outputs=2,
        dtype=tf.float32,
        seed=0,
        output_scale=1.0,
        name="mlp_conditioner",
    ):
        super().__init__(name=name)
        features = check_positive_int(features, "`features`")
        hidden_units = check_sizes(hidden_units, "`hidden_units`")
        num_outputs = check_positive_int(num_outputs, "`num_outputs`")
        dtype = check_dtype(dtype, "`dtype`")
        seed = check_seed(seed, "`seed`", upper=2**62)
        if isinstance(output_scale, bool) or not isinstance(output_scale, (int, float)) or not output_scale > 0:
            raise ValueError(f"`output_scale` must be a positive number, got {output_scale!r}")
        self.output_scale = float(output_scale)
        sizes = [features, *hidden_units]
        with self.name_scope:
            self.hidden = [
                WeightNormDense(a, b, dtype=dtype, seed=seed + i, name=f"dense{i}")
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
            ]
            self.out = ZeroDense(sizes[-1], num_outputs * features, dtype=dtype, name="out")

    def __call__(self, x):
        for layer in self.hidden:
            x = tf.nn.relu(layer(x))
        out = self.out(x)
        return out if self.output_scale == 1.0 else out * tf.cast(self.output_scale, out.dtype)
