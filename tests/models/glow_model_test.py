"""Glow: ActNorm's initialisation is the global batch's on any number of replicas, survives a
resume, and the exported model is the trained one."""

import numpy as np
import tensorflow as tf

from tfp_realnvp import Glow, data
from tfp_realnvp.bijectors import ActNorm, AffineCoupling
from tfp_realnvp.export import export_saved_model, load_exported
from tfp_realnvp.training import TrainConfig, Trainer

IMAGES = data.load_digits().train[:256]


def _glow():
    return Glow((8, 8, 1), pixel_levels=17, num_steps=2, hidden_channels=8, dropout=0.2, seed=3)


def _trainer(strategy=None, model_dir=None, steps=6):
    config = TrainConfig(steps=steps, batch_size=16, learning_rate=2e-3, log_every=1, checkpoint_every=2, seed=7)
    return Trainer(_glow, config, model_dir=model_dir, strategy=strategy)


def _fit(trainer, **kwargs):
    trainer.fit(data.image_dataset(IMAGES, 17, 16, training=True, seed=1), verbose=False, **kwargs)
    return trainer.flow


def _points():
    return tf.constant(data.dequantize_draws(IMAGES[:32], 17, 1, seed=3))


def _act_norms(flow):
    return [m for m in flow.submodules if isinstance(m, ActNorm) and m.data_init]


def test_two_replicas_train_the_same_glow_as_one_device_and_export_it(mirrored, tmp_path):
    one, two = _fit(_trainer()), _fit(_trainer(mirrored))
    assert all(bool(a.initialized.numpy()) for a in _act_norms(one) + _act_norms(two))
    for a, b in zip(_act_norms(one), _act_norms(two)):
        copies = [v.numpy() for v in mirrored.experimental_local_results(b.log_scale)]
        np.testing.assert_array_equal(copies[0], copies[1])  # identical on every replica
        # Six Adam steps later: float32 sums in another order, carried by the normalized steps.
        np.testing.assert_allclose(copies[0], a.log_scale.numpy(), rtol=1e-4, atol=1e-4)
    # The flow trained on two replicas exports and serves the one-device flow's numbers.
    loaded = load_exported(export_saved_model(two, str(tmp_path / "two")))
    served = loaded.signatures["log_prob"](images=_points())["log_prob"].numpy()
    assert loaded.model.numpy() == b"glow"
    np.testing.assert_allclose(served, two.log_prob(_points()), rtol=1e-5)
    expected = one.log_prob(_points()).numpy()
    assert np.all(np.isfinite(expected)) and np.ptp(expected) > 0
    np.testing.assert_allclose(served, expected, rtol=1e-4)


def test_resume_restores_act_norm_and_continues_exactly(tmp_path):
    straight = _fit(_trainer(model_dir=str(tmp_path / "a"), steps=4))
    _fit(_trainer(model_dir=str(tmp_path / "b"), steps=4), steps=2)
    resumed_trainer = _trainer(model_dir=str(tmp_path / "b"), steps=4)
    fresh = _act_norms(resumed_trainer.flow)[0]
    assert not bool(fresh.initialized.numpy())  # a new flow starts uninitialised
    resumed = _fit(resumed_trainer, resume=True)
    for a, b in zip(straight.trainable_variables, resumed.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # no re-initialisation on resume


def test_each_level_transforms_the_half_that_leaves_and_conditioners_see_the_kept_half():
    """Glow's layout (Kingma & Dhariwal's code): every image coupling moves the first half of the
    channels given the second, so the last one of a level moves the half that the split factors
    out; its conditioner and the split prior's take the kept half alone (`split_channels`)."""
    flow = _glow()
    couplings = [m for m in flow.submodules if isinstance(m, AffineCoupling)]
    names = sorted(c.name.rstrip("/") for c in couplings)
    assert names == ["coupling1", "coupling2", "coupling3", "coupling4", "split_prior0"]
    for coupling in couplings:
        channels = coupling.mask.shape[-1]
        np.testing.assert_array_equal(coupling.mask[0, 0], np.arange(channels) >= channels // 2)
        assert coupling.conditioner.in_channels == channels // 2
    x = _points()[:4]
    first = next(c for c in couplings if c.name.startswith("coupling1"))
    h = tf.random.stateless_normal([4, 4, 4, 4], seed=[1, 2])
    for v in first.trainable_variables:
        v.assign_add(tf.random.stateless_normal(v.shape, seed=[3, 4], stddev=0.3))
    y = first.inverse(h)
    np.testing.assert_array_equal(y[..., 2:], h[..., 2:])  # the kept half passes through
    assert float(tf.reduce_max(tf.abs(y[..., :2] - h[..., :2]))) > 1e-3
    assert np.isfinite(flow.log_prob(x).numpy()).all()
