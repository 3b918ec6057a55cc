"""One conformance suite for every public bijector and every registered model.

Bijectors: `BIJECTORS` holds small float64 instances of every public bijector class of
`tfp_realnvp.bijectors` (image events [4, 4, 2], vector events [4]); the rule for "public
bijector class" is `public_bijector_classes()`: every name in `bijectors.__all__` that is a
class deriving from `tfb.Bijector`, except the abstract base `OnePassBijector` (no transform of
its own). `TrainingCall` (a keyword token) and the mask functions are not bijectors. Each entry,
its weights perturbed by N(0, 0.1) (ActNorm also after its data-dependent init), must:
round-trip both ways with TFP's cache broken, match the float64 autodiff Jacobian's log-det in
both directions, give the same outputs and log-dets eagerly, in `tf.function` and under XLA,
and pass gradients to every trainable variable.

Models: every entry of `tfp_realnvp.models.MODELS`, tiny (`MODEL_KWARGS`: an image and a vector
flow per model), trained a few steps (ActNorm initialised, batch norms moved) and perturbed:
encode/decode round trip, `log_prob(x) - prior(encode(x))` equals the float64 autodiff
log|det d encode / dx|, `log_prob_parts`, one conditioner pass per coupling and MAF layer (an IAF
layer: D eagerly, its loop body traced once) for a training `log_prob` and its gradient, eager ==
tf.function == XLA, gradients everywhere, finite `log_prob` of the flow's samples, and a SavedModel
export that serves the same numbers.
A new bijector or model without an entry here fails the coverage tests.
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_all_gradients_nonzero, autodiff_log_det, check_bijector, train_a_few_steps
from tfp_realnvp import bijectors as bij
from tfp_realnvp.export import export_saved_model, exported_model, load_exported
from tfp_realnvp.models import MODELS
from tfp_realnvp.networks import MADE, GlowConditioner, MLPConditioner, ResNetConditioner, ZeroConvConditioner

tfb, tfd = tfp.bijectors, tfp.distributions
F64 = tf.float64
LEVELS = 17
IMAGE = (4, 4, 2)
VECTOR = (4,)

# Public classes of `bijectors.__all__` that are not bijectors to instantiate: the abstract base.
ABSTRACT = {"OnePassBijector"}


def perturb(variables, stddev=0.1, seed=0):
    """Add N(0, stddev) to every variable (deterministically), so zero-initialised layers act."""
    for i, v in enumerate(variables):
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[seed, i], stddev=stddev, dtype=v.dtype))


# ---------------------------------------------------------------------------- bijector registry
@dataclasses.dataclass(frozen=True)
class Entry:
    """`make()` builds the bijector; `event` is its forward input's (latent side) event shape;
    `pixels`: its forward input is in [0, LEVELS) (else N(0, 1)); `init(b)` runs before the
    perturbation (ActNorm's data init, batch-norm statistics)."""

    make: Callable[[], tfb.Bijector]
    event: tuple
    pixels: bool = False
    init: Callable | None = None


def _data_batch(event, seed):
    """A batch far from N(0, 1): per-channel means 3 and spread 2 (what data init must undo)."""
    return 3.0 + 2.0 * tf.random.stateless_normal([16, *event], seed=[seed, 1], dtype=F64)


def _initialise(event):
    def init(b):
        b.inverse(_data_batch(event, 5), training=True)
        assert bool(b.initialized), "ActNorm did not initialise on its first training call"

    return init


def _move_statistics(event):
    def init(b):
        for s in range(3):
            b.inverse(_data_batch(event, s), training=True)

    return init


def _coupling(mask, conditioner, **kw):
    return bij.AffineCoupling(mask, conditioner, dtype=F64, **kw)


def _flow_chain_image():
    inner = _coupling(bij.checkerboard_mask(2, 2, 4), ResNetConditioner(4, 4, 0, dtype=F64))
    return bij.FlowChain(
        [
            _coupling(bij.checkerboard_mask(4, 4, 2), ResNetConditioner(2, 4, 0, dtype=F64, seed=1)),
            bij.MovingAverageBatchNorm(IMAGE, dtype=F64),
            tfb.Invert(bij.Squeeze()),
            bij.FactorOut(bij.FlowChain([inner], 3), 4),
            bij.Squeeze(),
        ],
        event_ndims=3,
    )


def _flow_chain_vector():
    return bij.FlowChain(
        [
            bij.ActNorm(VECTOR, data_init=False, dtype=F64),
            _coupling(bij.alternating_mask(4), MLPConditioner(4, (8,), dtype=F64, seed=3)),
            bij.InvertibleLinear(VECTOR, seed=4, dtype=F64),
            _coupling(bij.half_mask(4, 1), MLPConditioner(4, (8,), num_outputs=1, dtype=F64), additive=True),
        ],
        event_ndims=1,
    )


def _autoregressive(inverse_autoregressive, seed):
    made = MADE(4, (8,), order="random", residual_blocks=1, dtype=F64, seed=seed)
    return bij.MaskedAutoregressive(made, inverse_autoregressive=inverse_autoregressive, dtype=F64)


# The bisection-inverted transformers state their inverse to within tolerance / 2 per pass: 1e-10
# keeps a round trip through D = 4 passes far inside check_bijector's 1e-8 without loosening it.
MONOTONE_TOLERANCE = 1e-10


def _monotone(transformer, inverse_autoregressive, seed):
    made = MADE(4, (8,), params_per_dim=transformer.num_params, order="random", dtype=F64, seed=seed)
    return bij.MaskedAutoregressive(made, transformer, inverse_autoregressive=inverse_autoregressive, dtype=F64)


BIJECTORS = {
    "ActNorm-image": Entry(lambda: bij.ActNorm(IMAGE, dtype=F64), IMAGE),
    "ActNorm-image-data-init": Entry(lambda: bij.ActNorm(IMAGE, dtype=F64), IMAGE, init=_initialise(IMAGE)),
    "ActNorm-vector-no-shift-data-init": Entry(
        lambda: bij.ActNorm(VECTOR, shift=False, dtype=F64), VECTOR, init=_initialise(VECTOR)
    ),
    "AffineCoupling-image-tanh": Entry(
        lambda: _coupling(bij.checkerboard_mask(4, 4, 2), ResNetConditioner(2, 4, 1, dtype=F64, seed=5)), IMAGE
    ),
    "AffineCoupling-image-sigmoid": Entry(
        lambda: _coupling(bij.channel_mask(4, 4, 2), GlowConditioner(2, 4, dtype=F64, seed=6), scale_fn="sigmoid"),
        IMAGE,
    ),
    "AffineCoupling-image-exp": Entry(
        lambda: _coupling(bij.channel_mask(4, 4, 2, 1), ZeroConvConditioner(2, dtype=F64), scale_fn="exp"), IMAGE
    ),
    "AffineCoupling-vector-tanh": Entry(
        lambda: _coupling(bij.alternating_mask(4), MLPConditioner(4, (8,), dtype=F64, seed=7), scale_init=0.5),
        VECTOR,
    ),
    "AffineCoupling-vector-additive": Entry(
        lambda: _coupling(bij.half_mask(4), MLPConditioner(4, (8,), num_outputs=1, dtype=F64), additive=True), VECTOR
    ),
    "DiagonalScale-image": Entry(lambda: bij.DiagonalScale(IMAGE, dtype=F64), IMAGE),
    "DiagonalScale-vector": Entry(lambda: bij.DiagonalScale(VECTOR, dtype=F64), VECTOR),
    "FactorOut-image": Entry(
        lambda: bij.FactorOut(_coupling(bij.checkerboard_mask(4, 4, 1), ResNetConditioner(1, 4, 0, dtype=F64)), 1),
        IMAGE,
    ),
    "FlowChain-image": Entry(_flow_chain_image, IMAGE, init=_move_statistics(IMAGE)),
    "FlowChain-vector": Entry(_flow_chain_vector, VECTOR),
    "InvertibleLinear-image": Entry(lambda: bij.InvertibleLinear(IMAGE, seed=8, dtype=F64), IMAGE),
    "InvertibleLinear-vector": Entry(lambda: bij.InvertibleLinear(VECTOR, seed=9, dtype=F64), VECTOR),
    "MaskedAutoregressive-vector-affine-maf": Entry(lambda: _autoregressive(False, 11), VECTOR),
    "MaskedAutoregressive-vector-affine-iaf": Entry(lambda: _autoregressive(True, 12), VECTOR),
    "MaskedAutoregressive-vector-deep-sigmoidal-maf": Entry(
        lambda: _monotone(bij.DeepSigmoidalTransformer(4, tolerance=MONOTONE_TOLERANCE), False, 13), VECTOR
    ),
    "MaskedAutoregressive-vector-deep-sigmoidal-iaf": Entry(
        lambda: _monotone(bij.DeepSigmoidalTransformer(4, tolerance=MONOTONE_TOLERANCE), True, 14), VECTOR
    ),
    "MaskedAutoregressive-vector-sum-of-squares-maf": Entry(
        lambda: _monotone(bij.SumOfSquaresTransformer(2, 2, tolerance=MONOTONE_TOLERANCE), False, 15), VECTOR
    ),
    "MovingAverageBatchNorm-image": Entry(
        lambda: bij.MovingAverageBatchNorm(IMAGE, dtype=F64), IMAGE, init=_move_statistics(IMAGE)
    ),
    "MovingAverageBatchNorm-vector": Entry(
        lambda: bij.MovingAverageBatchNorm(VECTOR, momentum=0.5, dtype=F64), VECTOR, init=_move_statistics(VECTOR)
    ),
    "PixelLogit-image": Entry(lambda: bij.PixelLogit(LEVELS), IMAGE),
    "Squeeze-image": Entry(bij.Squeeze, IMAGE),
    "VariationalDequantization-image": Entry(
        lambda: bij.VariationalDequantization(IMAGE, LEVELS, hidden_channels=4, dtype=F64, seed=10),
        IMAGE,
        pixels=True,
    ),
}


def public_bijector_classes():
    """Names in `bijectors.__all__` that are `tfb.Bijector` classes, less the abstract base."""
    return {
        name
        for name in bij.__all__
        if inspect.isclass(obj := getattr(bij, name)) and issubclass(obj, tfb.Bijector) and name not in ABSTRACT
    }


def test_bijector_registry_covers_every_public_bijector_class():
    covered = {name.split("-")[0] for name in BIJECTORS}
    missing = public_bijector_classes() - covered
    assert not missing, f"public bijectors without a BIJECTORS entry: {sorted(missing)}"
    assert covered <= public_bijector_classes(), sorted(covered - public_bijector_classes())
    for name in ABSTRACT:  # excluded only while it stays abstract
        assert not hasattr(getattr(bij, name), "_forward_and_log_det"), f"{name} has a transform: add an entry"


def prepared(name):
    """The entry's bijector (initialised, then every trainable variable perturbed) and a forward input."""
    entry = BIJECTORS[name]
    b = entry.make()
    assert type(b).__name__ == name.split("-")[0], (name, type(b).__name__)
    if entry.init is not None:
        entry.init(b)
    perturb(b.trainable_variables)
    shape = [3, *entry.event]
    if entry.pixels:  # fractions kept away from the cell edges
        cells = tf.floor(tf.random.stateless_uniform(shape, seed=[1, 2], maxval=LEVELS, dtype=F64))
        x = cells + tf.random.stateless_uniform(shape, seed=[3, 4], minval=0.05, maxval=0.95, dtype=F64)
    else:
        x = tf.random.stateless_normal(shape, seed=[1, 2], dtype=F64)
    return b, x, list(entry.event)


@pytest.mark.parametrize("name", BIJECTORS)
def test_bijector_round_trip_and_log_det_match_the_autodiff_jacobian(name):
    b, x, event = prepared(name)
    check_bijector(b, x, event, rtol=1e-7, atol=1e-9)


# XLA-compiling D passes of bisection takes ~2.5 s per entry: the deep-sigmoidal MAF entry runs with
# the quick tests, the other two bisection-inverted entries (the same loops) with the slow ones.
SLOW_XLA = {"MaskedAutoregressive-vector-deep-sigmoidal-iaf", "MaskedAutoregressive-vector-sum-of-squares-maf"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_XLA else n for n in BIJECTORS])
def test_bijector_eager_function_and_xla_agree(name):
    b, x, event = prepared(name)
    ndims = len(event)
    y = tf.identity(b.forward(x))

    def run(x, y):
        return (
            b.forward(x),
            b.inverse(y),
            b.forward_log_det_jacobian(x, event_ndims=ndims),
            b.inverse_log_det_jacobian(y, event_ndims=ndims),
        )

    eager = run(tf.identity(x), tf.identity(y))
    for compiled in (tf.function(run), tf.function(run, jit_compile=True)):
        for want, got in zip(eager, compiled(x, y), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", BIJECTORS)
def test_bijector_gradients_reach_every_trainable_variable(name):
    b, x, event = prepared(name)
    variables = b.trainable_variables
    if not variables:
        assert isinstance(b, (bij.PixelLogit, bij.Squeeze)), f"{name} has no trainable variables"
        return
    y = tf.identity(b.forward(x))
    with tf.GradientTape() as tape:
        z = b.inverse(y)
        ildj = b.inverse_log_det_jacobian(y, event_ndims=len(event))
        loss = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(z), axis=list(range(1, 1 + len(event)))) - ildj)
    assert_all_gradients_nonzero(variables, tape.gradient(loss, variables))


