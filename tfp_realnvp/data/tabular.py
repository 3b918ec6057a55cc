"""Tabular density-estimation sets: the five of the MAF paper, read from local files, and scikit-learn's breast cancer.

POWER, GAS, HEPMASS, MINIBOONE and BSDS300 are read from `data_dir` in the layout of the data release of
Papamakarios et al. 2017 ("Masked Autoregressive Flow for Density Estimation"; code github.com/gpapamak/maf,
`datasets/*.py`) and preprocessed and split exactly as that code does; nothing is ever downloaded::

    data_dir/power/data.npy
    data_dir/gas/ethylene_CO.pickle        (a pandas pickle; or UCI's raw ethylene_CO.txt, see `load_gas`)
    data_dir/hepmass/1000_train.csv, data_dir/hepmass/1000_test.csv
    data_dir/miniboone/data.npy
    data_dir/BSDS300/BSDS300.hdf5

`data_dir` may also be the dataset's own folder (e.g. `.../power`). Where MAF's code would silently produce NaN (a
constant column) or misaligned HEPMASS test columns, the loaders raise a ValueError naming the file instead. The
arithmetic is MAF's, in float64, cast to float32 at the end. `breast_cancer` ships with scikit-learn and needs no
files. Every loader returns a `TabularData` of float32 train / validation / test arrays [N, D].
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

from tfp_realnvp.data._validation import check_seed

__all__ = [
    "MAF_DATASETS",
    "TABULAR_DATASETS",
    "TabularData",
    "load_breast_cancer",
    "load_bsds300",
    "load_gas",
    "load_hepmass",
    "load_miniboone",
    "load_power",
    "load_tabular",
]

MAF_DATASETS = ("power", "gas", "hepmass", "miniboone", "bsds300")
TABULAR_DATASETS = (*MAF_DATASETS, "breast_cancer")

# Dataset -> its folder in the MAF release and the files the loader reads there.
_LAYOUT = {
    "power": ("power", ("data.npy",)),
    "gas": ("gas", ("ethylene_CO.pickle", "ethylene_CO.txt")),
    "hepmass": ("hepmass", ("1000_train.csv", "1000_test.csv")),
    "miniboone": ("miniboone", ("data.npy",)),
    "bsds300": ("BSDS300", ("BSDS300.hdf5",)),
}
_RELEASE_LAYOUT = (
    "power/data.npy, gas/ethylene_CO.pickle (or gas/ethylene_CO.txt), hepmass/1000_train.csv and "
    "hepmass/1000_test.csv, miniboone/data.npy, BSDS300/BSDS300.hdf5"
)

_POWER_COLUMNS = 8  # global active power, global reactive power, voltage, global intensity, 3 sub-meterings, time
_POWER_KEEP = [0, 2, 4, 5, 6, 7]  # MAF deletes column 3 (global intensity), then column 1 (reactive power)
_GAS_TEXT_COLUMNS = 19  # time, CO concentration, ethylene concentration, 16 sensors
_GAS_PICKLE_DROP = ("Meth", "Eth", "Time")  # the release pickle's names for the three non-sensor columns
_GAS_CORRELATION = 0.98
_GAS_FRACTION = 0.25  # the release pickle is a 25% random sample of the UCI file
_HEPMASS_REPEATS = 5
_MINIBOONE_COLUMNS = 43
_BSDS300_COLUMNS = 63  # 8x8 patches without the last pixel
_BSDS300_SPLITS = ("train", "validation", "test")
_NPY_MAGIC = b"\x93NUMPY"
_SEED = 42  # MAF's RandomState seed (POWER); also the GAS text subsample's
_BREAST_CANCER_FRACTIONS = (0.2, 0.1)  # test, validation


@dataclasses.dataclass(frozen=True, eq=False)
class TabularData:
    """Train, validation and test points of one tabular dataset: float32 arrays [N, D], finite, same D."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    name: str

    def __post_init__(self):
        dims = None
        for split in ("train", "validation", "test"):
            points = getattr(self, split)
            if not isinstance(points, np.ndarray) or points.dtype != np.float32:
                got = points.dtype if isinstance(points, np.ndarray) else type(points).__name__
                raise ValueError(f"TabularData {self.name!r}: {split} must be a float32 numpy array, got {got}")
            if points.ndim != 2 or not points.shape[0] or not points.shape[1]:
                raise ValueError(
                    f"TabularData {self.name!r}: {split} must be a non-empty [N, D] array, got {points.shape}"
                )
            if dims is not None and points.shape[1] != dims:
                raise ValueError(f"TabularData {self.name!r}: {split} has {points.shape[1]} columns, train has {dims}")
            dims = points.shape[1]
            if not np.all(np.isfinite(points)):
                raise ValueError(f"TabularData {self.name!r}: {split} contains NaN or Inf")

    @property
    def dims(self) -> int:
        """D, the number of columns."""
        return int(self.train.shape[1])

    @property
    def event_shape(self) -> tuple[int]:
        """(D,)."""
        return (self.dims,)

    def __repr__(self) -> str:
        return (
            f"TabularData(name={self.name!r}, train={self.train.shape}, validation={self.validation.shape}, "
            f"test={self.test.shape})"
        )


