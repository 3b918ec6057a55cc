"""Normalizing flows of the Real NVP family (Real NVP, Glow, NICE) as TensorFlow Probability
bijectors and distributions."""

from tfp_realnvp import bijectors, data, networks
from tfp_realnvp.models import MODELS, NICE, Flow, Glow, RealNVP
from tfp_realnvp.training import TrainConfig, Trainer, evaluate

__all__ = [
    "MODELS",
    "NICE",
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