# ---------------------------------------------------------------------------- models
IMAGE_EVENT = (8, 8, 1)
MODEL_KWARGS = {  # model -> kind -> tiny constructor arguments
    "realnvp": {
        "image": dict(event_shape=IMAGE_EVENT, pixel_levels=LEVELS, num_scales=2, hidden_channels=4, num_blocks=0),
        "vector": dict(event_shape=(4,), num_couplings=2, hidden_units=(8,), batch_norm=True, linear_mixing=True),
    },
    "glow": {
        "image": dict(event_shape=IMAGE_EVENT, pixel_levels=LEVELS, num_scales=2, num_steps=1, hidden_channels=4),
        "vector": dict(event_shape=(4,), num_steps=2, hidden_units=(8,)),
    },
    "nice": {
        "image": dict(event_shape=IMAGE_EVENT, pixel_levels=LEVELS, num_couplings=2, hidden_units=(8,)),
        "vector": dict(event_shape=(2,), num_couplings=3, hidden_units=(8,), prior="normal"),
    },
    "maf": {
        "image": dict(event_shape=IMAGE_EVENT, pixel_levels=LEVELS, num_layers=2, hidden_units=(8,)),
        "vector": dict(
            event_shape=(4,), num_layers=2, hidden_units=(8,), residual_blocks=1, batch_norm=True, mixing="linear"
        ),
    },
    "iaf": {  # data -> latent takes D passes per layer: a smaller image (D = 16) keeps it quick
        "image": dict(event_shape=(4, 4, 1), pixel_levels=LEVELS, num_layers=2, hidden_units=(8,)),
        "vector": dict(event_shape=(4,), num_layers=2, hidden_units=(8,), mixing="random"),
    },
    "naf": {  # sampling takes D bisections per layer: the small image too
        "image": dict(event_shape=(4, 4, 1), pixel_levels=LEVELS, num_layers=2, hidden_units=(8,), sigmoid_units=4),
        "vector": dict(event_shape=(4,), num_layers=2, hidden_units=(8,), sigmoid_units=4, mixing="random"),
    },
    "sos": {
        "image": dict(event_shape=(4, 4, 1), pixel_levels=LEVELS, num_layers=2, hidden_units=(8,), degree=2),
        "vector": dict(event_shape=(4,), num_layers=2, hidden_units=(8,), degree=2, num_squares=3, batch_norm=True),
    },
}
FLOWS = [f"{model}-{kind}" for model in MODELS for kind in ("image", "vector")]
# Flows whose model checks run with the slow tests only, to keep CI's budget: the flattened image
# flows of IAF, NAF and SOS take D passes (bisections, for the last two) per layer to sample or
# to score, and go through the same flattening as MAF's image flow and the same layers as their
# vector flows, which stay in CI.
SLOW_FLOWS = {"iaf-image", "naf-image", "sos-image"}


