"""MLP conditioner for vector couplings."""

import tensorflow as tf

from tfp_realnvp.networks.weight_norm import WeightNormDense, ZeroDense

__all__ = ["MLPConditioner"]


class MLPConditioner(tf.Module):
    """Maps a masked vector [N, D] to `num_outputs * D` values: weight-normalized ReLU MLP,
    zero-initialised output layer (a new coupling is the identity)."""

    def __init__(
        self, features, hidden_units=(256, 256), num_outputs=2, dtype=tf.float32, seed=0, name="mlp_conditioner"
    ):
        super().__init__(name=name)
        if not hidden_units or any(h < 1 for h in hidden_units):
            raise ValueError(f"`hidden_units` must be a non-empty sequence of positive ints, got {hidden_units!r}")
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
        return self.out(x)
