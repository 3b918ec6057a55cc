"""Tests for tfp_realnvp.data: loaders, file readers, toy densities and tf.data pipelines."""

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
import tensorflow as tf

from tfp_realnvp import data
from tfp_realnvp.data.images import _center_crop_resize

# The project's README promises the real data files at ../shared/data, seen from the project root.
SHARED = Path(__file__).resolve().parents[2] / "shared"
MNIST_DIR = SHARED / "data" / "mnist"
CIFAR_DIR = SHARED / "data" / "cifar10"
PEERS_DIR = SHARED / "peers"

needs_mnist = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"{MNIST_DIR} not available")
needs_cifar = pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"{CIFAR_DIR} not available")


def _load_peer(name):
    path = PEERS_DIR / f"{name}.py"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    spec = importlib.util.spec_from_file_location(f"peer_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _idx3_bytes(images, magic=0x00000803):
    n, rows, cols = images.shape
    return struct.pack(">4I", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def _first_batch(ds):
    return next(iter(ds)).numpy()


# ----------------------------------------------------------------------------- digits


def test_digits_split_matches_sklearn():
    digits = data.load_digits()
    reference = sklearn.datasets.load_digits().images
    assert digits.name == "digits" and digits.levels == 17 and digits.event_shape == (8, 8, 1)
    assert digits.train.shape == (1500, 8, 8, 1) and digits.test.shape == (297, 8, 8, 1)
    assert digits.train.dtype == np.uint8 and digits.test.dtype == np.uint8
    np.testing.assert_array_equal(digits.train[..., 0], reference[:1500])
    np.testing.assert_array_equal(digits.test[..., 0], reference[1500:])
    assert digits.train.max() == 16


def test_image_data_validates_its_arrays():
    good = np.zeros((2, 4, 4, 1), np.uint8)
    with pytest.raises(ValueError, match="must be a uint8 numpy array, got float32"):
        data.ImageData(train=good.astype(np.float32), test=good, levels=17, name="x")
    with pytest.raises(ValueError, match=r"values must lie in \[0, 17\).*max 17"):
        data.ImageData(train=good + 17, test=good, levels=17, name="x")
    with pytest.raises(ValueError, match="shapes differ"):
        data.ImageData(train=good, test=np.zeros((2, 4, 5, 1), np.uint8), levels=17, name="x")


# ----------------------------------------------------------------------------- MNIST IDX


@needs_mnist
def test_read_mnist_idx_real_files():
    test = data.read_mnist_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    assert test.shape == (10000, 28, 28, 1) and test.dtype == np.uint8
    with gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz", "rb") as f:
        pixels = np.frombuffer(f.read(), np.uint8)[16:]
    assert int(test.sum(dtype=np.int64)) == int(pixels.sum(dtype=np.int64))
    assert data.read_mnist_idx(MNIST_DIR / "train-images-idx3-ubyte.gz").shape == (60000, 28, 28, 1)


@pytest.mark.parametrize("compressed", [True, False])
def test_read_mnist_idx_roundtrip(tmp_path, compressed):
    images = np.random.RandomState(0).randint(0, 256, size=(3, 28, 28)).astype(np.uint8)
    raw = _idx3_bytes(images)
    path = tmp_path / "tiny-idx3-ubyte"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    read = data.read_mnist_idx(path)
    assert read.shape == (3, 28, 28, 1) and read.dtype == np.uint8
    np.testing.assert_array_equal(read[..., 0], images)


def test_read_mnist_idx_errors(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    bad_magic = tmp_path / "bad_magic.gz"
    bad_magic.write_bytes(gzip.compress(_idx3_bytes(images, magic=0x00000801)))
    with pytest.raises(ValueError, match=r"bad_magic\.gz: bad IDX3 magic number 0x00000801"):
        data.read_mnist_idx(bad_magic)

    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(_idx3_bytes(images)[:-100]))
    with pytest.raises(ValueError, match=r"truncated IDX3 file: header says 3 images of 28x28 \(2352 pixel bytes\)"):
        data.read_mnist_idx(truncated)

    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(_idx3_bytes(images))[:40])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        data.read_mnist_idx(cut_gzip)

    missing = tmp_path / "nope-idx3-ubyte.gz"
    with pytest.raises(FileNotFoundError, match=r"not found: .*nope-idx3-ubyte\.gz"):
        data.read_mnist_idx(missing)


# ----------------------------------------------------------------------------- CIFAR-10 binary


@needs_cifar
def test_read_cifar10_bin_real_file():
    images = data.read_cifar10_bin(CIFAR_DIR / "test_first1000.bin")
    assert images.shape == (1000, 32, 32, 3) and images.dtype == np.uint8
    raw = np.fromfile(CIFAR_DIR / "test_first1000.bin", np.uint8).reshape(1000, 3073)
    np.testing.assert_array_equal(images[7, :, :, 1].ravel(), raw[7, 1 + 1024 : 1 + 2048])


def test_read_cifar10_bin_channel_layout(tmp_path):
    pixels = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)])
    pixels[1024 + 5] = 99  # G plane, row 0, column 5: checks the row-major order within a plane.
    path = tmp_path / "one.bin"
    path.write_bytes(bytes([3]) + pixels.astype(np.uint8).tobytes())
    image = data.read_cifar10_bin(path)
    assert image.shape == (1, 32, 32, 3)
    assert (image[..., 0] == 10).all() and (image[..., 2] == 30).all()
    assert image[0, 0, 5, 1] == 99 and (np.delete(image[0, :, :, 1].ravel(), 5) == 20).all()


