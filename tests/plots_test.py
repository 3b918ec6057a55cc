"""Tests for tfp_realnvp.plots: every function writes a readable PNG; bad shapes raise ValueError."""

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from tfp_realnvp.plots import plot_2d_panels, plot_training_curve, save_image_grid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_png(path):
    with open(path, "rb") as fh:
        head = fh.read(8)
    assert head == PNG_MAGIC
    return mpimg.imread(path)


@pytest.fixture(autouse=True)
def _no_leaked_pyplot_figures():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


@pytest.mark.parametrize("channels", [1, 3])
def test_image_grid(tmp_path, channels):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 17, size=(10, 8, 6, channels))
    images[0] = 0.0  # black
    images[1] = 16.5  # white
    images[2] = 40.0  # clipped to white
    images[3] = -3.0  # clipped to black
    path = tmp_path / "deep" / "dir" / "grid.png"
    assert save_image_grid(images, 17, path, ncol=4, title="samples T=0.7") == str(path)
    img = _read_png(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert img.shape[0] >= 2 * 3 * 8 and img.shape[1] >= 2 * 4 * 6  # 3 rows x 4 columns of 8x6 images, >= 2x
    assert img.shape[0] < 3 * img.shape[1] and img.shape[1] < 3 * img.shape[0]
    rgb = img[..., :3]
    assert rgb.min() < 0.05 and rgb.max() > 0.95


def test_image_grid_takes_tensors_and_few_images(tmp_path):
    path = save_image_grid(tf.fill([2, 4, 4, 1], 255.0), 256, tmp_path / "t.png")
    img = _read_png(path)
    assert img.shape[0] >= 4 and img.shape[1] >= 2 * 4
    assert img[..., :3].max() > 0.95


@pytest.mark.parametrize(
    "images, levels, ncol, match",
    [
        (np.zeros((8, 8, 1)), 17, 8, "`images`"),
        (np.zeros((2, 8, 8, 2)), 17, 8, "`images`"),
        (np.zeros((0, 8, 8, 1)), 17, 8, "`images`"),
        (np.zeros((2, 8, 8, 1)), 1, 8, "`levels`"),
        (np.zeros((2, 8, 8, 1)), 2.5, 8, "`levels`"),
        (np.zeros((2, 8, 8, 1)), 17, 0, "`ncol`"),
    ],
)
def test_image_grid_bad_arguments(tmp_path, images, levels, ncol, match):
    with pytest.raises(ValueError, match=match):
        save_image_grid(images, levels, tmp_path / "bad.png", ncol=ncol)
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize("with_test", [False, True])
def test_training_curve(tmp_path, with_test):
    history = {"step": list(range(0, 500, 10)), "train": list(np.linspace(6.0, 3.5, 50))}
    if with_test:
        history.update(test=[5.0, 4.2, 3.9, float("nan"), 3.7], test_step=[0, 100, 200, 300, 400])
    path = plot_training_curve(history, tmp_path / "curves" / "bpd.png", ylabel="bits/dim")
    img = _read_png(path)
    assert img.shape[0] >= 200 and img.shape[1] >= 300


def test_training_curve_test_on_train_steps(tmp_path):
    history = {"step": [1, 2, 3], "train": [3.0, 2.0, 1.0], "test": [3.5, 2.5, 1.5]}
    path = plot_training_curve(history, tmp_path / "c.png")
    _read_png(path)


@pytest.mark.parametrize(
    "history, match",
    [
        ({"train": [1.0]}, "'step'"),
        ({"step": [1, 2]}, "'train'"),
        ({"step": [1, 2], "train": [1.0]}, r"history\['step'\]"),
        ({"step": [], "train": []}, r"history\['step'\]"),
        ({"step": [[1, 2]], "train": [[1.0, 2.0]]}, r"history\['step'\]"),
        ({"step": [1, 2], "train": [1.0, 2.0], "test": [1.0], "test_step": [1, 2]}, r"history\['test'\]"),
        ({"step": [1, 2], "train": [1.0, 2.0], "test": [1.0]}, r"history\['test'\]"),
        ([1, 2, 3], "`history`"),
    ],
)
def test_training_curve_bad_history(tmp_path, history, match):
    with pytest.raises(ValueError, match=match):
        plot_training_curve(history, tmp_path / "bad.png")


def test_2d_panels(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(500, 2)) * [3.0, 0.5] + [10.0, -2.0]
    samples = rng.normal(size=(400, 2)) * [3.0, 0.5] + [10.0, -2.0]
    latents = rng.normal(size=(500, 2))
    samples[0] = np.nan  # a diverged sample does not break the plot
    path = plot_2d_panels(
        data, samples, tf.constant(latents), tmp_path / "toy" / "panels.png", titles=("two moons", "model", "z")
    )
    img = _read_png(path)
    assert img.shape[1] > 2 * img.shape[0]  # three panels side by side
    assert img.shape[0] >= 200


@pytest.mark.parametrize(
    "which, bad",
    [
        ("data", np.zeros((10, 3))),
        ("samples", np.zeros(10)),
        ("latents", np.zeros((0, 2))),
    ],
)
def test_2d_panels_bad_shapes(tmp_path, which, bad):
    arrays = {"data": np.zeros((10, 2)), "samples": np.zeros((10, 2)), "latents": np.zeros((10, 2)), which: bad}
    with pytest.raises(ValueError, match=f"`{which}`"):
        plot_2d_panels(arrays["data"], arrays["samples"], arrays["latents"], tmp_path / "bad.png")


def test_2d_panels_bad_titles(tmp_path):
    with pytest.raises(ValueError, match="`titles`"):
        plot_2d_panels(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), tmp_path / "bad.png", titles=("a", "b"))
