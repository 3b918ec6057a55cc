"""Seeded 2-D toy densities for flow benchmarks (moons, eight Gaussians, checkerboard, rings, swiss roll)."""

from __future__ import annotations

import numpy as np

from tfp_realnvp.data._validation import check_positive_int, check_seed

__all__ = ["TOY_DATASETS", "toy2d", "toy2d_split"]

TOY_DATASETS = ("moons", "eight_gaussians", "checkerboard", "rings", "swiss_roll")

_MOONS_NOISE = 0.05
_GAUSS_RADIUS, _GAUSS_STD = 2.0, 0.1
_RINGS_RADII = (3.0, 2.25, 1.5, 0.75)
_RINGS_NOISE = 0.08
_SWISS_ROLL_NOISE, _SWISS_ROLL_SCALE = 1.0, 5.0

# The samplers draw from the RandomState in exactly the order of shared/peers/toy2d.py, so that the peers'
# sample(name, n, seed) equals toy2d(name, n, seed + salt) (up to the float32 cast), salt = 1000 * (index + 1).


def _moons(n: int, rs: np.random.RandomState) -> np.ndarray:
    from sklearn.datasets import make_moons  # Deferred: scikit-learn is only needed for two of the datasets.

    points, _ = make_moons(n, noise=_MOONS_NOISE, random_state=rs)
    return points


def _eight_gaussians(n: int, rs: np.random.RandomState) -> np.ndarray:
    angles = np.arange(8) * (np.pi / 4)
    centers = _GAUSS_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    component = rs.randint(0, 8, size=n)
    return centers[component] + _GAUSS_STD * rs.standard_normal((n, 2))


def _checkerboard(n: int, rs: np.random.RandomState) -> np.ndarray:
    # FFJORD's construction on the unit grid [-2, 2)^2, scaled by 2 at the end: the column is uniform, and the row
    # is one of the two cells of that column whose (row + column) parity is even.
    column = rs.rand(n) * 4 - 2
    within_pair = rs.rand(n)
    pair_offset = rs.randint(0, 2, n) * 2
    row = within_pair - pair_offset + np.floor(column) % 2
    return np.stack([column, row], axis=1) * 2


def _rings(n: int, rs: np.random.RandomState) -> np.ndarray:
    # Points sit on an even angle grid (not random angles), as in FFJORD; the outer three rings get n // 4 each.
    per_ring = [n // 4] * 3
    per_ring.append(n - sum(per_ring))
    circles = []
    for radius, count in zip(_RINGS_RADII, per_ring, strict=True):
        theta = np.linspace(0, 2 * np.pi, count, endpoint=False)
        circles.append(radius * np.stack([np.cos(theta), np.sin(theta)], axis=1))
    points = np.concatenate(circles)[rs.permutation(n)]
    return points + _RINGS_NOISE * rs.standard_normal(points.shape)


def _swiss_roll(n: int, rs: np.random.RandomState) -> np.ndarray:
    from sklearn.datasets import make_swiss_roll

    points, _ = make_swiss_roll(n, noise=_SWISS_ROLL_NOISE, random_state=rs)
    return points[:, [0, 2]] / _SWISS_ROLL_SCALE


_SAMPLERS = {
    "moons": _moons,
    "eight_gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "rings": _rings,
    "swiss_roll": _swiss_roll,
}


def toy2d(name: str, n: int, seed: int) -> np.ndarray:
    """`n` points [n, 2] float32 from toy density `name`, deterministic in (name, n, seed).

    moons: sklearn make_moons, noise 0.05. eight_gaussians: equal mixture of N(c_k, 0.1^2 I), c_k at radius 2 and
    angle k*pi/4. checkerboard: uniform on the 8 even squares of side 2 in [-4, 4]^2 (FFJORD). rings: circles of
    radius 3, 2.25, 1.5, 0.75 plus N(0, 0.08^2 I). swiss_roll: sklearn make_swiss_roll (noise 1), columns 0 and 2 / 5.
    """
    if name not in _SAMPLERS:
        raise ValueError(f"unknown toy dataset {name!r}; valid names: {', '.join(TOY_DATASETS)}")
    n = check_positive_int(n, "n")
    seed = check_seed(seed, upper=2**32)  # The range np.random.RandomState accepts.
    return _SAMPLERS[name](n, np.random.RandomState(seed)).astype(np.float32)


def toy2d_split(name: str, n_train: int = 50000, n_test: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) float32 points: train drawn with `seed`, test with `seed + 1`.

    shared/peers/toy2d.py salts its seeds per dataset; its splits are toy2d_split(name, seed=salt) with salt 1000,
    2000, 3000, 4000 for moons, eight_gaussians, checkerboard, rings.
    """
    return toy2d(name, n_train, seed), toy2d(name, n_test, seed + 1)