# ----------------------------------------------------------------------------- files


def _dataset_dir(name: str, data_dir) -> Path:
    folder = _LAYOUT[name][0]
    if data_dir is None:
        raise ValueError(
            f"{name}: `data_dir` is required: {name} is read from the MAF data release on disk "
            f"({folder}/ under `data_dir`) and nothing is downloaded"
        )
    if isinstance(data_dir, str) and not data_dir.strip():
        raise ValueError(f"{name}: `data_dir` must be a folder path, got an empty string")
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise FileNotFoundError(f"{name}: `data_dir` {str(data_dir)!r} does not exist")
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{name}: `data_dir` {str(data_dir)!r} is not a folder")
    return data_dir


def _candidates(name: str, data_dir: Path, filename: str) -> list[Path]:
    return [data_dir / _LAYOUT[name][0] / filename, data_dir / filename]


def _find(name: str, data_dir: Path, filename: str) -> Path | None:
    return next((p for p in _candidates(name, data_dir, filename) if p.is_file()), None)


def _missing(name: str, data_dir: Path, filenames: tuple[str, ...]) -> FileNotFoundError:
    looked = " or ".join(str(p) for f in filenames for p in _candidates(name, data_dir, f))
    return FileNotFoundError(
        f"{name}: {' / '.join(filenames)} not found: looked for {looked}. Expected the layout of the MAF data "
        f"release (Papamakarios et al. 2017) under `data_dir`: {_RELEASE_LAYOUT}; nothing is downloaded"
    )


def _require(name: str, data_dir: Path, filename: str) -> Path:
    path = _find(name, data_dir, filename)
    if path is None:
        raise _missing(name, data_dir, (filename,))
    return path


def _check_values(values: np.ndarray, path: Path, columns: int | None, what: str, rows: str = "row") -> np.ndarray:
    """`values` as a float64 [N, columns] array, or a ValueError naming `path` and the problem."""
    if values.dtype == np.bool_ or not (
        np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    ):
        raise ValueError(f"{path}: expected numeric {what}, got an array of dtype {values.dtype}")
    if values.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array [rows, columns] of {what}, got shape {values.shape}")
    if columns is not None and values.shape[1] != columns:
        raise ValueError(f"{path}: expected {columns} columns ({what}), got {values.shape[1]} (shape {values.shape})")
    if not len(values):
        raise ValueError(f"{path}: holds no rows of {what}")
    values = np.asarray(values, np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{path}: {int(bad.sum())} value(s) NaN or Inf, the first at {rows} {row}, column {col} (from 0): "
            f"{values[row, col]}"
        )
    return values


