"""Real NVP bijectors: coupling, squeeze, batch norm, pixel preprocessing, dequantization and composites."""

from tfp_realnvp.bijectors.act_norm import ActNorm
from tfp_realnvp.bijectors.affine_coupling import (
    AffineCoupling,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    half_mask,
    squeezed_checkerboard_mask,
)
from tfp_realnvp.bijectors.autoregressive import AffineTransformer, MaskedAutoregressive, Transformer
from tfp_realnvp.bijectors.composition import FactorOut, FlowChain
from tfp_realnvp.bijectors.diagonal_scale import DiagonalScale
from tfp_realnvp.bijectors.invertible_linear import InvertibleLinear
from tfp_realnvp.bijectors.moving_average_batch_norm import MovingAverageBatchNorm
from tfp_realnvp.bijectors.one_pass import OnePassBijector, TrainingCall
from tfp_realnvp.bijectors.pixel_logit import PixelLogit
from tfp_realnvp.bijectors.squeeze import Squeeze
from tfp_realnvp.bijectors.transformers import DeepSigmoidalTransformer, SumOfSquaresTransformer, bisection_inverse
from tfp_realnvp.bijectors.variational_dequantization import VariationalDequantization

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "AffineTransformer",
    "DeepSigmoidalTransformer",
    "DiagonalScale",
    "FactorOut",
    "FlowChain",
    "InvertibleLinear",
    "MaskedAutoregressive",
    "MovingAverageBatchNorm",
    "OnePassBijector",
    "PixelLogit",
    "Squeeze",
    "SumOfSquaresTransformer",
    "TrainingCall",
    "Transformer",
    "VariationalDequantization",
    "alternating_mask",
    "bisection_inverse",
    "channel_mask",
    "checkerboard_mask",
    "half_mask",
    "squeezed_checkerboard_mask",
]
