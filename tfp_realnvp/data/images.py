"""Image datasets as uint8 arrays: scikit-learn digits, local MNIST / CIFAR-10 files, TFDS."""

from __future__ import annotations

import dataclasses
import gzip
import numbers
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfp_realnvp.data._validation import check_pixels

__all__ = [
    "IMAGE_DATASETS",
    "ImageData",
    "load_digits",
    "load_images",
    "load_local",
    "load_tfds",
    "read_cifar10_bin",
    "read_mnist_idx",
    "read_mnist_labels",
]

IMAGE_DATASETS = ("digits", "mnist", "cifar10", "celeb_a")
_LOCAL_DATASETS = ("mnist", "cifar10")
_TFDS_DATASETS = ("mnist", "cifar10", "celeb_a")

_DIGITS_TRAIN = 1500
_DIGITS_LEVELS = 17

_GZIP_MAGIC = b"\x1f\x8b"
_IDX3_MAGIC = 0x00000803
_IDX1_MAGIC = 0x00000801
_IDX3_HEADER_BYTES = 16
_IDX1_HEADER_BYTES = 8
_MNIST_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
_MNIST_LABEL_FILES = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}

_CIFAR_SIDE = 32
_CIFAR_RECORD_BYTES = 1 + 3 * _CIFAR_SIDE * _CIFAR_SIDE

# Real NVP (Dinh et al., 2016, sec. 4.1): central 148x148 crop of the 218x178 CelebA images, resized to 64x64.
_CELEBA_CROP = 148
_CELEBA_SIZE = 64
_TFDS_BATCH = 1024


@dataclasses.dataclass(frozen=True, eq=False)
class ImageData:
    """Train and test images of one dataset: uint8 arrays [N, H, W, C] with values in [0, levels),
    and their class labels (int64 [N] in [0, num_classes)) where the source has them (None
    otherwise): what a class-conditional flow trains on."""

    train: np.ndarray
    test: np.ndarray
    levels: int
    name: str
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    num_classes: int | None = None

    def __post_init__(self):
        levels = self.levels
        if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or not 2 <= levels <= 256:
            raise ValueError(f"ImageData {self.name!r}: levels must be an int in [2, 256] (uint8), got {levels!r}")
        for split in ("train", "test"):
            images = getattr(self, split)
            if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
                got = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
                raise ValueError(f"ImageData {self.name!r}: {split} must be a uint8 numpy array, got {got}")
            check_pixels(images, self.levels, name=f"ImageData {self.name!r} {split}")
        if self.train.shape[1:] != self.test.shape[1:]:
            raise ValueError(
                f"ImageData {self.name!r}: train and test image shapes differ: "
                f"{self.train.shape[1:]} vs {self.test.shape[1:]}"
            )
        labelled = [self.train_labels is not None, self.test_labels is not None, self.num_classes is not None]
        if any(labelled) and not all(labelled):
            raise ValueError(f"ImageData {self.name!r}: give train_labels, test_labels and num_classes together")
        for split in ("train", "test") if all(labelled) else ():
            labels, images = getattr(self, f"{split}_labels"), getattr(self, split)
            if not isinstance(labels, np.ndarray) or labels.shape != (len(images),) or labels.dtype.kind not in "iu":
                raise ValueError(f"ImageData {self.name!r}: {split}_labels must be integers [{len(images)}]")
            if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(
                    f"ImageData {self.name!r}: {split}_labels must be in [0, {self.num_classes}), got "
                    f"[{labels.min()}, {labels.max()}]"
                )

    @property
    def event_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(int(d) for d in self.train.shape[1:])

    def __repr__(self) -> str:
        return f"ImageData(name={self.name!r}, levels={self.levels}, train={self.train.shape}, test={self.test.shape})"


