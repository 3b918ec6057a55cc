"""Autoregressive flows with non-affine monotone transformers: NAF (deep sigmoidal) and SOS (sum of squares)."""

from tfp_realnvp._validation import check_positive_int
from tfp_realnvp.bijectors.transformers import DeepSigmoidalTransformer, SumOfSquaresTransformer
from tfp_realnvp.models.autoregressive import AutoregressiveFlow

__all__ = ["NAF", "SOS"]


class NAF(AutoregressiveFlow):
    """Neural autoregressive flow (Huang et al. 2018) with deep sigmoidal transformers (DSF):
    `AutoregressiveFlow` whose layers map, data -> latent,

        z_i = logit(sum_j w_j sigmoid(a_j x_i + b_j)),   (a, b, w) from the MADE on x_<i,

    `sigmoid_units` sigmoids per dimension (`DeepSigmoidalTransformer`: a > 0, w a softmax; every
    layer starts near the identity). `log_prob` and training cost one MADE pass per layer, like
    MAF; `sample` / `decode` take D MADE passes per layer, each inverting the transformer by
    bisection (absolute tolerance 1e-6 in x, float32: an ulp at least, then a Newton step).
    The other options (`num_layers`, `hidden_units`, `residual_blocks`, `mixing`, `batch_norm`,
    `condition_dims`, images through `pixel_levels`, ...) are `AutoregressiveFlow`'s.

    Examples:

    ```python
    flow = tfp_realnvp.NAF(event_shape=(2,), sigmoid_units=16)
    loss = -tf.reduce_mean(flow.log_prob(points))
    samples = flow.sample(100)
    ```

    References:
      Huang, Krueger, Lacoste & Courville, Neural autoregressive flows, arXiv:1804.00779.
    """

    TRANSFORMER_OPTIONS = {"sigmoid_units": 16}
    ZERO_OUTPUT = True

    def _make_transformer(self, sigmoid_units):
        return DeepSigmoidalTransformer(check_positive_int(sigmoid_units, "`sigmoid_units`"))


class SOS(AutoregressiveFlow):
    """Sum-of-squares polynomial flow (Jaini et al. 2019): `AutoregressiveFlow` whose layers map,
    data -> latent, each x_i through the integral of a sum of `num_squares` squared polynomials of
    degree `degree` (`SumOfSquaresTransformer`: a polynomial of degree 2 `degree` + 1 on [-4, 4]
    with linear tails beyond and its gain per layer within e^+-1; every layer starts as the
    identity), the coefficients and the shift from the MADE on x_<i. Costs as `NAF`: one MADE pass
    per layer for `log_prob`, D passes with a bisection each for `sample`. The other options are
    `AutoregressiveFlow`'s.

    Examples:

    ```python
    flow = tfp_realnvp.SOS(event_shape=(2,), degree=3, num_squares=2)
    loss = -tf.reduce_mean(flow.log_prob(points))
    ```

    References:
      Jaini, Selby & Yu, Sum-of-squares polynomial flow, arXiv:1905.02325.
    """

    TRANSFORMER_OPTIONS = {"degree": 3, "num_squares": 2}
    ZERO_OUTPUT = True

    def _make_transformer(self, degree, num_squares):
        return SumOfSquaresTransformer(
            check_positive_int(degree, "`degree`"), check_positive_int(num_squares, "`num_squares`")
        )
