"""Normalizing flows of the Real NVP family (Real NVP, Glow, NICE) and autoregressive flows (MAF, IAF, NAF, SOS)
as TensorFlow Probability bijectors and distributions."""

from tfp_realnvp import bijectors, data, networks
from tfp_realnvp.models import IAF, MAF, MODELS, NAF, NICE, SOS, AutoregressiveFlow, Flow, Glow, RealNVP
from tfp_realnvp.training import TrainConfig, Trainer, evaluate

__all__ = [
    "IAF",
    "MAF",
    "MODELS",
    "NAF",
    "NICE",
    "SOS",
    "AutoregressiveFlow",
    "Flow",
    "Glow",
    "RealNVP",
    "TrainConfig",
    "Trainer",
    "bijectors",
    "data",
    "evaluate",
    "networks",
]
__version__ = "0.1.0"