def test_read_cifar10_bin_errors(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(3073 + 10))
    with pytest.raises(ValueError, match=r"bad\.bin: size 3083 bytes is not a multiple of the 3073-byte"):
        data.read_cifar10_bin(bad)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.bin: empty CIFAR-10 binary file"):
        data.read_cifar10_bin(empty)
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 binary file not found: .*missing\.bin"):
        data.read_cifar10_bin(tmp_path / "missing.bin")


# ----------------------------------------------------------------------------- local directories


@needs_mnist
def test_load_local_mnist():
    mnist = data.load_local("mnist", MNIST_DIR)
    assert mnist.train.shape == (60000, 28, 28, 1) and mnist.test.shape == (10000, 28, 28, 1)
    assert mnist.levels == 256 and mnist.event_shape == (28, 28, 1) and mnist.name == "mnist"


@needs_cifar
def test_load_local_cifar10():
    cifar = data.load_images("cifar10", CIFAR_DIR)
    assert cifar.train.shape == (4000, 32, 32, 3) and cifar.test.shape == (1000, 32, 32, 3)
    assert cifar.levels == 256 and cifar.event_shape == (32, 32, 3)


def test_load_local_uncompressed_mnist_and_batch_order(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx3_bytes(images))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx3_bytes(images[:1])))
    mnist = data.load_local("mnist", tmp_path)
    assert mnist.train.shape == (2, 28, 28, 1) and mnist.test.shape == (1, 28, 28, 1)

    # data_batch_10 must come after data_batch_2 (numeric, not lexicographic, order).
    for label, k in ((1, 1), (2, 2), (10, 10)):
        (tmp_path / f"data_batch_{k}.bin").write_bytes(bytes([0]) + bytes([label]) * 3072)
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073))
    (tmp_path / "test_extra.bin").write_bytes(bytes(2 * 3073))  # Ignored: test_batch.bin takes precedence.
    cifar = data.load_local("cifar10", tmp_path)
    assert cifar.train[:, 0, 0, 0].tolist() == [1, 2, 10] and len(cifar.test) == 1


def test_load_local_errors(tmp_path):
    missing_dir = tmp_path / "no_such_dir"
    with pytest.raises(FileNotFoundError, match=r"data directory not found: .*no_such_dir"):
        data.load_local("mnist", missing_dir)
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz or t10k-images-idx3-ubyte"):
        data.load_local("mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data_batch_\*\.bin or train\*\.bin.*test_batch\.bin or test\*\.bin"):
        data.load_local("cifar10", tmp_path)
    with pytest.raises(ValueError, match="valid names: mnist, cifar10"):
        data.load_local("svhn", tmp_path)
    with pytest.raises(ValueError, match="valid names: digits, mnist, cifar10, celeb_a"):
        data.load_images("svhn")


# ----------------------------------------------------------------------------- TFDS (mocked, offline)