def test_model_kwargs_cover_every_registered_model():
    assert set(MODEL_KWARGS) == set(MODELS), f"MODEL_KWARGS vs MODELS: {sorted(set(MODEL_KWARGS) ^ set(MODELS))}"
    for model, kinds in MODEL_KWARGS.items():
        assert set(kinds) == {"image", "vector"}, model


def kwargs_of(flow_id):
    model, kind = flow_id.split("-")
    if model not in MODEL_KWARGS:
        pytest.fail(f"no MODEL_KWARGS entry for the registered model {model!r}")
    return model, dict(MODEL_KWARGS[model][kind])


def data_for(event_shape, n=16, seed=0):
    if len(event_shape) == 3:  # dequantized pixels in [0, LEVELS)
        return tf.random.stateless_uniform([n, *event_shape], seed=[seed, 1], maxval=LEVELS - 1e-3)
    scale = tf.linspace(0.5, 2.0, event_shape[0])
    return 1.0 + scale * tf.random.stateless_normal([n, *event_shape], seed=[seed, 1])


@functools.cache
def trained(flow_id):
    """One tiny float32 instance per flow, trained a few steps (initialising ActNorm, moving the
    batch-norm statistics), then every trainable variable perturbed by N(0, 0.1)."""
    model, kw = kwargs_of(flow_id)
    flow = MODELS[model](**kw)
    x = data_for(flow.event_shape)
    train_a_few_steps(
        flow.trainable_variables, lambda: -tf.reduce_mean(flow.log_prob(x, training=True)), steps=3, learning_rate=0.01
    )
    norms = [m for m in flow.submodules if isinstance(m, bij.ActNorm)]
    assert all(bool(n.initialized) for n in norms), "a training log_prob left an ActNorm uninitialised"
    perturb(flow.trainable_variables, seed=1)
    return flow


