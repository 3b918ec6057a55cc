"""Train a flow (Real NVP, Glow, NICE, MAF or IAF), report test bits/dim, export a SavedModel and write pictures.

python experiments/train.py                                  # digits, the README's main job
python experiments/train.py --model=glow --num_steps=8       # Glow on digits
python experiments/train.py --model=maf --dataset=moons      # a masked autoregressive flow on 2-D data
python experiments/train.py --condition=label                # class-conditional Real NVP on digits
python experiments/train.py --dataset=mnist --data_dir=../shared/data/mnist --num_scales=3
python experiments/train.py --dataset=moons --steps=3000 --strategy=mirrored --num_cpu_devices=2
python experiments/train.py --dataset=power --data_dir=../shared/data/maf    # MAF's tabular sets, from local files
"""

import dataclasses
import math
import os
import sys

from absl import flags, logging

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _cli  # noqa: E402  (beside this script)

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "dataset",
    "digits",
    "Images: digits, mnist, cifar10, celeb_a; 2-D: moons, eight_gaussians, checkerboard, rings, swiss_roll; "
    "tabular: breast_cancer (scikit-learn), power, gas, hepmass, miniboone, bsds300 (MAF's files, need --data_dir)",
)
flags.DEFINE_string(
    "data_dir",
    None,
    "Folder with local files: MNIST IDX gz / CIFAR-10 .bin (TFDS when absent), or the MAF data release "
    "(power/, gas/, hepmass/, miniboone/, BSDS300/ under it; never downloaded)",
)
flags.DEFINE_string("model", "realnvp", "The model: realnvp, glow, nice, maf, iaf, naf or sos (models.MODELS)")
flags.DEFINE_enum(
    "condition",
    "none",
    ["none", "label"],
    "label: a class-conditional flow p(x | class) (image datasets with labels: digits, mnist and cifar10 files)",
)
flags.DEFINE_integer("num_scales", None, "Multi-scale levels (images; realnvp, glow; default 2)", lower_bound=1)
flags.DEFINE_integer(
    "num_blocks", None, "Residual blocks per conditioner (realnvp images; default: digits 1, others 2)", lower_bound=0
)
flags.DEFINE_integer(
    "hidden_channels",
    None,
    "Conditioner feature maps (images; realnvp: at the first scale, doubling per scale, default digits 20, "
    "others 32; glow: every level, default digits 32, others 64)",
    lower_bound=1,
)
flags.DEFINE_integer("num_steps", None, "Glow's steps of flow per level (default 8)", lower_bound=1)
flags.DEFINE_enum("prior", None, ["logistic", "normal"], "NICE's prior (default logistic, the paper's)")
flags.DEFINE_bool(
    "squeeze_first",
    None,
    "Each scale's checkerboard couplings on the squeezed grid: same partition, 4x fewer conditioner positions "
    "(images only)",
)
flags.DEFINE_enum(
    "dequantization",
    None,
    ["uniform", "variational"],
    "variational: learn the dequantization noise per pixel (Flow++; default: images variational, 2-D uniform)",
)
flags.DEFINE_integer("num_couplings", None, "Couplings (realnvp vectors, default 32; nice, default 4)", lower_bound=1)
flags.DEFINE_list(
    "hidden_units",
    None,
    "MLP conditioner widths (vectors; nice, maf, iaf: all data; default realnvp, glow, maf, iaf 128,128, nice 5x1000)",
)
flags.DEFINE_float("dropout", None, "Dropout inside the conditioner ResNets while training (default: images 0.2)")
flags.DEFINE_bool(
    "batch_norm",
    None,
    "Moving-average batch norm after every coupling (realnvp; default: images yes, digits and 2-D no) or "
    "autoregressive layer (maf, iaf; default no)",
)
flags.DEFINE_float("batch_norm_momentum", None, "Running-statistics momentum of the batch norm (default 0.9)")
flags.DEFINE_bool("additive", None, "Additive couplings (NICE's) instead of affine (realnvp, glow)")
flags.DEFINE_float(
    "output_scale", None, "Constant multiplying each MLP conditioner's output (realnvp vectors; default 0.1)"
)
flags.DEFINE_integer("num_layers", None, "Autoregressive layers (maf, iaf, naf, sos; default 5)", lower_bound=1)
flags.DEFINE_integer(
    "residual_blocks", None, "Masked residual blocks per MADE (maf, iaf, naf, sos; default 0)", lower_bound=0
)
flags.DEFINE_enum(
    "mixing",
    None,
    ["reverse", "random", "linear", "none"],
    "Between autoregressive layers (maf, iaf, naf, sos): reverse the order (default), a random order per layer, "
    "a learned invertible linear map, or nothing",
)
flags.DEFINE_integer("sigmoid_units", None, "Units of each deep sigmoidal transformer (naf)", lower_bound=1)
flags.DEFINE_integer("degree", None, "Degree of each polynomial (sos)", lower_bound=1)
flags.DEFINE_integer("num_squares", None, "Polynomials squared and summed per dimension (sos)", lower_bound=1)
flags.DEFINE_integer(
    "batch_size", None, "Global batch size, split across replicas (default: images 64, 2-D 512)", lower_bound=1
)
flags.DEFINE_integer("steps", None, "Training steps (default: digits 4000, other images 1000, 2-D 3000)", lower_bound=1)
flags.DEFINE_integer("epochs", 0, "If > 0, train this many epochs instead of --steps", lower_bound=0)
flags.DEFINE_float("learning_rate", None, "Peak Adam learning rate (default 1e-3; realnvp on vectors 2e-3)")
flags.DEFINE_integer(
    "warmup_steps", None, "Linear learning-rate warm-up steps (default: images 0, 2-D 300)", lower_bound=0
)
flags.DEFINE_enum(
    "decay", None, ["none", "cosine"], "Learning-rate decay after warm-up (default: images none, 2-D cosine)"
)
flags.DEFINE_float("l2", None, "L2 on the weight-norm scales (default: images the paper's 5e-5, 2-D 0)")
flags.DEFINE_float("clip_norm", 100.0, "Global gradient-norm clip (0 disables)")
flags.DEFINE_float(
    "ema_decay", None, "Evaluate and export a moving average of the weights (default: images 0.999, 2-D 0: off)"
)
flags.DEFINE_bool(
    "mixed_precision", False, "Conditioners in float16 (bfloat16 without a GPU); log-dets and loss stay float32"
)
flags.DEFINE_bool(
    "jit_compile",
    False,
    "Compile the training step with XLA (faster steps for small conditioners, a longer first compile)",
)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy")
flags.DEFINE_integer(
    "num_cpu_devices",
    0,
    "Split the CPU into N logical devices (to run --strategy=mirrored without GPUs)",
    lower_bound=0,
)
flags.DEFINE_integer("seed", 0, "Seed for weights, data order, dequantization and dropout masks", lower_bound=0)
flags.DEFINE_integer(
    "eval_every",
    50,
    "Evaluate validation and test bits/dim every N steps (0: at the end); the "
    "exported weights are those with the best validation bits/dim",
    lower_bound=0,
)
flags.DEFINE_integer("checkpoint_every", 500, "Checkpoint every N steps", lower_bound=1)
flags.DEFINE_integer("log_every", 50, "Progress, TensorBoard and history every N steps", lower_bound=1)
flags.DEFINE_integer("test_draws", 4, "Uniform dequantizations averaged for test bits/dim", lower_bound=1)
flags.DEFINE_integer(
    "validation_size",
    -1,
    "Training images held out to choose the exported checkpoint (-1: 10%, at most 5000; 0: none, export the last step)",
    lower_bound=-1,
)
flags.DEFINE_float("time_budget", 0, "Stop after this many seconds of training, evaluation excluded (0: no limit)")
flags.DEFINE_string(
    "model_dir", None, "Checkpoints, TensorBoard logs, config, metrics, pictures (default runs/<dataset>)"
)
flags.DEFINE_string("export_dir", None, "SavedModel destination (default saved_models/<dataset>)")
flags.DEFINE_bool("resume", False, "Continue from the latest checkpoint in --model_dir")
flags.DEFINE_integer("num_samples", 64, "Samples drawn for the picture", lower_bound=1)
flags.DEFINE_float("temperature", 1.0, "Sampling temperature for the picture")


