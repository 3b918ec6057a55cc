"""Class labels of the image datasets: what a class-conditional flow (`--condition=label`) trains on."""

import gzip
import struct

import numpy as np
import pytest

from tfp_realnvp.data import ImageData, load_digits, load_local, read_cifar10_bin
from tfp_realnvp.data.images import read_mnist_labels
from tfp_realnvp.experiment import ExperimentConfig, load_data


def _idx1(labels, magic=0x801, count=None):
    return struct.pack(">2I", magic, len(labels) if count is None else count) + bytes(labels)


def _idx3(n, rows=28, cols=28):
    return struct.pack(">4I", 0x803, n, rows, cols) + bytes(n * rows * cols)


def test_mnist_label_files_are_read_gzipped_or_not(tmp_path):
    (tmp_path / "a").write_bytes(gzip.compress(_idx1([5, 0, 4])))
    (tmp_path / "b").write_bytes(_idx1([1, 9]))
    np.testing.assert_array_equal(read_mnist_labels(tmp_path / "a"), [5, 0, 4])
    assert read_mnist_labels(tmp_path / "b").dtype == np.int64


@pytest.mark.parametrize(
    "raw, words",
    [
        (_idx1([1, 2], magic=0x803), "IDX3 image file"),
        (_idx1([1, 2], count=5), "header says 5 labels"),
        (b"\x00\x00", "truncated"),
    ],
)
def test_bad_mnist_label_files_are_named(tmp_path, raw, words):
    (tmp_path / "labels").write_bytes(raw)
    with pytest.raises(ValueError, match=words):
        read_mnist_labels(tmp_path / "labels")


def test_local_mnist_keeps_labels_when_both_files_are_there(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx3(3))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx3(2))
    assert load_local("mnist", tmp_path).train_labels is None  # images only: no labels, no error
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx1([3, 1, 4]))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx1([1, 5, 9]))
    with pytest.raises(ValueError, match="3 labels for 2 test images"):
        load_local("mnist", tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx1([1, 5]))
    data = load_local("mnist", tmp_path)
    np.testing.assert_array_equal(data.train_labels, [3, 1, 4])
    assert data.num_classes == 10


def test_cifar_records_give_their_labels(tmp_path):
    records = np.zeros([2, 3073], np.uint8)
    records[:, 0] = [7, 2]
    (tmp_path / "batch.bin").write_bytes(records.tobytes())
    images, labels = read_cifar10_bin(tmp_path / "batch.bin", labels=True)
    assert images.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(labels, [7, 2])
    records[0, 0] = 11
    (tmp_path / "batch.bin").write_bytes(records.tobytes())
    with pytest.raises(ValueError, match="not a CIFAR-10 class"):
        read_cifar10_bin(tmp_path / "batch.bin", labels=True)


def test_image_data_checks_its_labels():
    pixels = np.zeros([2, 2, 2, 1], np.uint8)
    with pytest.raises(ValueError, match="together"):
        ImageData(pixels, pixels, 17, "x", train_labels=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        ImageData(pixels, pixels, 17, "x", np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="integers"):
        ImageData(pixels, pixels, 17, "x", np.array([0.0, 1.0]), np.array([0, 1]), 2)


def test_digits_labels_become_one_hot_conditions_for_every_split():
    digits = load_digits()
    assert digits.num_classes == 10 and len(digits.train_labels) == len(digits.train)
    data = load_data(ExperimentConfig(dataset="digits", condition="label"))
    assert data.condition_dims == 10
    n_val = len(data.validation)
    np.testing.assert_array_equal(data.train_conditions.argmax(1), digits.train_labels[:-n_val])
    np.testing.assert_array_equal(data.validation_conditions.argmax(1), digits.train_labels[-n_val:])
    np.testing.assert_array_equal(data.test_conditions.argmax(1), digits.test_labels)
    assert load_data(ExperimentConfig(dataset="digits")).train_conditions is None
