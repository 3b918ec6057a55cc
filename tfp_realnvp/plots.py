"""PNG figures for Real NVP runs: image grids, training curves and 2-D data/sample/latent panels.

Every function draws on its own `matplotlib.figure.Figure` (never registered with pyplot) and
writes it with the Agg renderer, so it works headless, leaves the interactive backend and the
pyplot figure list untouched, and needs no `plt.close`. Parent directories are created; the
written path is returned. Bad shapes raise `ValueError` naming the argument.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

__all__ = ["plot_2d_panels", "plot_diagnostics", "plot_training_curve", "save_image_grid"]


def _new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    try:
        fig.savefig(path, format="png", dpi=fig.dpi)
    finally:
        fig.clear()
    return path


def _as_array(x: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"`{name}` must be numeric array-like, got {type(x).__name__}") from e


# ---------------------------------------------------------------------------- image grid
def save_image_grid(images: Any, levels: int, path: str | os.PathLike, ncol: int = 8, title: str | None = None) -> str:
    """Write a grid of images as a PNG.

    Args:
      images: [N, H, W, C] pixel values in [0, levels) (dequantized floats or integers; a
        tensor or array), C = 1 (grey) or 3 (RGB). Values are floored to their level and
        clipped to [0, levels - 1]; NaN is drawn black.
      levels: number of pixel levels (int >= 2), e.g. 256.
      path: output PNG file.
      ncol: images per row (int >= 1; fewer when N < ncol).
      title: optional title above the grid.

    Returns:
      `path` (as a string).
    """
    x = _as_array(images, "images")
    if x.ndim != 4 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] < 1 or x.shape[3] not in (1, 3):
        raise ValueError(f"`images` must have shape [N, H, W, C] with N >= 1 and C in (1, 3), got {x.shape}")
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"`levels` must be an int >= 2, got {levels!r}")
    if isinstance(ncol, bool) or not isinstance(ncol, (int, np.integer)) or ncol < 1:
        raise ValueError(f"`ncol` must be an int >= 1, got {ncol!r}")
    n, h, w, c = x.shape
    x = np.clip(np.floor(np.nan_to_num(x, nan=0.0)), 0, levels - 1) / (levels - 1)

    cols = min(int(ncol), n)
    rows = math.ceil(n / cols)
    gap = max(1, min(h, w) // 16)
    mosaic = np.full((rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap, c), 0.5)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = gap + r * (h + gap), gap + q * (w + gap)
        mosaic[top : top + h, left : left + w] = x[i]

    # At least 2 screen pixels per image pixel and a readable width; the title gets a strip on top.
    mh, mw = mosaic.shape[:2]
    scale = max(2, math.ceil(300 / mw))
    dpi = 100
    title_px = 30 if title else 0
    fig = _new_figure(mw * scale / dpi, (mh * scale + title_px) / dpi, dpi)
    ax = fig.add_axes((0, 0, 1, mh * scale / (mh * scale + title_px)))
    ax.set_axis_off()
    if c == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    if title:
        fig.suptitle(title, y=1 - 0.5 * title_px / (mh * scale + title_px), va="center", fontsize=10)
    return _save(fig, path)


# ---------------------------------------------------------------------------- training curve
def _series(history: Mapping, key: str) -> np.ndarray:
    values = _as_array(history[key], f"history[{key!r}]")
    if values.ndim != 1:
        raise ValueError(f"`history[{key!r}]` must be 1-D, got shape {values.shape}")
    return values


def plot_training_curve(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike, ylabel: str = "bits/dim"
) -> str:
    """Plot the training (and test) curve against the step as a PNG.

    Args:
      history: `{"step": [...], "train": [...]}` of equal lengths (at least one point), plus
        optionally `"test": [...]` evaluated at `"test_step": [...]` (or at `"step"` when
        `test_step` is absent). Non-finite values are left out of the lines.
      path: output PNG file.
      ylabel: the y-axis label.

    Returns:
      `path` (as a string).
    """
    if not isinstance(history, Mapping):
        raise ValueError(f"`history` must be a dict, got {type(history).__name__}")
    for key in ("step", "train"):
        if key not in history:
            raise ValueError(f"`history` needs a {key!r} list, got keys {sorted(history)}")
    step, train = _series(history, "step"), _series(history, "train")
    if len(step) == 0 or len(step) != len(train):
        raise ValueError(
            f"`history['step']` and `history['train']` must have the same non-zero length, "
            f"got {len(step)} and {len(train)}"
        )
    curves = [("train", step, train)]
    if history.get("test") is not None and len(history["test"]):
        test = _series(history, "test")
        test_key = "test_step" if history.get("test_step") is not None else "step"
        test_step = _series(history, test_key)
        if len(test_step) != len(test):
            raise ValueError(
                f"`history['test']` and `history[{test_key!r}]` must have the same length, "
                f"got {len(test)} and {len(test_step)}"
            )
        curves.append(("test", test_step, test))

    fig = _new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for label, xs, ys in curves:
        ys = np.where(np.isfinite(ys), ys, np.nan)
        finite = ys[np.isfinite(ys)]
        if finite.size:
            label = f"{label} (last {finite[-1]:.4g})"
        ax.plot(xs, ys, label=label, marker="o" if len(xs) <= 20 else None, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------- 2-D panels
def _points(x: Any, name: str) -> np.ndarray:
    p = _as_array(x, name)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
        raise ValueError(f"`{name}` must have shape [N, 2] with N >= 1, got {p.shape}")
    return p


def _limits(p: np.ndarray) -> tuple[float, float, float, float]:
    """A square view around the finite points, 5% padding."""
    p = p[np.all(np.isfinite(p), axis=1)]
    if not len(p):
        return -1.0, 1.0, -1.0, 1.0
    lo, hi = p.min(axis=0), p.max(axis=0)
    center, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.05, 1e-6)
    return center[0] - half, center[0] + half, center[1] - half, center[1] + half


def plot_2d_panels(
    data: Any,
    samples: Any,
    latents: Any,
    path: str | os.PathLike,
    titles: Sequence[str] = ("data", "samples", "latent space"),
) -> str:
    """Three equal-aspect scatter panels for a 2-D flow, as a PNG.

    Args:
      data: [N, 2] data points.
      samples: [M, 2] model samples, drawn in the data's view (points outside are cut off).
      latents: [K, 2] the data encoded to latent space; drawn on at least [-4, 4]^2 (wider
        when the latents spread further) with the 1, 2 and 3 sigma circles of N(0, I), which a
        trained flow should fill.
      path: output PNG file.
      titles: the three panel titles.

    Returns:
      `path` (as a string).
    """
    panels = [_points(data, "data"), _points(samples, "samples"), _points(latents, "latents")]
    if isinstance(titles, str) or len(titles) != 3:
        raise ValueError(f"`titles` must be 3 strings, got {titles!r}")
    data_view = _limits(panels[0])
    z = np.abs(panels[2][np.all(np.isfinite(panels[2]), axis=1)])
    half = max(4.0, 1.05 * float(np.percentile(z, 99.5))) if z.size else 4.0
    views = [data_view, data_view, (-half, half, -half, half)]

    fig = _new_figure(12.0, 4.2)
    axes = fig.subplots(1, 3)
    for ax, points, view, title, color in zip(axes, panels, views, titles, ("C0", "C1", "C2")):
        alpha = float(np.clip(600.0 / len(points), 0.1, 0.8))
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=alpha, color=color, linewidths=0, rasterized=True)
        ax.set_xlim(view[0], view[1])
        ax.set_ylim(view[2], view[3])
        ax.set_aspect("equal")
        ax.set_title(f"{title} (n={len(points)})")
    for radius in (1.0, 2.0, 3.0):
        axes[2].add_patch(Circle((0.0, 0.0), radius, fill=False, linestyle="--", linewidth=0.8, color="0.4"))
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------- diagnostics
def plot_diagnostics(
    parts: Mapping[str, float], latents: Sequence[Any], path: str | os.PathLike, prior: str = "normal"
) -> str:
    """What `log_prob` is made of, and how the latents sit against the prior, as a PNG.

    Args:
      parts: layer name -> mean term of `log_prob` in nats (`Flow.log_prob_parts`, averaged over
        examples; "prior" among them), drawn as horizontal bars in the given order.
      latents: per scale, the latent values ([N, D_s] or any shape; flattened), drawn as density
        histograms over the prior's density.
      path: output PNG file.
      prior: "normal" (N(0, 1)) or "logistic" (the standard logistic), the curve drawn.

    Returns:
      `path` (as a string).
    """
    if not isinstance(parts, Mapping) or not parts:
        raise ValueError(f"`parts` must be a non-empty mapping of layer name -> nats, got {parts!r:.80}")
    scales = [_as_array(z, "latents").ravel() for z in latents]
    if not scales or any(z.size == 0 for z in scales):
        raise ValueError("`latents` must hold a non-empty array per scale")
    names = list(parts)
    values = _as_array([parts[n] for n in names], "parts")
    fig = _new_figure(12.0, max(3.5, 0.22 * len(names) + 1.0))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    rows = np.arange(len(names))
    left.barh(rows, values, color=["C1" if n == "prior" else "C0" for n in names])
    left.set_yticks(rows, names, fontsize=7)
    left.invert_yaxis()
    left.axvline(0.0, color="0.3", linewidth=0.8)
    left.set_xlabel("mean term of log p(x) (nats)")
    left.set_title(f"log p(x) = {values.sum():.2f} nats: log-dets (data -> latent) and prior")
    grid = np.linspace(-6.0, 6.0, 241)
    if prior == "logistic":
        density = np.exp(-grid) / (1.0 + np.exp(-grid)) ** 2
    else:
        density = np.exp(-0.5 * grid**2) / math.sqrt(2.0 * math.pi)
    for i, z in enumerate(scales):
        finite = z[np.isfinite(z)]
        right.hist(
            np.clip(finite, -6.0, 6.0),
            bins=80,
            range=(-6.0, 6.0),
            density=True,
            histtype="step",
            label=f"scale {i} (std {finite.std():.2f})",
            color=f"C{i}",
        )
    right.plot(grid, density, "k--", linewidth=1.0, label=f"prior ({prior})")
    right.set_xlabel("latent value (clipped to [-6, 6])")
    right.set_title("latents per scale")
    right.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