def _read_npy(path: Path, columns: int, what: str) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
    except OSError as err:
        raise ValueError(f"{path}: cannot read: {err}") from err
    if magic != _NPY_MAGIC:
        raise ValueError(f"{path}: not a .npy file (corrupt? it does not start with the NumPy header {_NPY_MAGIC!r})")
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy array (truncated or corrupt?): {err}") from err
    if not isinstance(values, np.ndarray):  # an .npz archive under the .npy name
        values.close()
        raise ValueError(f"{path}: is an .npz archive, expected a single .npy array")
    return _check_values(values, path, columns, what)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_text(path: Path, delimiter: str | None, header: bool, what: str) -> tuple[list[str], np.ndarray]:
    """(the header's fields, the rows as float64) of a delimited text file. With `header` the first line must be
    one (not numbers); without, a first line that is not all numbers is skipped as one."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
            fields = [t.strip() for t in (first.split(delimiter) if delimiter else first.split())]
            numeric = bool(fields) and all(_is_number(t) for t in fields)
            if numeric and not header:
                f.seek(0)
                fields = []
            if not (numeric and header):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
                    values = np.loadtxt(f, delimiter=delimiter, comments=None, ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise ValueError(
            f"{path}: unreadable {what}: {_first_bad_line(path, delimiter, header or not numeric)}"
        ) from err
    except OSError as err:
        raise ValueError(f"{path}: cannot read {what}: {err}") from err
    if numeric and header:
        raise ValueError(f"{path}: the first line holds numbers, expected the header line of {what}")
    if not len(values):
        raise ValueError(f"{path}: holds no data rows of {what}")
    if header and values.shape[1] != len(fields):
        raise ValueError(f"{path}: the header names {len(fields)} columns but the rows have {values.shape[1]}")
    return fields, _check_values(values, path, None, what, rows="data row" if fields else "row")


def _first_bad_line(path: Path, delimiter: str | None, skip_first: bool) -> str:
    """Where and why a delimited text file does not parse (its slow re-read, only after a failed parse)."""
    width = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if number == 1 and skip_first or not line.strip():
                continue
            tokens = [t.strip() for t in (line.split(delimiter) if delimiter else line.split())]
            shown = line.strip()[:80]
            bad = next((t for t in tokens if not _is_number(t)), None)
            if bad is not None:
                return f"line {number} holds the non-numeric value {bad!r}: {shown!r}"
            if width is not None and len(tokens) != width:
                return f"line {number} has {len(tokens)} fields, the lines before it {width} (truncated?): {shown!r}"
            width = len(tokens)
    return "it does not parse as numbers"


# ----------------------------------------------------------------------------- MAF's preprocessing


def _maf_split(data: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAF's split: the last 10% of the rows test, the last 10% of the rest validation, the others train."""
    n_test = int(0.1 * data.shape[0])
    rest = data.shape[0] - n_test
    n_val = int(0.1 * rest)
    if n_test < 1 or n_val < 1:
        raise ValueError(
            f"{what}: {data.shape[0]} rows are too few for MAF's split (the last 10% test, then the last 10% of the "
            "rest validation: at least 11 rows)"
        )
    return data[: rest - n_val], data[rest - n_val : rest], data[rest:]


def _constant_columns(std: np.ndarray, names=None) -> str:
    cols = np.flatnonzero(std == 0)
    shown = ", ".join(str(names[c]) if names is not None else str(c) for c in cols[:10])
    return shown + (f" and {len(cols) - 10} more" if len(cols) > 10 else "")


def _normalise_with(parts, stats_rows: np.ndarray, ddof: int, what: str, names=None):
    mu, s = stats_rows.mean(axis=0), stats_rows.std(axis=0, ddof=ddof)
    if np.any(s == 0):
        raise ValueError(f"{what}: column(s) {_constant_columns(s, names)} are constant: normalising divides by zero")
    return [(p - mu) / s for p in parts]


