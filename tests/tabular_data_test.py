"""Tests for tfp_realnvp.data.tabular: MAF's five tabular sets from small files of the release's schema, written
here, checked against a reference written from MAF's datasets/*.py step by step; breast_cancer; every bad file; and
one short tabular run through run_experiment."""

import json
import math
import sys
import types
from collections import Counter

import h5py
import numpy as np
import pytest

from tfp_realnvp import data

# ----------------------------------------------------------------------------- files of the release's schema


def _power_raw(n=240, seed=0):
    rs = np.random.RandomState(seed)
    raw = rs.rand(n, 8) * [5, 1, 240, 20, 40, 40, 20, 1440]
    raw[:, 4] = np.floor(raw[:, 4] / 10)  # sub-meterings: few distinct integer values, as in UCI's file
    return raw


def _gas_text(n=400, seed=1):
    """19 whitespace-separated columns (time, CO, ethylene, 16 sensors) after UCI's header line; sensors 1 and 7
    near-copies of sensors 0 and 6 (correlation > 0.98), sensor 12 of sensor 11 scaled."""
    rs = np.random.RandomState(seed)
    sensors = rs.randn(n, 16) * 100 + 1000
    sensors[:, 1] = 2 * sensors[:, 0] + rs.randn(n)
    sensors[:, 7] = sensors[:, 6] + 0.1 * rs.randn(n)
    sensors[:, 12] = -3 * sensors[:, 11] + 5  # anti-correlated: MAF counts only correlations > 0.98
    sensors[:, 13] = 0.5 * sensors[:, 11] + 0.01 * rs.randn(n)
    time = np.arange(n) * 0.01
    co, eth = rs.choice([0.0, 100.0, 200.0], n), rs.choice([0.0, 10.0], n)
    values = np.column_stack([time, co, eth, sensors])
    lines = ["Time (seconds), CO conc (ppm), Ethylene conc (ppm), sensor readings (16 channels)"]
    lines += ["  ".join(f"{v:.2f}" for v in row) for row in values]
    return "\n".join(lines) + "\n", np.array([[float(f"{v:.2f}") for v in row] for row in values])


def _hepmass_tables(n_train=300, n_test=120, seed=2):
    """Label first, then features f0..f5; f3 has its smallest value 0 in many rows and f5 three values (MAF drops
    both); the test file has the same columns and a trailing `mass`."""
    rs = np.random.RandomState(seed)

    def table(n):
        x = rs.randn(n, 6)
        x[:, 3] = np.maximum(x[:, 3], 0)
        x[:, 5] = rs.choice([-1.0, 0.5, 2.0], n)
        labels = rs.randint(0, 2, n).astype(float)
        return np.column_stack([labels, x])

    return table(n_train), table(n_test)


