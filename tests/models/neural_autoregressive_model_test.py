"""NAF and SOS models: their transformers and options, the sample -> log_prob round trip through D
passes of bisection per layer, conditioning, and a zero-initialised SOS flow being the identity."""

import inspect

import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp import MAF, MODELS, NAF, SOS
from tfp_realnvp.bijectors import DeepSigmoidalTransformer, MaskedAutoregressive, SumOfSquaresTransformer

MODELS_UNDER_TEST = {"naf": NAF, "sos": SOS}


def layers_of(flow):
    return [m for m in flow.submodules if isinstance(m, MaskedAutoregressive)]


def perturb(flow, stddev=0.3):
    for i, v in enumerate(flow.trainable_variables):
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[13, i], stddev=stddev, dtype=v.dtype))
    return flow


def test_registered_with_their_transformers_and_options():
    assert MODELS["naf"] is NAF and MODELS["sos"] is SOS
    naf = NAF((3,), num_layers=2, hidden_units=(8,), sigmoid_units=5)
    assert all(isinstance(b.transformer, DeepSigmoidalTransformer) for b in layers_of(naf))
    assert [b.transformer.hidden_units for b in layers_of(naf)] == [5, 5]
    assert [b.made.params_per_dim for b in layers_of(naf)] == [15, 15]
    sos = SOS((3,), num_layers=2, hidden_units=(8,), degree=2, num_squares=3)
    assert all(isinstance(b.transformer, SumOfSquaresTransformer) for b in layers_of(sos))
    assert [b.made.params_per_dim for b in layers_of(sos)] == [10, 10]
    assert inspect.signature(NAF).parameters["sigmoid_units"].default == 16
    assert inspect.signature(SOS).parameters["degree"].default == 3
    assert inspect.signature(SOS).parameters["num_squares"].default == 2
    assert naf.parameters["sigmoid_units"] == 5 and sos.parameters["num_squares"] == 3
    for make, what in [
        (lambda: NAF((3,), sigmoid_units=0), "`sigmoid_units`"),
        (lambda: SOS((3,), degree=1.5), "`degree`"),
        (lambda: SOS((3,), num_squares=-1), "`num_squares`"),
    ]:
        with pytest.raises(ValueError, match=what):
            make()


@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_samples_round_trip_through_log_prob(name):
    """decode: D = 3 bisection passes per layer; encode: one pass. Both ways agree to the bisection's
    float32 accuracy, and log_prob of a sample is the prior's density minus the sampling log-det."""
    flow = perturb(MODELS_UNDER_TEST[name]((3,), num_layers=2, hidden_units=(16,)))
    z = tf.random.stateless_normal([64, 3], seed=[1, 2])
    x = flow.decode(z)
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(flow.encode(tf.identity(x)), z, atol=2e-4, rtol=1e-4)
    fldj = flow.bijector.forward_log_det_jacobian(tf.identity(z), event_ndims=1)
    want = flow.distribution.log_prob(z) - fldj
    np.testing.assert_allclose(flow.log_prob(tf.identity(x)), want, atol=1e-3, rtol=1e-4)
    samples = flow.sample(32, seed=(3, 4))
    assert np.all(np.isfinite(flow.log_prob(tf.identity(samples))))


def test_a_new_sos_flow_is_the_identity_and_naf_near_it_unless_asked_for_a_random_start():
    x = tf.random.stateless_normal([8, 3], seed=[5, 6], dtype=tf.float64) * 3.0
    sos = SOS((3,), num_layers=3, hidden_units=(8,), dtype=tf.float64)  # ZERO_OUTPUT: the MADEs output 0
    np.testing.assert_allclose(sos.encode(x), x, atol=1e-12)
    np.testing.assert_allclose(sos.log_prob(x), sos.distribution.log_prob(x), atol=1e-12)
    naf = NAF((3,), num_layers=3, hidden_units=(8,), dtype=tf.float64)
    assert np.max(np.abs(naf.encode(x) - x)) < 3 * 0.19  # each layer moves a point by < 0.19 (docstring)
    assert np.max(np.abs(MAF((3,), num_layers=3, hidden_units=(8,), dtype=tf.float64).encode(x) - x)) > 1e-3
    for flow in (SOS, NAF, MAF):
        random_start = flow((3,), num_layers=3, hidden_units=(8,), zero_output=False, dtype=tf.float64)
        moved = np.abs(random_start.encode(x) - x)
        assert np.all(np.isfinite(moved)) and np.max(moved) > 1e-3, (flow.__name__, moved)


@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_conditional_flow_samples_and_scores_given_the_condition(name):
    flow = perturb(MODELS_UNDER_TEST[name]((2,), num_layers=2, hidden_units=(16,), condition_dims=2))
    a = tf.constant([1.0, 0.0])
    samples = flow.sample(6, condition=a, seed=(7, 8))
    z = flow.encode(samples, condition=a)
    np.testing.assert_allclose(flow.decode(tf.identity(z), condition=a), samples, atol=2e-4, rtol=1e-4)
    assert np.abs(flow.log_prob(samples, condition=a) - flow.log_prob(samples, condition=[0.0, 1.0])).max() > 1e-4