@pytest.fixture(params=[pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FLOWS else f for f in FLOWS])
def flow_id(request):
    return request.param


@pytest.fixture
def flow(flow_id):
    return trained(flow_id)


def leaf_layers(b):
    """The layers of a chain as `log_prob_parts` names them: composites opened up."""
    if isinstance(b, bij.FlowChain):
        return [leaf for member in b.bijectors for leaf in leaf_layers(member)]
    if isinstance(b, bij.FactorOut):
        return leaf_layers(b.inner)
    return [b]


def test_encode_decode_round_trip(flow):
    x = data_for(flow.event_shape, n=4, seed=1)
    z = flow.encode(x)
    assert z.shape == x.shape
    x_back = flow.decode(tf.identity(z))  # tf.identity: computed, not read from TFP's cache
    # atol 1e-3: pixels span [0, 17); the perturbed float32 image flows lose up to ~5e-4 there.
    np.testing.assert_allclose(x_back, x, rtol=1e-4, atol=1e-3 if len(flow.event_shape) == 3 else 1e-4)
    np.testing.assert_allclose(flow.encode(tf.identity(x_back)), z, rtol=1e-3, atol=1e-3)


# The float64 Jacobian of IAF's image flow differentiates D = 16 passes per layer (~5 s), like the
# other `SLOW_FLOWS`: with the slow tests (the bijector entries and the vector flows check the same
# code quickly).
@pytest.mark.parametrize("flow_id", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FLOWS else f for f in FLOWS])
def test_log_det_of_the_whole_flow_is_the_autodiff_jacobian(flow_id, flow):
    """log_prob(x) - prior(encode(x)) == log|det d encode / dx| in float64, on the trained,
    perturbed weights (copied from the float32 instance into a float64 one)."""
    model, kw = kwargs_of(flow_id)
    flow64 = MODELS[model](**kw, dtype=F64)
    assert [v.shape for v in flow64.variables] == [v.shape for v in flow.variables]
    for v64, v in zip(flow64.variables, flow.variables, strict=True):
        v64.assign(tf.cast(v, v64.dtype))
    event = list(flow.event_shape)
    x = tf.cast(data_for(flow.event_shape, n=3, seed=2), F64)
    log_det = flow64.log_prob(x) - flow64.distribution.log_prob(flow64.encode(x))
    np.testing.assert_allclose(log_det, autodiff_log_det(flow64.encode, tf.identity(x), event), rtol=1e-8, atol=1e-8)