def _write_csv(path, names, values):
    lines = [",".join(names)] + [",".join(repr(float(v)) for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")


_HEPMASS_NAMES = ["# label"] + [f"f{j}" for j in range(6)]


def _bsds_splits(seed=3):
    rs = np.random.RandomState(seed)
    return {s: rs.rand(n, 63).astype(np.float32) - 0.5 for s, n in (("train", 50), ("validation", 10), ("test", 20))}


@pytest.fixture
def release(tmp_path):
    """A data_dir in the MAF release's layout, with small files of each set's schema."""
    root = tmp_path / "maf"
    for folder in ("power", "gas", "hepmass", "miniboone", "BSDS300"):
        (root / folder).mkdir(parents=True)
    raw = {"power": _power_raw(), "miniboone": np.random.RandomState(4).randn(150, 43) * 3 + 1}
    np.save(root / "power" / "data.npy", raw["power"])
    np.save(root / "miniboone" / "data.npy", raw["miniboone"])
    text, raw["gas"] = _gas_text()
    (root / "gas" / "ethylene_CO.txt").write_text(text)
    raw["hepmass"] = _hepmass_tables()
    train, test = raw["hepmass"]
    _write_csv(root / "hepmass" / "1000_train.csv", _HEPMASS_NAMES, train)
    _write_csv(
        root / "hepmass" / "1000_test.csv", [*_HEPMASS_NAMES, "mass"], np.column_stack([test, np.full(len(test), 1e3)])
    )
    raw["bsds300"] = _bsds_splits()
    with h5py.File(root / "BSDS300" / "BSDS300.hdf5", "w") as f:
        for split, values in raw["bsds300"].items():
            f.create_dataset(split, data=values)
    return types.SimpleNamespace(root=root, raw=raw)


# ----------------------------------------------------------------------------- references (MAF's steps, literally)


def _split_like_maf(x):
    n_test = int(0.1 * x.shape[0])
    test, x = x[-n_test:], x[:-n_test]
    n_val = int(0.1 * x.shape[0])
    return x[:-n_val], x[-n_val:], test


def _reference_power(raw):
    rng = np.random.RandomState(42)
    x = raw.copy()
    rng.shuffle(x)
    n = x.shape[0]
    x = np.delete(np.delete(x, 3, axis=1), 1, axis=1)
    voltage, gap, sub = 0.01 * rng.rand(n, 1), 0.001 * rng.rand(n, 1), rng.rand(n, 3)
    x = x + np.hstack((gap, voltage, sub, np.zeros((n, 1))))
    train, val, test = _split_like_maf(x)
    both = np.vstack((train, val))
    mu, s = both.mean(axis=0), both.std(axis=0)
    return [(p - mu) / s for p in (train, val, test)]


def _reference_gas_rows(x):
    while True:
        counts = (np.corrcoef(x, rowvar=False) > 0.98).sum(axis=1)
        if not np.any(counts > 1):
            break
        x = np.delete(x, np.where(counts > 1)[0][0], axis=1)
    return list(_split_like_maf((x - x.mean(axis=0)) / x.std(axis=0, ddof=1)))


def _reference_gas(raw):
    """The text file: a seeded 25% sample of the rows (as the release's pickle is), then the pickle's steps."""
    n = raw.shape[0]
    return _reference_gas_rows(raw[np.random.RandomState(42).choice(n, round(0.25 * n), replace=False)][:, 3:])


def _reference_hepmass(train, test):
    train = train[train[:, 0] == 1][:, 1:]
    test = test[test[:, 0] == 1][:, 1:]  # the trailing `mass` is not in `test` here
    mu, s = train.mean(axis=0), train.std(axis=0, ddof=1)
    train, test = (train - mu) / s, (test - mu) / s
    drop = [j for j, col in enumerate(train.T) if [v for _, v in sorted(Counter(col).items())][0] > 5]
    keep = [j for j in range(train.shape[1]) if j not in drop]
    train, test = train[:, keep], test[:, keep]
    n_val = int(train.shape[0] * 0.1)
    return [train[:-n_val], train[-n_val:], test], drop


def _reference_miniboone(raw):
    train, val, test = _split_like_maf(raw)
    both = np.vstack((train, val))
    return [(p - both.mean(axis=0)) / both.std(axis=0) for p in (train, val, test)]


def _assert_splits(table, expected, name, atol=1e-6):
    assert isinstance(table, data.TabularData) and table.name == name
    for split, want in zip(("train", "validation", "test"), expected, strict=True):
        got = getattr(table, split)
        assert got.dtype == np.float32 and got.shape == want.shape, (split, got.shape, want.shape)
        np.testing.assert_allclose(got, want.astype(np.float32), atol=atol, err_msg=split)


# ----------------------------------------------------------------------------- the five MAF sets


def test_power_shuffles_drops_two_columns_adds_noise_and_normalises_like_maf(release):
    table = data.load_power(release.root)
    raw = release.raw["power"]
    _assert_splits(table, _reference_power(raw), "power")
    assert table.dims == 6 and (len(table.train), len(table.validation), len(table.test)) == (195, 21, 24)
    both = np.vstack([table.train, table.validation]).astype(np.float64)
    np.testing.assert_allclose(both.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(both.std(axis=0), 1, atol=1e-5)
    # Noise: the integer sub-metering now has as many distinct values as rows (noise U(0, 1) added).
    assert len(np.unique(np.concatenate([table.train, table.validation, table.test])[:, 2])) == len(raw)
    again = data.load_power(release.root / "power")  # the dataset's own folder works as well
    np.testing.assert_array_equal(again.train, table.train)


def test_gas_text_drops_time_and_concentrations_then_correlated_sensors_like_maf(release):
    table = data.load_gas(release.root)
    _assert_splits(table, _reference_gas(release.raw["gas"]), "gas")
    # Sensors 1 and 7 (near-copies) and then 13 (scaled copy of 11) go; the anti-correlated 12 stays.
    assert table.dims == 13
    assert (len(table.train), len(table.validation), len(table.test)) == (81, 9, 10)
    everything = np.concatenate([table.train, table.validation, table.test]).astype(np.float64)
    corr = np.corrcoef(everything, rowvar=False)
    assert (corr > 0.98).sum() == table.dims  # only the diagonal
    np.testing.assert_allclose(everything.std(axis=0, ddof=1), 1, atol=1e-5)


class _FakeFrame:
    """What the loader uses of a pandas DataFrame: `columns` and `to_numpy()`."""

    def __init__(self, columns, values):
        self.columns, self._values = columns, values

    def to_numpy(self):
        return self._values


def test_gas_pickle_is_read_with_pandas_and_refused_clearly_without(release, monkeypatch):
    gas = release.root / "gas"
    (gas / "ethylene_CO.txt").unlink()
    (gas / "ethylene_CO.pickle").write_bytes(b"a pandas pickle")
    if "pandas" not in sys.modules:
        with pytest.raises(ValueError, match=r"ethylene_CO\.pickle is a pandas DataFrame pickle.*ethylene_CO\.txt"):
            data.load_gas(release.root)
    raw = release.raw["gas"]
    columns = ["Time", "Meth", "Eth", *(f"s{j}" for j in range(16))]
    fake = types.SimpleNamespace(read_pickle=lambda path: _FakeFrame(columns, raw))
    monkeypatch.setitem(sys.modules, "pandas", fake)
    table = data.load_gas(release.root)
    # The pickle is the release's sample already: all its rows are kept, in order.
    _assert_splits(table, _reference_gas_rows(raw[:, 3:]), "gas")
    assert len(table.train) + len(table.validation) + len(table.test) == len(raw)
    no_names = types.SimpleNamespace(read_pickle=lambda path: _FakeFrame(columns[3:], raw[:, 3:]))
    monkeypatch.setitem(sys.modules, "pandas", no_names)
    with pytest.raises(ValueError, match="Meth"):
        data.load_gas(release.root)


def test_hepmass_keeps_signal_drops_repeated_features_and_normalises_with_training_stats(release):
    table = data.load_hepmass(release.root)
    train, test = release.raw["hepmass"]
    expected, dropped = _reference_hepmass(train, test)
    assert dropped == [3, 5]
    _assert_splits(table, expected, "hepmass")
    signal_train, signal_test = int((train[:, 0] == 1).sum()), int((test[:, 0] == 1).sum())
    assert len(table.train) + len(table.validation) == signal_train and len(table.test) == signal_test
    assert len(table.validation) == int(0.1 * signal_train)
    fit = np.vstack([table.train, table.validation]).astype(np.float64)
    np.testing.assert_allclose(fit.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(fit.std(axis=0, ddof=1), 1, atol=1e-5)
    assert abs(float(table.test.mean())) > 1e-4  # the test split is normalised with the training statistics


def test_miniboone_splits_and_normalises_like_maf(release):
    table = data.load_miniboone(release.root)
    _assert_splits(table, _reference_miniboone(release.raw["miniboone"]), "miniboone")
    assert table.dims == 43 and (len(table.train), len(table.validation), len(table.test)) == (122, 13, 15)


def test_bsds300_reads_the_files_own_splits(release):
    table = data.load_bsds300(release.root)
    _assert_splits(table, [release.raw["bsds300"][s] for s in ("train", "validation", "test")], "bsds300", atol=0)
    assert table.event_shape == (63,)


def test_load_tabular_dispatches_and_is_deterministic(release):
    for name in data.MAF_DATASETS:
        first, second = data.load_tabular(name, release.root), data.load_tabular(name, str(release.root))
        assert first.name == name
        for split in ("train", "validation", "test"):
            np.testing.assert_array_equal(getattr(first, split), getattr(second, split))
    assert data.TABULAR_DATASETS == (*data.MAF_DATASETS, "breast_cancer")
    with pytest.raises(ValueError, match="unknown tabular dataset 'iris'"):
        data.load_tabular("iris")


# ----------------------------------------------------------------------------- breast cancer


def test_breast_cancer_is_a_seeded_split_standardised_with_training_statistics():
    import sklearn.datasets

    table = data.load_breast_cancer()
    assert (table.train.shape, table.validation.shape, table.test.shape) == ((398, 30), (57, 30), (114, 30))
    train = table.train.astype(np.float64)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-5)
    # Undo the standardisation: the three splits are the 569 rows, each once.
    raw = sklearn.datasets.load_breast_cancer().data
    order = np.random.RandomState(0).permutation(len(raw))
    mu, s = raw[order[171:]].mean(axis=0), raw[order[171:]].std(axis=0)
    back = np.concatenate([table.test, table.validation, table.train]).astype(np.float64) * s + mu
    np.testing.assert_allclose(back, raw[order], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(data.load_breast_cancer().test, table.test)
    assert not np.allclose(data.load_breast_cancer(seed=1).test[:5], table.test[:5])
    with pytest.raises(ValueError, match="seed"):
        data.load_breast_cancer(seed=-1)


def test_tabular_data_checks_its_arrays():
    good = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="validation must be a float32"):
        data.TabularData(good, good.astype(np.float64), good, "x")
    with pytest.raises(ValueError, match="test has 3 columns"):
        data.TabularData(good, good, np.zeros((3, 3), np.float32), "x")
    with pytest.raises(ValueError, match="NaN or Inf"):
        data.TabularData(np.full((3, 2), np.nan, np.float32), good, good, "x")


# ----------------------------------------------------------------------------- bad files


def _truncate(path, keep=0.5):
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep)])


