"""Squeeze: trade spatial resolution for channels in 2x2 subsquares."""

import tensorflow as tf

from tfp_realnvp.bijectors.one_pass import OnePassBijector, batch_shape_tensor, flatten_batch, unflatten_batch

__all__ = ["Squeeze"]


class Squeeze(OnePassBijector):
    """Reshape each 2x2 subsquare of an [H, W, C] event into 4C channels.

        forward:  [H, W, C] -> [H/2, W/2, 4C],  y[i, j, (2*di + dj)*C + c] = x[2i + di, 2j + dj, c]
        inverse:  the reverse rearrangement
        log|det J| = 0 (a permutation of coordinates)

    In the Real NVP multi-scale architecture the data -> latent direction squeezes, so a flow
    written in TFP's latent -> data convention holds `tfb.Invert(Squeeze())`.

    Examples:

    ```python
    flow = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.), [4, 4, 4]), tfb.Invert(Squeeze()))
    flow.event_shape  # [8, 8, 1]
    ```

    References:
      Dinh, Sohl-Dickstein & Bengio, Density estimation using Real NVP, arXiv:1605.08803, section 3.6.
    """

    def __init__(self, validate_args=False, name="squeeze"):
        parameters = dict(locals())
        super().__init__(
            forward_min_event_ndims=3,
            is_constant_jacobian=True,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )

    def _get_parameterization(self):
        return self.parameters  # stateless: equal parameters mean equal maps

    @staticmethod
    def _squeezed_shape(shape):
        h, w, c = shape
        for what, size in (("height", h), ("width", w)):
            if size is not None and size % 2:
                raise ValueError(f"Squeeze needs an even {what}, got an event of shape [{h}, {w}, {c}]")
        return [None if d is None else d // 2 for d in (h, w)] + [None if c is None else 4 * c]

    @staticmethod
    def _unsqueezed_shape(shape):
        h, w, c = shape
        if c is not None and c % 4:
            raise ValueError(f"the inverse of Squeeze needs channels divisible by 4, got [{h}, {w}, {c}]")
        return [None if h is None else 2 * h, None if w is None else 2 * w, None if c is None else c // 4]

    def _forward_event_shape(self, input_shape):
        return tf.TensorShape(self._squeezed_shape(input_shape[-3:].as_list()))

    def _inverse_event_shape(self, output_shape):
        return tf.TensorShape(self._unsqueezed_shape(output_shape[-3:].as_list()))

    def _forward_event_shape_tensor(self, input_shape):
        return tf.stack([input_shape[-3] // 2, input_shape[-2] // 2, input_shape[-1] * 4])

    def _inverse_event_shape_tensor(self, output_shape):
        return tf.stack([output_shape[-3] * 2, output_shape[-2] * 2, output_shape[-1] // 4])

    def _zero_log_det(self, x):
        return tf.zeros(batch_shape_tensor(x, 3), x.dtype)

    @staticmethod
    def _divisible(flat, checks):
        """Run-time checks of the dims that are unknown when traced (known ones: `_squeezed_shape`):
        `checks` holds (axis, divisor, message); the result holds tf.shape(flat)."""
        s = tf.shape(flat)
        asserts = [
            tf.debugging.assert_equal(s[axis] % divisor, 0, message=message)
            for axis, divisor, message in checks
            if flat.shape[axis] is None
        ]
        with tf.control_dependencies(asserts):
            return tf.identity(s) if asserts else s

    def _forward_and_log_det(self, x, **kwargs):
        if x.shape.rank is not None and x.shape.rank < 3:
            raise ValueError(f"Squeeze needs [..., H, W, C] input, got shape {x.shape}")
        self._squeezed_shape(x.shape[-3:].as_list())
        flat, batch_shape = flatten_batch(x, 3)
        s = self._divisible(flat, [(1, 2, "Squeeze needs an even height"), (2, 2, "Squeeze needs an even width")])
        n, h, w, c = s[0], s[1], s[2], s[3]
        y = tf.reshape(flat, [n, h // 2, 2, w // 2, 2, c])
        y = tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [n, h // 2, w // 2, 4 * c])
        return unflatten_batch(y, batch_shape, 3), self._zero_log_det(x)

    def _inverse_and_log_det(self, y, **kwargs):
        if y.shape.rank is not None and y.shape.rank < 3:
            raise ValueError(f"Squeeze.inverse needs [..., H, W, C] input, got shape {y.shape}")
        self._unsqueezed_shape(y.shape[-3:].as_list())
        flat, batch_shape = flatten_batch(y, 3)
        s = self._divisible(flat, [(3, 4, "the inverse of Squeeze needs channels divisible by 4")])
        n, h, w, c = s[0], s[1], s[2], s[3]
        x = tf.reshape(flat, [n, h, w, 2, 2, c // 4])
        x = tf.reshape(tf.transpose(x, [0, 1, 3, 2, 4, 5]), [n, 2 * h, 2 * w, c // 4])
        return unflatten_batch(x, batch_shape, 3), self._zero_log_det(y)