def test_log_prob_parts_sum_to_log_prob(flow):
    x = data_for(flow.event_shape, n=5, seed=3)
    parts = flow.log_prob_parts(x)
    layers = leaf_layers(flow.bijector)
    assert list(parts)[-1] == "prior" and len(parts) == len(layers) + 1, (list(parts), [b.name for b in layers])
    for key, layer in zip(parts, layers):
        assert key.startswith(layer.name.rstrip("/")), (key, layer.name)
    for key, value in parts.items():
        assert value.shape == (5,), (key, value.shape)
    np.testing.assert_allclose(tf.add_n(list(parts.values())), flow.log_prob(x), rtol=1e-5)


def network_passes(flow):
    """Each layer with a conditioner network in the flow: (layer, network, the network's calls for one
    training `log_prob` and its gradient eagerly, and when traced). A coupling, and a MAF layer
    (data -> latent in one MADE pass), call theirs once either way; an IAF layer solves data ->
    latent with D MADE passes in one while loop: D calls eagerly (TF runs the loop in Python),
    one when traced (the loop body, traced once)."""
    layers = []
    for m in flow.submodules:
        if isinstance(m, bij.AffineCoupling):
            layers.append((m, m.conditioner, 1, 1))
        elif isinstance(m, bij.MaskedAutoregressive):
            layers.append((m, m.made, m.features if m.inverse_autoregressive else 1, 1))
    return layers


