"""The flow models, one `Flow` base: Real NVP, Glow, NICE, MAF, IAF, NAF and SOS, and the registry that names them."""

from tfp_realnvp.models.autoregressive import IAF, MAF, AutoregressiveFlow
from tfp_realnvp.models.flow import Flow
from tfp_realnvp.models.glow import Glow
from tfp_realnvp.models.neural_autoregressive import NAF, SOS
from tfp_realnvp.models.nice import NICE
from tfp_realnvp.models.realnvp import RealNVP

# Every registered model trains, evaluates, exports and benchmarks through the same code
# (`--model=<name>` in experiments/); a new model is a `Flow` subclass and an entry here.
MODELS = {"realnvp": RealNVP, "glow": Glow, "nice": NICE, "maf": MAF, "iaf": IAF, "naf": NAF, "sos": SOS}

__all__ = ["IAF", "MAF", "MODELS", "NAF", "NICE", "SOS", "AutoregressiveFlow", "Flow", "Glow", "RealNVP"]