def _damage_hepmass_test(root, lines):
    path = root / "hepmass" / "1000_test.csv"
    content = path.read_text().splitlines()
    path.write_text("\n".join(lines(content)) + "\n")


def _write(relative, content):
    def damage(root):
        path = root / relative
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)

    return damage


def _npy(relative, values):
    return lambda root: np.save(root / relative, values)


def _unlink(relative):
    return lambda root: (root / relative).unlink()


def _cut(relative, keep=0.5):
    return lambda root: _truncate(root / relative, keep)


def _edit_hepmass_test(lines):
    return lambda root: _damage_hepmass_test(root, lines)


POWER, MINI, GAS, BSDS = "power/data.npy", "miniboone/data.npy", "gas/ethylene_CO.txt", "BSDS300/BSDS300.hdf5"
NO_SIGNAL = _edit_hepmass_test(lambda c: c[:1] + ["0" + line[line.index(",") :] for line in c[1:]])
WITHOUT_LAST = _edit_hepmass_test(lambda c: [",".join(line.split(",")[:-1]) for line in c])
# id: (dataset, damage(root), expected error type, words the message must hold)
BAD_FILES = {
    "power_missing": ("power", _unlink(POWER), FileNotFoundError, ["data.npy", "MAF", "nothing is downloaded"]),
    "power_7_columns": ("power", _npy(POWER, np.ones((30, 7))), ValueError, ["data.npy", "8 columns", "got 7"]),
    "power_nan": ("power", _npy(POWER, np.where(np.eye(30, 8) > 0, np.nan, 1)), ValueError, ["data.npy", "NaN"]),
    "power_strings": ("power", _npy(POWER, np.full((30, 8), "a")), ValueError, ["data.npy", "numeric"]),
    "power_truncated": ("power", _cut(POWER), ValueError, ["data.npy", "truncated"]),
    "power_not_npy": ("power", _write(POWER, b"garbage" * 20), ValueError, ["data.npy", "not a .npy file"]),
    "power_too_few_rows": ("power", _npy(POWER, np.random.rand(10, 8)), ValueError, ["10 rows", "split"]),
    "miniboone_1d": ("miniboone", _npy(MINI, np.ones(43)), ValueError, ["data.npy", "2-D"]),
    "miniboone_constant": ("miniboone", _npy(MINI, np.ones((40, 43))), ValueError, ["constant"]),
    "gas_missing": ("gas", _unlink(GAS), FileNotFoundError, ["ethylene_CO.pickle", "ethylene_CO.txt"]),
    "gas_18_columns": ("gas", _write(GAS, "h\n" + "1 " * 18), ValueError, [GAS, "19 columns", "got 18"]),
    "gas_non_numeric": ("gas", _write(GAS, "h\n" + "1 " * 18 + "x"), ValueError, [GAS, "line 2", "'x'"]),
    "gas_inf": ("gas", _write(GAS, "h\n" + "1 " * 18 + "inf"), ValueError, [GAS, "Inf"]),
    "gas_truncated": ("gas", _cut(GAS), ValueError, [GAS, "truncated"]),
    "gas_empty": ("gas", _write(GAS, ""), ValueError, [GAS, "no data rows"]),
    "hepmass_missing": ("hepmass", _unlink("hepmass/1000_test.csv"), FileNotFoundError, ["1000_test.csv"]),
    "hepmass_no_header": ("hepmass", _edit_hepmass_test(lambda c: c[1:]), ValueError, ["1000_test.csv", "header"]),
    "hepmass_ragged": ("hepmass", _edit_hepmass_test(lambda c: [*c, "1,2,3"]), ValueError, ["line 122", "3 fields"]),
    "hepmass_text": ("hepmass", _edit_hepmass_test(lambda c: [*c, "1" + ",a" * 7]), ValueError, ["line 122", "'a'"]),
    "hepmass_truncated": ("hepmass", _cut("hepmass/1000_train.csv", 0.503), ValueError, ["1000_train.csv"]),
    "hepmass_test_without_last": ("hepmass", WITHOUT_LAST, ValueError, ["1000_test.csv", "lacking ['f5']"]),
    "hepmass_no_signal": ("hepmass", NO_SIGNAL, ValueError, ["1000_test.csv", "signal"]),
    "bsds300_truncated": ("bsds300", _cut(BSDS), ValueError, ["BSDS300.hdf5", "truncated"]),
    "bsds300_not_hdf5": ("bsds300", _write(BSDS, b"x" * 4000), ValueError, ["BSDS300.hdf5", "HDF5"]),
    "bsds300_no_validation": ("bsds300", lambda r: _drop_hdf5(r, "validation"), ValueError, ["'validation'"]),
    "bsds300_62_columns": (
        "bsds300",
        lambda r: _drop_hdf5(r, "test", np.zeros((5, 62), np.float32)),
        ValueError,
        ["BSDS300.hdf5", "63 columns", "got 62"],
    ),
}