@pytest.mark.parametrize(("name", "shape"), [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_load_images_tfds_mock(name, shape):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=8):
        images = data.load_images(name)
    assert images.train.shape == (8, *shape) and images.test.shape == (8, *shape)
    assert images.train.dtype == np.uint8 and images.levels == 256 and images.name == name


def test_load_tfds_celeb_a_mock():
    # mock_data works offline for celeb_a too (TFDS ships its feature metadata), so the full path is exercised.
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=8):
        celeb_a = data.load_tfds("celeb_a")
    assert celeb_a.train.shape == (8, 64, 64, 3) and celeb_a.test.shape == (8, 64, 64, 3)
    assert celeb_a.train.dtype == np.uint8


def test_center_crop_resize_is_centred():
    # 200 inside the central 148x148 window (rows 35..182, cols 15..162 of 218x178), 0 outside: a window off by
    # one pixel would pull zeros into the border of the resized image.
    images = np.zeros((2, 218, 178, 3), np.uint8)
    images[:, 35:183, 15:163] = 200
    out = _center_crop_resize(images, 148, 64).numpy()
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8
    assert (out == 200).all()
    ramp = np.broadcast_to(np.arange(178, dtype=np.uint8)[None, None, :, None], (1, 218, 178, 3))
    out = _center_crop_resize(ramp, 148, 64).numpy().astype(float)
    assert abs(out.mean() - (15 + 162) / 2) < 0.5  # Mean of columns 15..162.


# ----------------------------------------------------------------------------- toy 2-D densities


@pytest.mark.parametrize("name", data.TOY_DATASETS)
def test_toy2d_shapes_and_determinism(name):
    x = data.toy2d(name, 500, seed=3)
    assert x.shape == (500, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x, data.toy2d(name, 500, seed=3))
    assert not np.array_equal(x, data.toy2d(name, 500, seed=4))


