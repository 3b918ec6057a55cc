"""Conditioner networks: the s/t functions of the coupling layers."""

from tfp_realnvp.networks.glow import GlowConditioner, ZeroConvConditioner
from tfp_realnvp.networks.made import MADE
from tfp_realnvp.networks.mlp import MLPConditioner
from tfp_realnvp.networks.resnet import ResNetConditioner
from tfp_realnvp.networks.weight_norm import WeightNormConv2D, WeightNormDense, conv2d_same

__all__ = [
    "GlowConditioner",
    "MADE",
    "MLPConditioner",
    "ResNetConditioner",
    "WeightNormConv2D",
    "WeightNormDense",
    "ZeroConvConditioner",
    "conv2d_same",
]
