"""Shared checks every bijector test runs: round trip, log-det vs autodiff Jacobian, shapes."""

import numpy as np
import tensorflow as tf


def _flat_fn(fn, event_shape):
    def g(flat):
        out = fn(tf.reshape(flat, [-1, *event_shape]))
        return tf.reshape(out, [tf.shape(flat)[0], -1])

    return g


def autodiff_log_det(fn, x, event_shape):
    """log|det d fn / d x| per example, from the full Jacobian (batch_jacobian + slogdet)."""
    flat = tf.reshape(x, [-1, int(np.prod(event_shape))])
    with tf.GradientTape() as tape:
        tape.watch(flat)
        out = _flat_fn(fn, event_shape)(flat)
    jac = tape.batch_jacobian(out, flat)
    _, logabsdet = tf.linalg.slogdet(jac)
    return logabsdet


def check_bijector(bijector, x, event_shape, jacobian=True, rtol=1e-5, atol=1e-6, **kwargs):
    """Round trip (cache broken both ways), ldj shapes, fldj == -ildj(f(x)), and (float64) ldj
    against the autodiff Jacobian in both directions. `x` has shape [*batch, *event]."""
    event_shape = list(event_shape)
    ndims = len(event_shape)
    batch_shape = x.shape[: x.shape.rank - ndims]
    out_event = list(bijector.forward_event_shape(event_shape))

    y = bijector.forward(x, **kwargs)
    x_back = bijector.inverse(tf.identity(y), **kwargs)
    np.testing.assert_allclose(x_back, x, rtol=rtol, atol=atol * 10)
    y_again = bijector.forward(tf.identity(bijector.inverse(tf.identity(y), **kwargs)), **kwargs)
    np.testing.assert_allclose(y_again, y, rtol=rtol, atol=atol * 10)

    fldj = bijector.forward_log_det_jacobian(tf.identity(x), event_ndims=ndims, **kwargs)
    ildj = bijector.inverse_log_det_jacobian(tf.identity(y), event_ndims=ndims, **kwargs)
    assert fldj.shape == batch_shape, (fldj.shape, batch_shape)
    assert ildj.shape == batch_shape, (ildj.shape, batch_shape)
    np.testing.assert_allclose(fldj, -ildj, rtol=rtol, atol=atol)

    if jacobian:
        fwd = autodiff_log_det(lambda t: bijector.forward(t, **kwargs), tf.identity(x), event_shape)
        np.testing.assert_allclose(tf.reshape(fldj, [-1]), fwd, rtol=rtol, atol=atol)
        inv = autodiff_log_det(lambda t: bijector.inverse(t, **kwargs), tf.identity(y), out_event)
        np.testing.assert_allclose(tf.reshape(ildj, [-1]), inv, rtol=rtol, atol=atol)
    return y


def train_a_few_steps(variables, loss_fn, steps=5, learning_rate=0.05):
    """Plain Adam steps (so zero-initialised layers become non-trivial); returns the last grads."""
    import tf_keras

    opt = tf_keras.optimizers.Adam(learning_rate)
    grads = None
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
    return grads


def assert_all_gradients_nonzero(variables, grads):
    for v, g in zip(variables, grads):
        assert g is not None, f"no gradient for {v.name}"
        assert float(tf.reduce_max(tf.abs(g))) > 0.0, f"zero gradient for {v.name}"