def test_toy2d_geometry():
    radius = np.linalg.norm(data.toy2d("eight_gaussians", 2000, 0), axis=1)
    assert np.abs(radius - 2).max() < 0.6 and abs(radius.mean() - 2) < 0.02
    x = data.toy2d("checkerboard", 4000, 0) / 2
    assert ((x >= -2) & (x < 2)).all()
    assert ((np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2 == 0).all()
    radius = np.linalg.norm(data.toy2d("rings", 4000, 0), axis=1)
    assert np.min(np.abs(radius[:, None] - np.array([3, 2.25, 1.5, 0.75])), axis=1).max() < 0.5


def test_toy2d_moons_is_sklearn():
    expected, _ = sklearn.datasets.make_moons(300, noise=0.05, random_state=7)
    np.testing.assert_array_equal(data.toy2d("moons", 300, 7), expected.astype(np.float32))


def test_toy2d_matches_peer_script():
    peers = _load_peer("toy2d")
    for salt, name in zip((1000, 2000, 3000, 4000), peers.DATASETS, strict=True):
        np.testing.assert_array_equal(data.toy2d(name, 1000, 5 + salt), peers.sample(name, 1000, 5).astype(np.float32))


def test_toy2d_split_and_errors():
    train, test = data.toy2d_split("rings", n_train=400, n_test=100, seed=9)
    np.testing.assert_array_equal(train, data.toy2d("rings", 400, 9))
    np.testing.assert_array_equal(test, data.toy2d("rings", 100, 10))
    with pytest.raises(ValueError, match=r"unknown toy dataset 'spiral'.*moons"):
        data.toy2d("spiral", 10, 0)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        data.toy2d("moons", 0, 0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        data.toy2d("moons", 10.0, 0)


# ----------------------------------------------------------------------------- pixel checks


def test_check_pixels():
    good = np.zeros((2, 4, 4, 1), np.uint8)
    data.check_pixels(good, 17)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 17\).*max 17"):
        data.check_pixels(good + 17, 17)
    with pytest.raises(ValueError, match=r"min -1"):
        data.check_pixels(good.astype(np.int32) - 1, 17)
    with pytest.raises(ValueError, match=r"integer dtype.*float32"):
        data.check_pixels(good.astype(np.float32), 17)
    with pytest.raises(ValueError, match=r"rank 4 \[N, H, W, C\], got shape \(2, 4, 4\)"):
        data.check_pixels(good[..., 0], 17)


# ----------------------------------------------------------------------------- image pipeline


def _ramp_images(n=64, width=8):
    # Every image is a left-to-right ramp, so a horizontal flip is visible.
    return np.broadcast_to(np.arange(width, dtype=np.uint8)[None, None, :, None], (n, 4, width, 1)).copy()


def test_image_dataset_values_and_shapes():
    images = np.random.RandomState(0).randint(0, 17, size=(100, 8, 8, 1)).astype(np.uint8)
    ds = data.image_dataset(images, 17, 32, training=True, seed=0)
    assert ds.element_spec == tf.TensorSpec((32, 8, 8, 1), tf.float32)
    for x in ds.take(5):
        x = x.numpy()
        assert x.dtype == np.float32 and x.shape == (32, 8, 8, 1)
        assert x.min() >= 0 and x.max() < 17


def test_image_dataset_top_level_stays_below_levels():
    images = np.full((16, 4, 4, 3), 255, np.uint8)
    x = np.concatenate([b.numpy() for b in data.image_dataset(images, 256, 16, training=True, seed=1).take(20)])
    assert x.min() >= 255 and x.max() < 256


def test_image_dataset_batching_and_order():
    images = np.arange(10, dtype=np.uint8)[:, None, None, None]

    def ids(ds):
        return [b.numpy()[:, 0, 0, 0].astype(int).tolist() for b in ds]

    evaluation = data.image_dataset(images, 256, 4, training=False, dequantize=False)
    assert ids(evaluation) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert evaluation.element_spec.shape.as_list() == [None, 1, 1, 1]
    one_epoch = ids(data.image_dataset(images, 256, 4, training=True, seed=0, repeat=False, dequantize=False))
    assert [len(b) for b in one_epoch] == [4, 4]
    seen = [i for batch in one_epoch for i in batch]
    assert len(set(seen)) == 8 and seen != list(range(8))
    kept = ids(
        data.image_dataset(images, 256, 4, training=True, seed=0, repeat=False, drop_remainder=False, dequantize=False)
    )
    assert sorted(i for batch in kept for i in batch) == list(range(10))
    # Repeating: every epoch is a fresh permutation.
    epochs = ids(data.image_dataset(images, 256, 10, training=True, seed=0, dequantize=False).take(3))
    assert all(sorted(e) == list(range(10)) for e in epochs) and len({tuple(e) for e in epochs}) > 1
    with pytest.raises(ValueError, match="batch_size 16 is larger than the 10 examples"):
        data.image_dataset(images, 256, 16, training=True)


def test_image_dataset_deterministic_with_seed():
    images = np.random.RandomState(1).randint(0, 256, size=(50, 6, 6, 3)).astype(np.uint8)

    def make(seed):
        return data.image_dataset(images, 256, 16, training=True, seed=seed, flip=True)

    np.testing.assert_array_equal(_first_batch(make(7)), _first_batch(make(7)))
    assert not np.array_equal(_first_batch(make(7)), _first_batch(make(8)))
    second = [b.numpy() for b in make(7).take(2)]
    assert not np.array_equal(second[0], second[1])


def test_image_dataset_flips_some_images():
    images = _ramp_images()
    ramp = images[0, :, :, 0].astype(np.float32)
    plain = _first_batch(data.image_dataset(images, 256, 64, training=True, seed=3, dequantize=False))
    flipped = _first_batch(data.image_dataset(images, 256, 64, training=True, seed=3, flip=True, dequantize=False))
    assert all(np.array_equal(x[..., 0], ramp) for x in plain)
    is_flipped = np.array([np.array_equal(x[..., 0], ramp[:, ::-1]) for x in flipped])
    is_plain = np.array([np.array_equal(x[..., 0], ramp) for x in flipped])
    assert (is_flipped | is_plain).all()
    assert 10 < is_flipped.sum() < 54  # About half, per image.
    evaluation = _first_batch(data.image_dataset(images, 256, 64, training=False, flip=True, dequantize=False))
    assert all(np.array_equal(x[..., 0], ramp) for x in evaluation)


def test_image_dataset_noise_is_uniform():
    images = np.random.RandomState(2).randint(0, 256, size=(64, 8, 8, 3)).astype(np.uint8)
    noisy = _first_batch(data.image_dataset(images, 256, 64, training=True, seed=5))
    clean = _first_batch(data.image_dataset(images, 256, 64, training=True, seed=5, dequantize=False))
    np.testing.assert_array_equal(np.floor(noisy), clean)
    noise = noisy - clean
    assert noise.min() >= 0 and noise.max() < 1
    assert abs(noise.mean() - 0.5) < 0.02 and abs(noise.std() - np.sqrt(1 / 12)) < 0.02


def test_image_dataset_input_checks():
    images = np.zeros((8, 4, 4, 1), np.uint8)
    with pytest.raises(ValueError, match="integer dtype"):
        data.image_dataset(images.astype(np.float32) / 255, 256, 4, training=True)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 17\)"):
        data.image_dataset(images + 20, 17, 4, training=True)
    with pytest.raises(ValueError, match="rank 4"):
        data.image_dataset(images[0], 256, 4, training=True)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        data.image_dataset(images, 256, 0, training=True)