def _power(raw: np.ndarray, path) -> list[np.ndarray]:
    rng = np.random.RandomState(_SEED)
    data = np.array(raw, np.float64)
    rng.shuffle(data)
    n = data.shape[0]
    data = data[:, _POWER_KEEP]
    # Uniform noise against the repeated readings, drawn in MAF's order: voltage, global active power, sub-meterings.
    voltage_noise = 0.01 * rng.rand(n, 1)
    gap_noise = 0.001 * rng.rand(n, 1)
    sm_noise = rng.rand(n, 3)
    data = data + np.hstack((gap_noise, voltage_noise, sm_noise, np.zeros((n, 1))))
    train, validation, test = _maf_split(data, f"POWER ({path})")
    return _normalise_with((train, validation, test), data[: len(train) + len(validation)], 0, f"POWER ({path})")


def _gas(sensors: np.ndarray, path) -> list[np.ndarray]:
    """MAF's GAS cleaning of the sensor columns: drop the first column correlated > 0.98 with another until none
    is, normalise with the whole set's mean and std (ddof 1, as pandas), split."""
    what = f"GAS ({path})"
    if sensors.shape[1] < 1:
        raise ValueError(f"{what}: no sensor columns left after dropping time and the two concentrations")
    std = sensors.std(axis=0)
    if np.any(std == 0):
        raise ValueError(f"{what}: sensor column(s) {_constant_columns(std)} are constant")
    keep = list(range(sensors.shape[1]))
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.atleast_2d(np.corrcoef(sensors[:, keep], rowvar=False))
        counts = (corr > _GAS_CORRELATION).sum(axis=1)
        over = np.flatnonzero(counts > 1)
        if not len(over):
            break
        del keep[over[0]]
    data = sensors[:, keep]
    data = _normalise_with([data], data, 1, what)[0]
    return list(_maf_split(data, what))


def _hepmass(train_names, train, test_names, test, paths) -> list[np.ndarray]:
    train_path, test_path = paths
    train = train[train[:, 0] == 1][:, 1:]
    test = test[test[:, 0] == 1][:, 1:-1]
    train_names, test_names = list(train_names[1:]), list(test_names[1:-1])
    if not len(train):
        raise ValueError(f"{train_path}: no signal rows (label 1 in the first column)")
    if not len(test):
        raise ValueError(f"{test_path}: no signal rows (label 1 in the first column)")
    if not train.shape[1]:
        raise ValueError(f"{train_path}: no feature columns after the label")
    if test_names != train_names:
        # pandas pairs the columns by name; with differing names its alignment would also reorder them.
        only_train = sorted(set(train_names) - set(test_names))
        only_test = sorted(set(test_names) - set(train_names))
        raise ValueError(
            f"HEPMASS: the test file's columns after the label, without its last column, must be the train file's "
            f"({len(train_names)}); {test_path} has {len(test_names)}"
            + (f", lacking {only_train}" if only_train else "")
            + (f", with extra {only_test}" if only_test else "")
            + ("" if only_train or only_test else " in another order")
        )
    mu, s = train.mean(axis=0), train.std(axis=0, ddof=1)
    if np.any(s == 0):
        raise ValueError(
            f"{train_path}: feature(s) {_constant_columns(s, train_names)} are constant over the signal rows: "
            "normalising divides by zero"
        )
    train, test = (train - mu) / s, (test - mu) / s
    # MAF drops each feature whose smallest (normalised) training value occurs more than 5 times.
    keep = [j for j in range(train.shape[1]) if _count_of_smallest(train[:, j]) <= _HEPMASS_REPEATS]
    if not keep:
        raise ValueError(f"{train_path}: every feature has its smallest value more than {_HEPMASS_REPEATS} times")
    train, test = train[:, keep], test[:, keep]
    n_val = int(train.shape[0] * 0.1)
    if n_val < 1 or n_val >= train.shape[0]:
        raise ValueError(f"{train_path}: {train.shape[0]} signal rows are too few to hold out 10% for validation")
    return [train[:-n_val], train[-n_val:], test]


