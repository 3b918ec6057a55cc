"""Data for Real NVP: image datasets, 2-D toy densities, tabular sets and tf.data pipelines."""

from tfp_realnvp.data._validation import check_pixels
from tfp_realnvp.data.images import (
    IMAGE_DATASETS,
    ImageData,
    load_digits,
    load_images,
    load_local,
    load_tfds,
    read_cifar10_bin,
    read_mnist_idx,
)
from tfp_realnvp.data.pipelines import dequantize_draws, image_dataset, vector_dataset
from tfp_realnvp.data.tabular import (
    MAF_DATASETS,
    TABULAR_DATASETS,
    TabularData,
    load_breast_cancer,
    load_bsds300,
    load_gas,
    load_hepmass,
    load_miniboone,
    load_power,
    load_tabular,
)
from tfp_realnvp.data.toy2d import TOY_DATASETS, toy2d, toy2d_split

__all__ = [
    "IMAGE_DATASETS",
    "MAF_DATASETS",
    "TABULAR_DATASETS",
    "TOY_DATASETS",
    "ImageData",
    "TabularData",
    "check_pixels",
    "dequantize_draws",
    "image_dataset",
    "load_breast_cancer",
    "load_bsds300",
    "load_digits",
    "load_gas",
    "load_hepmass",
    "load_images",
    "load_local",
    "load_miniboone",
    "load_power",
    "load_tabular",
    "load_tfds",
    "read_cifar10_bin",
    "read_mnist_idx",
    "toy2d",
    "toy2d_split",
    "vector_dataset",
]
