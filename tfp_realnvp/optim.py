"""Adam with flat, fused state: one update for all of a flow's variables."""

import tensorflow as tf

__all__ = ["FusedAdam"]


class FusedAdam(tf.Module):
    """Adam (Kingma & Ba, arXiv:1412.6980) whose moments are two flat vectors.

    A flow has hundreds of small variables; per-variable optimizers trace and run a dozen
    ops for each. Here the gradients are concatenated once, clipped by their global norm,
    pushed through one Adam update and split back, so the training step compiles quickly
    (and under XLA) and runs fewer kernels. Update, for t = 1, 2, ...:

        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
        w -= lr(t - 1) * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    `apply` must run in a cross-replica context (or without a strategy) with gradients that
    are already summed over replicas; every replica's copy then gets the same update.
    """

    def __init__(
        self, variables, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-7, clip_norm=None, name="fused_adam"
    ):
        super().__init__(name=name)
        self._shapes = [tuple(v.shape) for v in variables]
        self._sizes = [int(v.shape.num_elements()) for v in variables]
        total = sum(self._sizes)
        dtype = variables[0].dtype
        self.learning_rate = learning_rate if callable(learning_rate) else (lambda step: learning_rate)
        self.beta1, self.beta2, self.epsilon, self.clip_norm = beta1, beta2, epsilon, clip_norm
        with self.name_scope:
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
            self.m = tf.Variable(tf.zeros([total], dtype), trainable=False, name="m")
            self.v = tf.Variable(tf.zeros([total], dtype), trainable=False, name="v")

    def apply(self, grads, variables):
        """One Adam step on `variables` (the list given at construction, same order)."""
        if [tuple(v.shape) for v in variables] != self._shapes:
            raise ValueError("`variables` must be the list the optimizer was built for")
        g = tf.concat([tf.reshape(tf.convert_to_tensor(gr), [-1]) for gr in grads], axis=0)
        if self.clip_norm is not None:
            norm = tf.norm(g)
            g = g * tf.minimum(tf.constant(1.0, g.dtype), self.clip_norm / tf.maximum(norm, 1e-30))
        dtype = g.dtype
        t = tf.cast(self.iterations + 1, dtype)
        lr = tf.cast(self.learning_rate(self.iterations), dtype)
        m = self.m.assign(self.beta1 * self.m + (1.0 - self.beta1) * g)
        v = self.v.assign(self.beta2 * self.v + (1.0 - self.beta2) * tf.square(g))
        alpha = lr * tf.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        update = alpha * m / (tf.sqrt(v) + self.epsilon)
        for var, part, shape in zip(variables, tf.split(update, self._sizes), self._shapes, strict=True):
            var.assign_sub(tf.reshape(part, shape))
        self.iterations.assign_add(1)