def _count_of_smallest(column: np.ndarray) -> int:
    # MAF: np.array([v for k, v in sorted(Counter(feature).items())])[0], the count of the smallest value.
    return int(np.count_nonzero(column == column.min()))


def _finish(name: str, parts) -> TabularData:
    train, validation, test = (np.ascontiguousarray(p, np.float32) for p in parts)
    return TabularData(train=train, validation=validation, test=test, name=name)


# ----------------------------------------------------------------------------- loaders


def load_power(data_dir: str | os.PathLike) -> TabularData:
    """POWER (UCI household electric power consumption), D = 6, as MAF's `datasets/power.py`.

    Reads `data_dir/power/data.npy` (or `data_dir/data.npy`): 8 numeric columns (global active power, global
    reactive power, voltage, global intensity, sub-meterings 1-3, time). With `np.random.RandomState(42)`: shuffles
    the rows, drops global intensity and reactive power, adds uniform noise U(0, 0.01) to voltage, U(0, 0.001) to
    global active power and U(0, 1) to the sub-meterings (drawn in that order), splits (the last 10% test, the last
    10% of the rest validation) and normalises with the mean and std (ddof 0) of train and validation together.
    The release gives 1,659,917 / 184,435 / 204,928 rows.
    """
    data_dir = _dataset_dir("power", data_dir)
    path = _require("power", data_dir, "data.npy")
    return _finish("power", _power(_read_npy(path, _POWER_COLUMNS, "POWER readings"), path))


def load_gas(data_dir: str | os.PathLike) -> TabularData:
    """GAS (UCI gas sensor array under dynamic gas mixtures, ethylene and CO), D = 8 in the release, as MAF's
    `datasets/gas.py`.

    Reads `data_dir/gas/ethylene_CO.pickle` (or `data_dir/ethylene_CO.pickle`), the release's pandas DataFrame,
    when pandas can be imported: its columns "Meth", "Eth" and "Time" are dropped and the other (sensor) columns
    kept in order. Otherwise reads UCI's raw `ethylene_CO.txt` from the same places: whitespace-separated rows of
    19 numbers (time, CO and ethylene concentrations, 16 sensors) after an optional header line; the first three
    columns are dropped and, as the release pickle is a 25% random sample of that file in random order (an
    unseeded `DataFrame.sample(frac=0.25)`, per a commented-out line of MAF's gas.py), a sample of the same size
    and kind is drawn: the rows `np.random.RandomState(42).choice(N, round(0.25 N), replace=False)`, in that order.
    Same preprocessing and split sizes, but not the release's rows. A pickle without pandas and no text file is an
    error. Then, as MAF: while some column has a correlation > 0.98 with another,
    the first such column is dropped; the rest is normalised with the whole set's mean and std (ddof 1) and split
    (the last 10% test, the last 10% of the rest validation). The release gives 852,174 / 94,685 / 105,206 rows.
    Unpickling runs code from the file: use only a pickle you trust.
    """
    data_dir = _dataset_dir("gas", data_dir)
    pickle_path = _find("gas", data_dir, "ethylene_CO.pickle")
    text_path = _find("gas", data_dir, "ethylene_CO.txt")
    if pickle_path is not None:
        try:
            import pandas  # noqa: F401 - only the release pickle needs it
        except ImportError:
            if text_path is None:
                raise ValueError(
                    f"{pickle_path} is a pandas DataFrame pickle and pandas is not installed: install pandas, or put "
                    f"UCI's raw ethylene_CO.txt in {pickle_path.parent} (read without pandas)"
                ) from None
        else:
            return _finish("gas", _gas(_read_gas_pickle(pickle_path), pickle_path))
    if text_path is None:
        raise _missing("gas", data_dir, ("ethylene_CO.pickle", "ethylene_CO.txt"))
    _, values = _read_text(text_path, None, header=False, what="GAS readings (time, CO, ethylene, 16 sensors)")
    if values.shape[1] != _GAS_TEXT_COLUMNS:
        raise ValueError(
            f"{text_path}: expected {_GAS_TEXT_COLUMNS} columns (time, CO, ethylene, 16 sensors), got {values.shape[1]}"
        )
    n = values.shape[0]
    rows = np.random.RandomState(_SEED).choice(n, round(_GAS_FRACTION * n), replace=False)
    return _finish("gas", _gas(values[rows, 3:], text_path))