def load_digits() -> ImageData:
    """scikit-learn's 8x8 digits (17 grey levels): the first 1500 images train, the last 297 test, unshuffled."""
    from sklearn import datasets  # Deferred: most callers never need scikit-learn.

    digits = datasets.load_digits()
    images, labels = digits.images, digits.target.astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (8, 8) or len(images) <= _DIGITS_TRAIN:
        raise ValueError(f"scikit-learn digits: expected [1797, 8, 8] images, got shape {images.shape}")
    lo, hi = images.min(), images.max()
    if lo < 0 or hi > _DIGITS_LEVELS - 1 or not np.array_equal(images, np.round(images)):
        raise ValueError(f"scikit-learn digits: expected integer pixel values in 0..16, got range {lo}..{hi}")
    pixels = images.astype(np.uint8)[..., None]
    n = _DIGITS_TRAIN
    return ImageData(
        train=pixels[:n],
        test=pixels[n:],
        levels=_DIGITS_LEVELS,
        name="digits",
        train_labels=labels[:n],
        test_labels=labels[n:],
        num_classes=10,
    )


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None


def _read_idx(path: Path, what: str) -> bytes:
    raw = _read_bytes(path, what)
    # Decide by content, not by file name: downloads are often stored decompressed under the .gz name or vice versa.
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return raw


def read_mnist_labels(path: str | os.PathLike) -> np.ndarray:
    """Labels [n] int64 from an IDX1 file (MNIST format), gzipped or not."""
    path = Path(path)
    raw = _read_idx(path, "IDX1 label file")
    if len(raw) < _IDX1_HEADER_BYTES:
        raise ValueError(f"{path}: truncated IDX1 file: {len(raw)} bytes, shorter than the 8-byte header")
    magic, n = struct.unpack(">2I", raw[:_IDX1_HEADER_BYTES])
    if magic != _IDX1_MAGIC:
        hint = " (that is an IDX3 image file)" if magic == _IDX3_MAGIC else ""
        raise ValueError(f"{path}: bad IDX1 magic number {magic:#010x}{hint}, expected {_IDX1_MAGIC:#010x}")
    if len(raw) - _IDX1_HEADER_BYTES != n:
        raise ValueError(f"{path}: header says {n} labels, got {len(raw) - _IDX1_HEADER_BYTES} bytes")
    return np.frombuffer(raw, np.uint8, offset=_IDX1_HEADER_BYTES).astype(np.int64)


def read_mnist_idx(path: str | os.PathLike) -> np.ndarray:
    """Images [n, rows, cols, 1] uint8 from an IDX3 file (MNIST format), gzipped or not."""
    path = Path(path)
    raw = _read_idx(path, "IDX3 image file")
    if len(raw) < _IDX3_HEADER_BYTES:
        raise ValueError(f"{path}: truncated IDX3 file: {len(raw)} bytes, shorter than the 16-byte header")
    magic, n, rows, cols = struct.unpack(">4I", raw[:_IDX3_HEADER_BYTES])
    if magic != _IDX3_MAGIC:
        hint = " (that is an IDX1 label file)" if magic == _IDX1_MAGIC else ""
        raise ValueError(f"{path}: bad IDX3 magic number {magic:#010x}{hint}, expected {_IDX3_MAGIC:#010x}")
    expected = n * rows * cols
    got = len(raw) - _IDX3_HEADER_BYTES
    if got != expected:
        problem = "truncated IDX3 file" if got < expected else "IDX3 size mismatch"
        raise ValueError(
            f"{path}: {problem}: header says {n} images of {rows}x{cols} ({expected} pixel bytes), got {got} bytes"
        )
    return np.frombuffer(raw, np.uint8, offset=_IDX3_HEADER_BYTES).reshape(n, rows, cols, 1).copy()


