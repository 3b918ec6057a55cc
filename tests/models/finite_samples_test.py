"""A flow's own samples always have a finite log_prob (float32, any tested temperature), for
every model of `MODELS` (Real NVP's variants, Glow, NICE).

PixelLogit's latent -> data map saturates the sigmoid far out in logit space; before its output
was clamped into the pixel domain [0, K), samples of a perturbed flow sat on the logit's float32
limits (-14.22 and 270.22 for 256 levels) and scored NaN. Every trainable weight is perturbed so
that the couplings, batch norms and the dequantizer are far from the identity.

Glow's couplings expand a unit by at most e^7 when sampling (`SIGMOID_FLOOR`); its split priors
multiply by exp(log_std), log_std a conditioner output linear in its input, unbounded as in Kingma
& Dhariwal's code. Measured on the flows below: with weights perturbed by N(0, 0.05) Glow's
samples and their log_prob are finite through T = 2; with N(0, 0.5) the image flow's split-prior
log-std passes 88, where exp overflows float32, even at T = 0: that case is the strict xfail
below (one that starts to pass means the prior's scale was bounded, and this should move). Before
the floor the vector flow's samples (no split prior) overflowed at T = 2 with N(0, 0.5) too.

MAF's latent -> data map solves x_i = (z_i - t_i(x_<i)) * exp(-s_i(x_<i)) one dimension after the
other, so a large latent is amplified along the whole order (t_i grows with the x_j before it);
with the MADEs' earlier start (He weights, zero biases and outputs) the perturbed 16-pixel MAF
below reached ~3e10 times the latent's scale and overflowed float32 at T = 1e30. With today's
start (PyTorch-style layers, a random output layer) its samples and their log_prob are finite at
every temperature tested here, T = 1e30 included, as IAF's (one pass per layer) are.

NAF and SOS are here as vector flows only: their samples take D bisections per layer (an image
flow's five temperatures cost seconds), and the conformance suite scores the samples of their
image flows at T <= 2.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp import IAF, MAF, NAF, NICE, SOS, Glow, RealNVP
from tfp_realnvp.models import MODELS

TEMPERATURES = (0.0, 0.7, 1.0, 2.0, 10.0)


def image_flow(**kw):
    return RealNVP((8, 8, 1), pixel_levels=256, num_scales=2, hidden_channels=4, num_blocks=1, **kw)


FLOWS = {
    "image_uniform_batch_norm": lambda: image_flow(),
    "image_uniform": lambda: image_flow(batch_norm=False),
    "image_variational_batch_norm": lambda: image_flow(dequantization="variational"),
    "image_variational": lambda: image_flow(dequantization="variational", batch_norm=False),
    "image_squeeze_first": lambda: image_flow(squeeze_first=True),
    "vector": lambda: RealNVP((2,), num_couplings=4, hidden_units=(16, 16)),
    "vector_batch_norm_mixing": lambda: RealNVP(
        (3,), num_couplings=4, hidden_units=(16,), batch_norm=True, linear_mixing=True
    ),
    "image_glow": lambda: Glow((8, 8, 1), pixel_levels=256, num_scales=2, num_steps=2, hidden_channels=4),
    "vector_glow": lambda: Glow((2,), num_steps=4, hidden_units=(16, 16)),
    "image_nice": lambda: NICE((8, 8, 1), pixel_levels=256, num_couplings=4, hidden_units=(16, 16)),
    "vector_nice": lambda: NICE((2,), num_couplings=4, hidden_units=(16, 16)),
    "image_maf": lambda: MAF((4, 4, 1), pixel_levels=256, num_layers=2, hidden_units=(16,)),
    "vector_maf": lambda: MAF((2,), num_layers=4, hidden_units=(16, 16)),
    "image_iaf": lambda: IAF((4, 4, 1), pixel_levels=256, num_layers=2, hidden_units=(16,)),
    "vector_iaf": lambda: IAF((2,), num_layers=4, hidden_units=(16, 16)),
    "vector_naf": lambda: NAF((2,), num_layers=4, hidden_units=(16, 16)),
    "vector_sos": lambda: SOS((2,), num_layers=4, hidden_units=(16, 16)),
}


# Glow: up to e^7 per coupling and unbounded split priors; tested through T = 2 only.
UNBOUNDED = {name for name in FLOWS if "glow" in name}
UNBOUNDED_TEMPERATURES = (0.0, 0.7, 1.0, 2.0)
OVERFLOWS = pytest.mark.xfail(strict=True, reason="Glow's split-prior scale overflows float32 (module docstring)")


def perturbed(name, stddev):
    flow = FLOWS[name]()
    for i, v in enumerate(flow.trainable_variables):
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[i, 7], stddev=stddev, dtype=v.dtype))
    return flow


def assert_valid_samples(flow, temperature, n=256):
    x = flow.sample(n, seed=(1, 2), temperature=temperature)
    assert np.all(np.isfinite(x)), (temperature, x)
    if flow.pixel_levels:  # the data side never leaves the pixel domain
        low, high = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        assert low >= 0.0 and high < flow.pixel_levels, (temperature, low, high)
    log_prob = flow.log_prob(tf.identity(x)).numpy()  # a fresh tensor: scored, not read from the cache
    bad = ~np.isfinite(log_prob)
    assert not bad.any(), f"T={temperature}: {bad.sum()} of {bad.size} samples have log_prob {log_prob[bad][:4]}"


def test_every_registered_model_has_flows_here():
    classes = {type(make()) for make in FLOWS.values()}
    missing = [name for name, cls in MODELS.items() if cls not in classes]
    assert not missing, f"no flows of {missing} in FLOWS"


@pytest.mark.parametrize(
    "name, stddev",
    [
        pytest.param(name, stddev, marks=[OVERFLOWS] if name == "image_glow" and stddev == 0.5 else [])
        for name in FLOWS
        for stddev in (0.05, 0.5)
    ],
)
def test_samples_of_a_perturbed_flow_have_a_finite_log_prob(name, stddev):
    flow = perturbed(name, stddev)
    for t in UNBOUNDED_TEMPERATURES if name in UNBOUNDED else TEMPERATURES:
        assert_valid_samples(flow, t)


@pytest.mark.parametrize(
    "name",
    [name for name in FLOWS if name.startswith("image") and name not in UNBOUNDED],
)
def test_image_samples_stay_valid_at_absurd_temperatures(name):
    """The clamp holds wherever the couplings carry the latent without overflow (measured:
    through T = 1e32 with these weights; RealNVP's docstring has the bound)."""
    flow = perturbed(name, 0.5)
    for t in (1e4, 1e30):
        assert_valid_samples(flow, t, n=64)