def _read_gas_pickle(path: Path) -> np.ndarray:
    import pandas as pd

    try:
        frame = pd.read_pickle(path)
    except Exception as err:  # noqa: BLE001 - unpickling fails in many ways on a bad file
        raise ValueError(f"{path}: not a readable pandas pickle (truncated or corrupt?): {err}") from err
    columns = [str(c) for c in getattr(frame, "columns", [])]
    missing = [c for c in _GAS_PICKLE_DROP if c not in columns]
    if missing:
        raise ValueError(
            f"{path}: expected a DataFrame with columns {list(_GAS_PICKLE_DROP)} and sensors, got {columns}"
        )
    try:
        values = np.asarray(frame.to_numpy())
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: cannot convert the DataFrame to numbers: {err}") from err
    if values.dtype == object:
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: non-numeric values in the DataFrame: {err}") from err
    keep = [j for j, c in enumerate(columns) if c not in _GAS_PICKLE_DROP]
    return _check_values(values, path, len(columns), "GAS readings")[:, keep]


def load_hepmass(data_dir: str | os.PathLike) -> TabularData:
    """HEPMASS (UCI, the mass-1000 files), D = 21 in the release, as MAF's `datasets/hepmass.py`.

    Reads `data_dir/hepmass/1000_train.csv` and `1000_test.csv` (or both directly in `data_dir`): comma-separated,
    a header line, the class label first. Keeps the signal rows (label 1) and drops the label; the test file also
    loses its last column (MAF's code drops it: "the data set is messed up"), after which its column names must be
    the train file's (pandas would pair them by name). Normalises both with the training rows' mean and std
    (ddof 1), drops every feature whose smallest normalised training value occurs more than 5 times, and holds out
    the last 10% of the training rows for validation. The release gives 315,123 / 35,013 / 174,987 rows.
    """
    data_dir = _dataset_dir("hepmass", data_dir)
    paths = [_find("hepmass", data_dir, f) for f in _LAYOUT["hepmass"][1]]
    missing = tuple(f for f, p in zip(_LAYOUT["hepmass"][1], paths, strict=True) if p is None)
    if missing:
        raise _missing("hepmass", data_dir, missing)
    what = "HEPMASS rows (label, features)"
    (train_names, train), (test_names, test) = (_read_text(p, ",", header=True, what=what) for p in paths)
    if train.shape[1] < 2:
        raise ValueError(f"{paths[0]}: expected the label and at least one feature, got {train.shape[1]} column(s)")
    if test.shape[1] < 3:
        raise ValueError(
            f"{paths[1]}: expected the label, the features and a last column, got {test.shape[1]} column(s)"
        )
    return _finish("hepmass", _hepmass(train_names, train, test_names, test, paths))


