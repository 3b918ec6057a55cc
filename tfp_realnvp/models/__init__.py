"""Assembled flows."""

from tfp_realnvp.models.realnvp import RealNVP

__all__ = ["RealNVP"]