flags.register_validator(
    "hidden_units",
    lambda units: units is None or bool(units) and all(u.isdigit() and int(u) > 0 for u in units),
    "--hidden_units must be a comma-separated list of positive ints, e.g. 128,128",
)
for _name in ("temperature", "time_budget", "learning_rate", "clip_norm"):
    flags.register_validator(
        _name, lambda v: v is None or math.isfinite(v) and v >= 0, f"--{_name} must be a finite number >= 0"
    )


flags.DEFINE_integer(
    "intra_op_threads",
    0,
    "Threads per op (0: TensorFlow's default, one per core). A run repeats bit for bit with the same "
    "--seed, thread count, CPU model and TensorFlow build; another thread count sums in another order",
    lower_bound=0,
)
flags.DEFINE_bool(
    "deterministic", True, "tf.config.experimental.enable_op_determinism (GPU kernels without it can vary)"
)


def main(argv):
    if len(argv) > 1:
        _cli.fail(f"unexpected arguments {argv[1:]}; every option is a --flag")
    logging.set_verbosity(logging.WARNING)  # TF's INFO chatter (SavedModel renames) buries the progress bar
    import tensorflow as tf

    if FLAGS.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
        tf.random.set_seed(FLAGS.seed)  # what determinism asks of the few ops that draw from the global seed
    if FLAGS.num_cpu_devices:
        from tfp_realnvp.training import split_cpu

        split_cpu(FLAGS.num_cpu_devices)
    from tfp_realnvp.experiment import ExperimentConfig, run_experiment
    from tfp_realnvp.training import make_strategy

    config = _config_from_flags(ExperimentConfig)
    metrics = run_experiment(config, strategy=make_strategy(FLAGS.strategy))
    unit = "bits/dim" + (f" ({metrics['pixel_levels']}-level pixels)" if "pixel_levels" in metrics else "")
    print(
        f"test {unit}: {metrics['test_bits_per_dim']:.4f} (step {metrics['chosen_step']}"
        + (
            f", chosen on validation {metrics['validation_bits_per_dim']:.4f})"
            if "validation_bits_per_dim" in metrics
            else ")"
        )
    )
    if "test_nll_nats" in metrics:
        print(f"test NLL: {metrics['test_nll_nats_per_dim']:.4f} nats/dim, {metrics['test_nll_nats']:.4f} nats/example")
    print(f"trained {metrics['steps']} steps in {metrics['train_seconds']:.1f} s; {metrics['params']:,} parameters")
    print(f"SavedModel: {metrics['export_dir']}")
    for path in metrics["pictures"]:
        print(f"picture: {path}")
    print(f"metrics: {os.path.join(config.model_dir, 'metrics.json')}")


def _config_from_flags(config_class):
    """Every flag named like an ExperimentConfig field sets it; a few need converting."""
    values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(config_class) if f.name in FLAGS}
    values.update(
        hidden_units=None if FLAGS.hidden_units is None else tuple(int(h) for h in FLAGS.hidden_units),
        clip_norm=FLAGS.clip_norm or None,
        time_budget=FLAGS.time_budget or None,
        model_dir=FLAGS.model_dir or os.path.join("runs", FLAGS.dataset),
    )
    return config_class(**values)


if __name__ == "__main__":
    _cli.run(main)