def load_miniboone(data_dir: str | os.PathLike) -> TabularData:
    """MINIBOONE (UCI MiniBooNE particle identification), D = 43, as MAF's `datasets/miniboone.py`.

    Reads `data_dir/miniboone/data.npy` (or `data_dir/data.npy`): 43 numeric columns (the release's file, already
    without the outliers and repeated-value features MAF removed). Splits (the last 10% test, the last 10% of the
    rest validation) and normalises with the mean and std (ddof 0) of train and validation together. The release
    gives 29,556 / 3,284 / 3,648 rows.
    """
    data_dir = _dataset_dir("miniboone", data_dir)
    path = _require("miniboone", data_dir, "data.npy")
    values = _read_npy(path, _MINIBOONE_COLUMNS, "MINIBOONE features")
    what = f"MINIBOONE ({path})"
    train, validation, test = _maf_split(values, what)
    return _finish(
        "miniboone",
        _normalise_with((train, validation, test), values[: len(train) + len(validation)], 0, what),
    )


def load_bsds300(data_dir: str | os.PathLike) -> TabularData:
    """BSDS300 (8x8 natural image patches without the last pixel), D = 63, as MAF's `datasets/bsds300.py`.

    Reads the datasets "train", "validation" and "test" of `data_dir/BSDS300/BSDS300.hdf5` (or
    `data_dir/BSDS300.hdf5`), each [N, 63], as they are (the release's own preprocessing and splits). The release
    gives 1,000,000 / 50,000 / 250,000 rows.
    """
    import h5py  # Deferred: only BSDS300 needs it.

    data_dir = _dataset_dir("bsds300", data_dir)
    path = _require("bsds300", data_dir, "BSDS300.hdf5")
    parts = []
    try:
        with h5py.File(path, "r") as f:
            keys = sorted(f.keys())
            for split in _BSDS300_SPLITS:
                if split not in f or not isinstance(f[split], h5py.Dataset):
                    raise ValueError(
                        f"{path}: no dataset {split!r}; expected datasets {list(_BSDS300_SPLITS)}, found {keys}"
                    )
                parts.append(_check_values(f[split][()], path, _BSDS300_COLUMNS, f"BSDS300 {split} patches"))
    except (OSError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}") from err
    return _finish("bsds300", parts)


def load_breast_cancer(seed: int = 0) -> TabularData:
    """scikit-learn's breast cancer (Wisconsin diagnostic) features, D = 30, 569 rows, no files needed.

    The rows are permuted with `np.random.RandomState(seed)`: the first round(20%) = 114 test, the next round(10%)
    = 57 validation, the other 398 train; every split is standardised with the training mean and std (ddof 0).
    The class label is not used. Six columns (the concavity and concave-points features) are exactly 0 in 13 rows.
    """
    from sklearn import datasets  # Deferred: most callers never need scikit-learn.

    seed = check_seed(seed, upper=2**32)
    values = datasets.load_breast_cancer().data
    if values.ndim != 2 or values.shape[1] != 30:
        raise ValueError(f"scikit-learn breast cancer: expected [569, 30] features, got shape {values.shape}")
    n = values.shape[0]
    order = np.random.RandomState(seed).permutation(n)
    n_test, n_val = (round(f * n) for f in _BREAST_CANCER_FRACTIONS)
    test, validation, train = (
        values[order[a:b]] for a, b in ((0, n_test), (n_test, n_test + n_val), (n_test + n_val, n))
    )
    return _finish("breast_cancer", _normalise_with((train, validation, test), train, 0, "breast_cancer"))


_LOADERS = {
    "power": load_power,
    "gas": load_gas,
    "hepmass": load_hepmass,
    "miniboone": load_miniboone,
    "bsds300": load_bsds300,
}


def load_tabular(name: str, data_dir: str | os.PathLike | None = None) -> TabularData:
    """Any of TABULAR_DATASETS: the MAF sets from `data_dir` (required), breast_cancer from scikit-learn."""
    if name == "breast_cancer":
        return load_breast_cancer()
    if name not in _LOADERS:
        raise ValueError(f"unknown tabular dataset {name!r}; valid names: {', '.join(TABULAR_DATASETS)}")
    return _LOADERS[name](data_dir)
