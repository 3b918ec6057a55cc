"""Real NVP normalizing flows (Dinh et al., 2016) as TensorFlow Probability bijectors and distributions."""

from tfp_realnvp import bijectors, data, networks
from tfp_realnvp.models import RealNVP
from tfp_realnvp.training import TrainConfig, Trainer, evaluate

__all__ = ["RealNVP", "TrainConfig", "Trainer", "bijectors", "data", "evaluate", "networks"]
__version__ = "0.1.0"