def test_each_layer_costs_its_networks_passes_for_log_prob_and_its_gradient(flow, monkeypatch):
    layers = network_passes(flow)
    assert layers, "no AffineCoupling or MaskedAutoregressive found in flow.submodules"
    counts = {id(net): 0 for _, net, _, _ in layers}

    def counting(original):
        @functools.wraps(original)
        def call(self, *args, **kwargs):
            if id(self) in counts:
                counts[id(self)] += 1
            return original(self, *args, **kwargs)

        return call

    for cls in {type(net) for _, net, _, _ in layers}:
        monkeypatch.setattr(cls, "__call__", counting(cls.__call__))
    x = data_for(flow.event_shape, n=8, seed=4)

    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x, training=True))
        return tape.gradient(loss, flow.trainable_variables)

    loss_and_grads(x)  # eagerly
    assert [counts[id(net)] for _, net, _, _ in layers] == [eager for _, _, eager, _ in layers], {
        layer.name: counts[id(net)] for layer, net, _, _ in layers
    }
    counts.update(dict.fromkeys(counts, 0))
    tf.function(loss_and_grads).get_concrete_function(x)  # one trace
    assert [counts[id(net)] for _, net, _, _ in layers] == [traced for _, _, _, traced in layers], {
        layer.name: counts[id(net)] for layer, net, _, _ in layers
    }


def test_eager_function_and_xla_log_prob_agree(flow):
    x = data_for(flow.event_shape, n=8, seed=5)
    eager = flow.log_prob(x)
    for compiled in (tf.function(flow.log_prob), tf.function(flow.log_prob, jit_compile=True)):
        np.testing.assert_allclose(compiled(x), eager, rtol=1e-5, atol=1e-4)


def test_gradients_reach_every_trainable_variable(flow):
    x = data_for(flow.event_shape, n=8, seed=6)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(flow.log_prob(x, training=True))
    assert_all_gradients_nonzero(flow.trainable_variables, tape.gradient(loss, flow.trainable_variables))


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0, 2.0])
def test_log_prob_is_finite_on_the_flows_own_samples(flow, temperature):
    x = flow.sample(32, seed=(1, 2), temperature=temperature)
    assert np.all(np.isfinite(x)), temperature
    if flow.pixel_levels:
        assert float(tf.reduce_min(x)) >= 0.0 and float(tf.reduce_max(x)) < flow.pixel_levels
    log_prob = flow.log_prob(tf.identity(x)).numpy()  # a fresh tensor: scored, not read from the cache
    assert np.all(np.isfinite(log_prob)), (temperature, log_prob[~np.isfinite(log_prob)][:4])


# Real NVP's export is tested at length in export_test.py (image and vector, served without TFP); IAF's
# takes MAF's path (the same layers turned around) and runs with the slow tests; so do NAF's and SOS's
# (MAF's layers with other transformers, inverted by bisection, ~4-6 s each).
SLOW_EXPORTS = {"realnvp", "iaf", "naf", "sos"}


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_EXPORTS else m for m in MODELS])
def test_saved_model_serves_the_flows_numbers(model, tmp_path):
    """Each model's image flow (the richer: pixel checks, every layer kind); vector exports take the
    same model-agnostic path (tests/export_test.py exports a vector RealNVP)."""
    flow = trained(f"{model}-image")
    path = export_saved_model(flow, tmp_path / "model")
    loaded = load_exported(path)
    assert exported_model(loaded) == model and loaded.model.numpy().decode() == model
    x = data_for(flow.event_shape, n=4, seed=7)
    np.testing.assert_allclose(loaded.log_prob(x)["log_prob"], flow.log_prob(x), rtol=1e-5)
    z = flow.encode(x)
    # Latents: graph vs eager float32 rounding, expanded by the perturbed flow, reaches 1.6e-5 of
    # a latent (Real NVP on a machine with AVX-512 VNNI/BF16, where oneDNN picks other kernels).
    np.testing.assert_allclose(loaded.encode(x)["latents"], z, rtol=5e-5, atol=1e-5)
    # Decoded pixels: float32 rounding of graph vs eager, expanded by the perturbed flow, reaches
    # ~4e-4 of a pixel (Real NVP run on its own); 1e-4 of the pixel range [0, 17) bounds it.
    np.testing.assert_allclose(
        loaded.decode(z)["images"], flow.decode(tf.identity(z)), rtol=1e-5, atol=1e-4 * flow.pixel_levels
    )