# ----------------------------------------------------------------------------- vector pipeline and test draws


def test_vector_dataset():
    points = data.toy2d("moons", 100, 0)
    ds = data.vector_dataset(points, 32, training=True, seed=0)
    assert ds.element_spec == tf.TensorSpec((32, 2), tf.float32)
    np.testing.assert_array_equal(
        _first_batch(ds), _first_batch(data.vector_dataset(points, 32, training=True, seed=0))
    )
    batches = [b.numpy() for b in data.vector_dataset(points, 32, training=False)]
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    np.testing.assert_array_equal(np.concatenate(batches), points)
    bad = points.astype(np.float64)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="points contain NaN or Inf"):
        data.vector_dataset(bad, 32, training=True)
    bad[3, 1] = 1e300  # Finite in float64, Inf in float32.
    with pytest.raises(ValueError, match="points contain NaN or Inf"):
        data.vector_dataset(bad, 32, training=True)
    with pytest.raises(ValueError, match=r"rank 2 \[N, D\]"):
        data.vector_dataset(points[:, 0], 32, training=True)


def test_dequantize_draws():
    images = data.load_digits().test
    draws = data.dequantize_draws(images, 17, 4, seed=1234)
    assert draws.shape == (4 * 297, 8, 8, 1) and draws.dtype == np.float32
    np.testing.assert_array_equal(np.floor(draws), np.tile(images, (4, 1, 1, 1)))
    assert draws.max() < 17
    np.testing.assert_array_equal(draws, data.dequantize_draws(images, 17, 4, seed=1234))
    assert not np.array_equal(draws[:297], draws[297:594])


def test_dequantize_draws_match_peer_digits_test_set():
    peers = _load_peer("digits_data")
    x, _ = peers.test_set(transform="none")  # (pixel + u) / 17 with the peers' noise seed.
    draws = data.dequantize_draws(data.load_digits().test, 17, peers.TEST_DRAWS, peers.TEST_NOISE_SEED)
    np.testing.assert_allclose(draws[..., 0] / 17, x, atol=1e-6)


def test_batch_order_is_a_function_of_the_seed_alone_not_of_the_global_seed():
    """`Dataset.shuffle(seed=)` mixes in `tf.random.set_seed`: a test or user that seeded TF globally got
    another batch order (and so another trained model) than a fresh process. Each epoch is a permutation."""
    images = data.load_digits().train[:40]

    def batches():
        ds = data.image_dataset(images, 17, 8, training=True, seed=3)
        return np.stack([b.numpy() for b in ds.take(10)])  # two epochs of 5 batches

    fresh = batches()
    tf.random.set_seed(1234)
    np.testing.assert_array_equal(batches(), fresh)
    assert not np.array_equal(fresh[:5], fresh[5:])  # reshuffled every epoch
    pixels = np.floor(fresh).astype(np.uint8).reshape(2, 40, -1)  # the noise stays inside each pixel's cell
    expected = sorted(images.reshape(40, -1).tobytes()[i * 64 : (i + 1) * 64] for i in range(40))
    for epoch in pixels:
        assert sorted(row.tobytes() for row in epoch) == expected  # every image once per epoch