def read_cifar10_bin(path: str | os.PathLike, labels: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Images [n, 32, 32, 3] uint8 from a CIFAR-10 binary batch; `labels=True` also returns the
    records' labels [n] int64 in [0, 10)."""
    path = Path(path)
    raw = _read_bytes(path, "CIFAR-10 binary file")
    if not raw:
        raise ValueError(f"{path}: empty CIFAR-10 binary file (0 bytes)")
    n, extra = divmod(len(raw), _CIFAR_RECORD_BYTES)
    if extra:
        raise ValueError(
            f"{path}: size {len(raw)} bytes is not a multiple of the {_CIFAR_RECORD_BYTES}-byte CIFAR-10 record "
            f"(1 label byte + 3072 pixel bytes); {extra} bytes left over: truncated, or not CIFAR-10 binary format"
        )
    records = np.frombuffer(raw, np.uint8).reshape(n, _CIFAR_RECORD_BYTES)
    # Records store whole colour planes one after another (channel-major); the models want channels last.
    planes = records[:, 1:].reshape(n, 3, _CIFAR_SIDE, _CIFAR_SIDE)
    images = np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    if not labels:
        return images
    classes = records[:, 0].astype(np.int64)
    if n and classes.max() >= 10:
        raise ValueError(f"{path}: label byte {classes.max()} is not a CIFAR-10 class (0..9): not CIFAR-10 format")
    return images, classes


def _natural_key(path: Path) -> list:
    # So that data_batch_10.bin sorts after data_batch_9.bin.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _bin_files(directory: Path, pattern: str) -> list[Path]:
    return sorted((p for p in directory.glob(pattern) if p.is_file()), key=_natural_key)


def _load_local_mnist(data_dir: Path) -> ImageData:
    splits, missing = {}, []
    for split, stem in _MNIST_FILES.items():
        candidates = [data_dir / f"{stem}.gz", data_dir / stem]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            missing.append(f"{split}: {' or '.join(p.name for p in candidates)}")
            continue
        images = read_mnist_idx(found)
        if images.shape[1:] != (28, 28, 1):
            raise ValueError(f"{found}: expected 28x28 MNIST images, got {images.shape[1]}x{images.shape[2]}")
        splits[split] = images
    if missing:
        raise FileNotFoundError(f"MNIST files not found in {data_dir}: looked for {'; '.join(missing)}")
    labels = {}  # optional: a class-conditional flow needs them, the others do not
    for split, stem in _MNIST_LABEL_FILES.items():
        found = next((p for p in (data_dir / f"{stem}.gz", data_dir / stem) if p.is_file()), None)
        if found is not None:
            labels[split] = read_mnist_labels(found)
            if len(labels[split]) != len(splits[split]):
                raise ValueError(f"{found}: {len(labels[split])} labels for {len(splits[split])} {split} images")
    if len(labels) < 2:
        return ImageData(train=splits["train"], test=splits["test"], levels=256, name="mnist")
    return ImageData(
        train=splits["train"],
        test=splits["test"],
        levels=256,
        name="mnist",
        train_labels=labels["train"],
        test_labels=labels["test"],
        num_classes=10,
    )


def _load_local_cifar10(data_dir: Path) -> ImageData:
    root = data_dir
    nested = data_dir / "cifar-10-batches-bin"
    # The official archive unpacks into cifar-10-batches-bin/, so also accept the folder it was unpacked in.
    if nested.is_dir() and not _bin_files(data_dir, "*.bin"):
        root = nested
    train_files = _bin_files(root, "data_batch_*.bin") or _bin_files(root, "train*.bin")
    test_files = [root / "test_batch.bin"] if (root / "test_batch.bin").is_file() else _bin_files(root, "test*.bin")
    missing = []
    if not train_files:
        missing.append("train: data_batch_*.bin or train*.bin")
    if not test_files:
        missing.append("test: test_batch.bin or test*.bin")
    if missing:
        raise FileNotFoundError(f"CIFAR-10 files not found in {root}: looked for {'; '.join(missing)}")
    train = [read_cifar10_bin(p, labels=True) for p in train_files]
    test = [read_cifar10_bin(p, labels=True) for p in test_files]
    return ImageData(
        train=np.concatenate([images for images, _ in train]),
        test=np.concatenate([images for images, _ in test]),
        levels=256,
        name="cifar10",
        train_labels=np.concatenate([labels for _, labels in train]),
        test_labels=np.concatenate([labels for _, labels in test]),
        num_classes=10,
    )


def load_local(name: str, data_dir: str | os.PathLike) -> ImageData:
    """MNIST ("mnist") or CIFAR-10 ("cifar10") from the standard binary files in `data_dir`.

    MNIST: train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz], and the labels from
    train-labels-idx1-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] when both are there.
    CIFAR-10: every data_batch_*.bin (else every train*.bin) for train; test_batch.bin (else every test*.bin) for test;
    labels from the same records. (TFDS loads images only: `load_tfds` returns no labels.)
    """
    if name not in _LOCAL_DATASETS:
        raise ValueError(f"load_local: unknown dataset {name!r}; valid names: {', '.join(_LOCAL_DATASETS)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{name} data directory not found: {data_dir}")
    return _load_local_mnist(data_dir) if name == "mnist" else _load_local_cifar10(data_dir)


def _center_crop_resize(images: tf.Tensor | np.ndarray, crop: int, size: int) -> tf.Tensor:
    """uint8 [..., size, size, C]: the central crop x crop window, area-resized and rounded back to uint8."""
    images = tf.convert_to_tensor(images)
    height, width = images.shape[-3], images.shape[-2]
    if height is None or width is None or height < crop or width < crop:
        raise ValueError(f"cannot take a {crop}x{crop} crop of images of shape {images.shape}")
    top, left = (height - crop) // 2, (width - crop) // 2
    cropped = images[..., top : top + crop, left : left + crop, :]
    resized = tf.image.resize(cropped, [size, size], method="area")
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _tfds_split(tfds, name: str, split: str, data_dir: str | None) -> np.ndarray:
    ds = tfds.load(name, split=split, data_dir=data_dir)
    ds = ds.map(lambda example: example["image"])
    if ds.element_spec.dtype != tf.uint8:
        raise ValueError(f"TFDS {name}/{split}: expected uint8 images, got {ds.element_spec.dtype.name}")
    count = int(ds.cardinality())
    ds = ds.batch(_TFDS_BATCH)
    if name == "celeb_a":
        ds = ds.map(lambda batch: _center_crop_resize(batch, _CELEBA_CROP, _CELEBA_SIZE))
    # Filling one preallocated array keeps peak memory at one copy of the split (CelebA is ~2 GB at 64x64);
    # a list of chunks is only the fallback for datasets of unknown size.
    out, chunks, filled = None, [], 0
    for batch in tfds.as_numpy(ds):
        if count < 0:
            chunks.append(batch)
        elif filled + len(batch) > count:
            raise ValueError(f"TFDS {name}/{split}: expected {count} images, got more")
        else:
            if out is None:
                out = np.empty((count, *batch.shape[1:]), np.uint8)
            out[filled : filled + len(batch)] = batch
        filled += len(batch)
    if filled == 0:
        raise ValueError(f"TFDS {name}/{split} returned no images")
    if count < 0:
        return np.concatenate(chunks)
    if filled != count:
        raise ValueError(f"TFDS {name}/{split}: expected {count} images, got {filled}")
    return out


def load_tfds(name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """MNIST, CIFAR-10 or CelebA (64x64, Real NVP crop) train/test images via tensorflow_datasets."""
    if name not in _TFDS_DATASETS:
        raise ValueError(f"load_tfds: unknown dataset {name!r}; valid names: {', '.join(_TFDS_DATASETS)}")
    import tensorflow_datasets as tfds  # Deferred: importing TFDS takes seconds and only this path needs it.

    data_dir = None if data_dir is None else os.fspath(data_dir)
    train = _tfds_split(tfds, name, "train", data_dir)
    test = _tfds_split(tfds, name, "test", data_dir)
    return ImageData(train=train, test=test, levels=256, name=name)


def load_images(name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Any of IMAGE_DATASETS: digits from scikit-learn; MNIST / CIFAR-10 from `data_dir` if given, else TFDS."""
    if name == "digits":
        return load_digits()
    if name in _LOCAL_DATASETS and data_dir is not None:
        return load_local(name, data_dir)
    if name in _TFDS_DATASETS:
        return load_tfds(name, data_dir)
    raise ValueError(f"unknown image dataset {name!r}; valid names: {', '.join(IMAGE_DATASETS)}")