def _drop_hdf5(root, split, replacement=None):
    with h5py.File(root / "BSDS300" / "BSDS300.hdf5", "a") as f:
        del f[split]
        if replacement is not None:
            f.create_dataset(split, data=replacement)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_named_with_the_problem(release, case):
    name, damage, error, words = BAD_FILES[case]
    damage(release.root)
    with pytest.raises(error) as info:
        data.load_tabular(name, release.root)
    message = str(info.value)
    assert all(w.lower() in message.lower() for w in words), message
    assert "\n" not in message


def test_data_dir_must_be_given_and_exist(tmp_path):
    with pytest.raises(ValueError, match=r"power: `data_dir` is required.*nothing is downloaded"):
        data.load_power(None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_hepmass(tmp_path / "nowhere")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        data.load_bsds300(tmp_path / "a_file")
    with pytest.raises(
        FileNotFoundError, match=r"looked for .*miniboone/data\.npy or .*data\.npy.*BSDS300/BSDS300\.hdf5"
    ):
        data.load_miniboone(tmp_path)


# ----------------------------------------------------------------------------- experiments


def test_experiment_config_and_load_data_take_the_tabular_sets(release):
    from tfp_realnvp.experiment import ExperimentConfig, load_data

    with pytest.raises(ValueError, match=r"`dataset` 'power'.*`data_dir`.*nothing is downloaded"):
        ExperimentConfig(dataset="power")
    config = ExperimentConfig(dataset="power", data_dir=str(release.root))
    assert not config.is_image and config.batch_size == 512  # the vector recipe
    d = load_data(config)
    table = data.load_power(release.root)
    assert d.levels is None and d.event_shape == (6,)
    np.testing.assert_array_equal(d.validation, table.validation)
    np.testing.assert_array_equal(d.test, table.test)
    assert load_data(ExperimentConfig(dataset="breast_cancer")).validation.shape == (57, 30)


def test_breast_cancer_run_picks_the_checkpoint_on_validation_and_reports_nats_per_dim(tmp_path):
    from tfp_realnvp.experiment import ExperimentConfig, restore_flow, run_experiment
    from tfp_realnvp.training import evaluate

    config = ExperimentConfig(
        dataset="breast_cancer",
        num_couplings=2,
        hidden_units=(8,),
        steps=6,
        batch_size=32,
        warmup_steps=0,
        eval_every=2,
        checkpoint_every=6,
        log_every=2,
        num_samples=4,
        model_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "export"),
    )
    metrics = run_experiment(config, verbose=False)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    best = min(history["eval"], key=lambda e: e["validation_bits_per_dim"])
    assert (
        metrics["chosen_step"] == best["step"] and metrics["validation_bits_per_dim"] == best["validation_bits_per_dim"]
    )
    assert metrics["test_nll_nats_per_dim"] == pytest.approx(metrics["test_bits_per_dim"] * math.log(2))
    assert metrics["test_nll_nats"] == pytest.approx(metrics["test_nll_nats_per_dim"] * 30)
    assert metrics["validation_nll_nats_per_dim"] == pytest.approx(best["validation_bits_per_dim"] * math.log(2))
    assert (tmp_path / "run" / "panels.png").stat().st_size > 0
    flow, _ = restore_flow(str(tmp_path / "run"))  # the validation-chosen weights
    test = data.load_breast_cancer().test
    assert evaluate(flow, test) == pytest.approx(metrics["test_bits_per_dim"], rel=1e-5)
