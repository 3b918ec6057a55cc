"""Bad-input fuzzing of the library's Python API (the harness and the verdicts: tests/fuzz.py).

Each case makes one bad call and must raise a clear error (ValueError, TypeError or TF's
InvalidArgumentError) whose message names the argument and what was wrong. The method cases run
for every flow in `MODELS_UNDER_TEST`, tiny image and vector flows of every model in `MODELS`
(a test fails when a registered model has none there).
The flows are tiny and built once per module (`flow(name)`), so the file runs in seconds.
"""

import functools
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.fuzz import Case, check
from tfp_realnvp import IAF, MAF, NAF, NICE, SOS, Glow, RealNVP, networks
from tfp_realnvp import bijectors as bij
from tfp_realnvp.models import MODELS
from tfp_realnvp.networks import MADE, GlowConditioner, MLPConditioner, ResNetConditioner, ZeroConvConditioner
from tfp_realnvp.training import TrainConfig, Trainer, evaluate

tfb = tfp.bijectors

MODELS_UNDER_TEST = {
    "realnvp_image": lambda: RealNVP((8, 8, 1), pixel_levels=17, num_scales=2, hidden_channels=4, num_blocks=1),
    "realnvp_vector": lambda: RealNVP((2,), num_couplings=2, hidden_units=(8, 8)),
    "realnvp_variational": lambda: RealNVP(
        (4, 4, 1), pixel_levels=17, num_scales=2, hidden_channels=4, num_blocks=1, dequantization="variational"
    ),
    "realnvp_vector_batch_norm": lambda: RealNVP((4,), num_couplings=2, hidden_units=(8,), batch_norm=True),
    "glow_image": lambda: Glow((8, 8, 1), pixel_levels=17, num_scales=2, num_steps=2, hidden_channels=4),
    "glow_vector": lambda: Glow((4,), num_steps=2, hidden_units=(8,)),
    "glow_variational": lambda: Glow(
        (4, 4, 1), pixel_levels=17, num_scales=1, num_steps=1, hidden_channels=4, dequantization="variational"
    ),
    "nice_image": lambda: NICE((8, 8, 1), pixel_levels=17, num_couplings=2, hidden_units=(8,)),
    "nice_vector": lambda: NICE((2,), num_couplings=2, hidden_units=(8,)),
    "maf_image": lambda: MAF((4, 4, 1), pixel_levels=17, num_layers=2, hidden_units=(8,)),
    "maf_vector": lambda: MAF((2,), num_layers=2, hidden_units=(8,), batch_norm=True, mixing="linear"),
    "iaf_image": lambda: IAF((4, 4, 1), pixel_levels=17, num_layers=2, hidden_units=(8,)),
    "iaf_vector": lambda: IAF((4,), num_layers=2, hidden_units=(8,), residual_blocks=1),
    "naf_image": lambda: NAF((4, 4, 1), pixel_levels=17, num_layers=2, hidden_units=(8,), sigmoid_units=4),
    "naf_vector": lambda: NAF((2,), num_layers=2, hidden_units=(8,)),
    "sos_image": lambda: SOS((4, 4, 1), pixel_levels=17, num_layers=2, hidden_units=(8,), degree=2),
    "sos_vector": lambda: SOS((2,), num_layers=2, hidden_units=(8,)),
}


@functools.cache
def flow(name):
    return MODELS_UNDER_TEST[name]()


def batch(f, n=2, fill=None, dtype=None, event=None):
    """[n, *event] filled with `fill` (default: a valid value: mid-range pixels, or 0)."""
    event = list(f.event_shape) if event is None else list(event)
    if fill is None:
        fill = f.pixel_levels / 2 if f.pixel_levels else 0.0
    dtype = dtype or f.dtype
    if dtype == tf.string:
        return tf.fill([n, *event], "a")
    return tf.cast(tf.fill([n, *event], float(fill)), dtype)


# ---------------------------------------------------------------------------- methods, per model
# name -> (the argument as messages name it, the call). `log_prob` is the training hot path:
# it checks dtype and shape (free, at trace time) but not values (without validate_args).
DATA_METHODS = {
    "log_prob": ("value", lambda f, x: f.log_prob(x)),
    "bits_per_dim": ("x", lambda f, x: f.bits_per_dim(x)),
    "encode": ("x", lambda f, x: f.encode(x)),
    "compiled_log_prob": ("x", lambda f, x: f.compiled_log_prob(x)),
    "decode": ("z", lambda f, x: f.decode(x)),
    "evaluate": ("points", lambda f, x: evaluate(f, x)),
}
VALUE_CHECKED = ("bits_per_dim", "encode", "compiled_log_prob", "decode", "evaluate")
DATA_SIDE = ("bits_per_dim", "encode", "compiled_log_prob", "evaluate")  # pixels in [0, K)

BAD_DTYPES = {
    "int32": lambda f: batch(f, dtype=tf.int32),
    "bool": lambda f: batch(f, dtype=tf.bool),
    "string": lambda f: batch(f, dtype=tf.string),
    "float64": lambda f: batch(f, dtype=tf.float64),
    "numpy_int": lambda f: np.zeros([2, *f.event_shape], np.int64),
}
BAD_SHAPES = {
    "wrong_event": lambda f: batch(f, event=[*f.event_shape[:-1], f.event_shape[-1] + 1]),
    "scalar": lambda f: tf.constant(0.5, f.dtype),
}
BAD_SAMPLE_SHAPES = {
    "negative": -1,
    "int32_max": 2**31 - 1,
    "10**12": 10**12,
    "float": 2.5,
    "float_tensor": tf.constant(2.5),
    "negative_in_list": [2, -1],
    "string": "5",
    "bool": True,
    "numpy_float": np.float64(2.0),
}
BAD_COUNTS = {
    "negative": -1,
    "2**32+3": 2**32 + 3,
    "10**12": 10**12,
    "too_many_values": 2**31 - 1,
    "string": "5",
    "float": 2.5,
    "float_tensor": tf.constant(2.5),
    "bool": True,
    "list": [2, 3],
}
BAD_TEMPERATURES = {
    "negative": -1.0,
    "nan": math.nan,
    "inf": math.inf,
    "list": [1.0, 2.0],
    "vector_tensor": tf.constant([1.0, 2.0]),
    "string": "hot",
    "bool": True,
    "none": None,
}
BAD_STATELESS_SEEDS = {"one_int": (0,), "string": "a", "floats": (1.5, 2.0), "over_int32": (2**40, 1), "scalar": 3}


def method_cases(name):
    f = flow(name)
    cases = []

    def add(case_id, call, *names):
        cases.append(Case(f"{name}-{case_id}", call, names))

    for method, (arg, call) in DATA_METHODS.items():
        for label, make in BAD_DTYPES.items():
            add(f"{method}-dtype-{label}", lambda c=call, m=make: c(f, m(f)), arg, f.dtype.name)
        for label, make in BAD_SHAPES.items():
            add(f"{method}-shape-{label}", lambda c=call, m=make: c(f, m(f)), arg, "shape")
        if method in VALUE_CHECKED:
            for label, fill in (("nan", np.nan), ("inf", np.inf)):
                add(f"{method}-{label}", lambda c=call, v=fill: c(f, batch(f, fill=v)), arg, "NaN")
        if method in DATA_SIDE and f.pixel_levels:
            levels = f.pixel_levels
            for label, fill in (("pixel_levels", levels), ("negative", -0.5)):
                add(f"{method}-pixels-{label}", lambda c=call, v=fill: c(f, batch(f, fill=v)), arg, f"[0, {levels})")
    for label, shape in BAD_SAMPLE_SHAPES.items():
        add(f"sample-shape-{label}", lambda s=shape: f.sample(s, seed=(1, 2)), "sample_shape")
    for label, count in BAD_COUNTS.items():
        add(f"draw_samples-{label}", lambda n=count: f.draw_samples(n, seed=(1, 2)), "num_samples")
    for label, t in BAD_TEMPERATURES.items():
        add(f"sample-temperature-{label}", lambda t=t: f.sample(2, seed=(1, 2), temperature=t), "temperature")
        add(
            f"draw_samples-temperature-{label}",
            lambda t=t: f.draw_samples(2, temperature=t, seed=(1, 2)),
            "temperature",
        )
    for label, seed in BAD_STATELESS_SEEDS.items():
        add(f"draw_samples-seed-{label}", lambda s=seed: f.draw_samples(2, seed=s), "seed")
    add("log_prob-training-string", lambda: f.log_prob(batch(f), training="yes"), "training")
    add("encode-training-string", lambda: f.encode(batch(f), training="yes"), "training")
    add("split_latents-shape", lambda: f.split_latents(batch(f, event=[3, 3])), "z", "shape")
    add("sample_chunk_size-zero", lambda: setattr(f, "sample_chunk_size", 0), "sample_chunk_size")
    add("evaluate-empty", lambda: evaluate(f, np.zeros([0, *f.event_shape], np.float32)), "points", "empty")
    add("evaluate-none", lambda: evaluate(f, None), "points")
    for label, size in (("zero", 0), ("negative", -1), ("bool", True), ("float", 2.5)):
        add(f"evaluate-batch_size-{label}", lambda s=size: evaluate(f, batch(f).numpy(), batch_size=s), "batch_size")
    if f.pixel_levels:
        images = np.zeros([2, *f.event_shape], np.uint8)
        for label, draws in (("zero", 0), ("negative", -1), ("float", 2.5), ("bool", True)):
            add(
                f"discrete_bits_per_dim-draws-{label}",
                lambda d=draws: f.discrete_bits_per_dim(images, draws=d),
                "draws",
            )
        for label, seed in (("one_int", (0,)), ("string", "a"), ("floats", (1.5, 2.0))):
            add(f"discrete_bits_per_dim-seed-{label}", lambda s=seed: f.discrete_bits_per_dim(images, seed=s), "seed")
        add(
            "discrete_bits_per_dim-string", lambda: f.discrete_bits_per_dim(tf.fill([2, *f.event_shape], "a")), "images"
        )
        add("discrete_bits_per_dim-shape", lambda: f.discrete_bits_per_dim(images[:, :2]), "images", "shape")
    return cases


# ---------------------------------------------------------------------------- RealNVP(...)
IMAGE = {"event_shape": (8, 8, 1), "num_scales": 2, "hidden_channels": 4, "num_blocks": 1}
VECTOR = {"event_shape": (2,), "num_couplings": 2, "hidden_units": (8,)}


def realnvp(base, **kw):
    return lambda: RealNVP(**{**base, **kw})


BAD_CONSTRUCTOR_ARGS = {  # argument -> bad values; built on IMAGE unless the argument is the vector flow's
    "event_shape": [None, 8, ("a", 8, 1), (None, 8, 1), (8.5, 8, 1), (8, 8, 0), (8, 8), (), (8, -8, 1), (True, 8, 1)],
    "num_scales": [0, -1, 2.5, "2", True, None],
    "hidden_channels": [0, 2.5, "4", True, None],
    "num_blocks": [-1, 1.5, "a", True],
    "pixel_levels": [0, 1, -5, 2.5, "256", True],
    "alpha": [0, 0.5, -0.1, math.nan, "a", True],
    "dropout": [-0.1, 1.0, math.nan, "a", True],
    "batch_norm_momentum": [1.0, -0.1, math.nan, "0.9", True],
    "batch_norm": ["yes", 1],
    "squeeze_first": ["yes", 1],
    "additive": ["yes", 1],
    "validate_args": ["yes", None],
    "dtype": [tf.int32, "int32", "foo", np.int64, tf.string, tf.bool],
    "compute_dtype": [tf.int32, "foo", tf.bool],
    "seed": ["a", -1, 2.5, True, 2**40],
    "dequantization": ["learned", None],
    "name": [42],
}
BAD_VECTOR_ARGS = {
    "num_couplings": [0, -1, 2.5, True, "2"],
    "hidden_units": [(), (0,), (8, -1), (8.5,), 8, "ab", (True,)],
    "linear_mixing": ["yes", 1],
    "output_scale": [0, -0.1, math.nan, math.inf, "0.1", True],
}


def constructor_cases():
    cases = []
    for base, table in ((IMAGE, BAD_CONSTRUCTOR_ARGS), (VECTOR, BAD_VECTOR_ARGS)):
        for arg, values in table.items():
            for value in values:
                cases.append(Case(f"RealNVP-{arg}={value!r}", realnvp(base, **{arg: value}), arg))
    # A last scale of 1x1 (no checkerboard fits): refused, naming the largest num_scales allowed.
    for shape, scales, largest in (((8, 8, 1), 4, 3), ((8, 8, 1), 5, 3), ((4, 4, 1), 3, 2), ((2, 2, 1), 2, 1)):
        call = realnvp(IMAGE, event_shape=shape, num_scales=scales)
        cases.append(Case(f"RealNVP-num_scales={scales}-on-{shape}", call, ("num_scales", f"<= {largest}")))
    cases += autoregressive_model_cases()
    cases += [
        Case("RealNVP-image-too-small", realnvp(IMAGE, event_shape=(1, 1, 3), num_scales=1), ("event_shape",)),
        Case("RealNVP-linear_mixing-on-image", realnvp(IMAGE, linear_mixing=True), ("linear_mixing",)),
        Case("RealNVP-vector-one-feature", realnvp(VECTOR, event_shape=(1,)), ("event_shape",)),
    ]
    return cases


BAD_AUTOREGRESSIVE_ARGS = {  # on MAF((3,)) and IAF((3,))
    "event_shape": [(1,), (), None, (3, 0), (2.5,), "ab"],
    "num_layers": [0, -1, 2.5, True, "2", None],
    "hidden_units": [(), (0,), 8, (2.5,), (True,)],
    "residual_blocks": [-1, 1.5, "a", True, None],
    "mixing": ["shuffle", "REVERSE", None, 1],
    "batch_norm": ["yes", 1, None],
    "batch_norm_momentum": [1.0, -0.1, math.nan, "0.9"],
    "condition_dims": [-1, 2.5, "a", True],
    "zero_output": ["yes", 1],
    "alpha": [0.0, 0.5, math.nan],
    "pixel_levels": [1, 2.5, True],
    "dtype": [tf.int32, "foo"],
    "compute_dtype": [tf.int32, "foo"],
    "seed": ["a", -1, 2.5, True, 2**40],
    "validate_args": ["yes", None],
    "name": [42],
}


BAD_TRANSFORMER_OPTIONS = {  # each model's own options (TRANSFORMER_OPTIONS)
    NAF: {"sigmoid_units": [0, -1, 2.5, True, "4", None]},
    SOS: {"degree": [0, -1, 2.5, True, "3", None], "num_squares": [0, -2, 1.5, False, None]},
}


def autoregressive_model_cases():
    cases = []
    for cls in (MAF, IAF, NAF, SOS):
        bad_args = {**BAD_AUTOREGRESSIVE_ARGS, **BAD_TRANSFORMER_OPTIONS.get(cls, {})}
        for arg, values in bad_args.items():
            for value in values:
                kw = {"event_shape": (4, 4, 1) if arg == "alpha" else (3,), "num_layers": 1, arg: value}
                cases.append(Case(f"{cls.__name__}-{arg}={value!r}", lambda cls=cls, kw=kw: cls(**kw), arg))
        other = "degree" if cls is NAF else "sigmoid_units"  # an option of another model
        cases.append(Case(f"{cls.__name__}-unknown-option", lambda cls=cls, o=other: cls((3,), **{o: 4}), other))
    return cases


# ---------------------------------------------------------------------------- bijectors and masks
def zeros(*shape, dtype=tf.float32):
    return tf.zeros(shape, dtype)


def coupling_with(conditioner, mask=None):
    mask = bij.checkerboard_mask(8, 8, 1) if mask is None else mask
    return bij.AffineCoupling(mask, conditioner)


def traced(fn, spec):
    return tf.function(fn, input_signature=[spec])


BAD_ACT_NORM_ARGS = {  # on ActNorm([2])
    "event_shape": [[0], [2, 2], None, "a", [2.5], [True], [2, 0, 3]],
    "data_init": ["yes", 1, None],
    "shift": ["yes", 1, None],
    "epsilon": [0.0, -1e-6, math.nan, math.inf, "a", True, None],
    "dtype": [tf.int32, "foo", tf.bool, None],
    "validate_args": ["yes", None],
}


def bijector_cases():
    mask = bij.checkerboard_mask(4, 4, 1)
    net = ResNetConditioner(1, 4, 1)

    def coupling(**kw):
        return lambda: bij.AffineCoupling(**{"mask": mask, "conditioner": net, **kw})

    identity3 = bij.FlowChain([tfb.Identity()], event_ndims=3)
    cases = [
        Case("AffineCoupling-mask-empty", coupling(mask=np.zeros([0])), "mask"),
        Case("AffineCoupling-mask-ones", coupling(mask=np.ones([4, 4, 1])), "mask"),
        Case("AffineCoupling-mask-twos", coupling(mask=2 * mask), "mask"),
        Case("AffineCoupling-mask-rank2", coupling(mask=np.ones([4, 4])), "mask"),
        Case("AffineCoupling-mask-none", coupling(mask=None), "mask"),
        Case("AffineCoupling-mask-string", coupling(mask="ab"), "mask"),
        Case("AffineCoupling-conditioner-int", coupling(conditioner=42), "conditioner"),
        Case("AffineCoupling-additive-string", coupling(additive="yes"), "additive"),
        Case("AffineCoupling-dtype-int32", coupling(dtype=tf.int32), "dtype"),
        Case("AffineCoupling-compute_dtype-int32", coupling(compute_dtype=tf.int32), "compute_dtype"),
        Case("AffineCoupling-validate_args-string", coupling(validate_args="yes"), "validate_args"),
        *[
            Case(f"AffineCoupling-scale_fn={value!r}", coupling(scale_fn=value), "scale_fn")
            for value in ("softplus", "TANH", "", None, 1, True, ("tanh",))
        ],
        Case(
            "AffineCoupling-scale_init-with-sigmoid",
            coupling(scale_fn="sigmoid", scale_init=0.5),
            ("scale_init", "scale_fn"),
        ),
        Case("AffineCoupling-scale_fn-exp-additive", coupling(scale_fn="exp", additive=True), ("scale_fn", "additive")),
        *[
            Case(f"AffineCoupling-scale_init={value!r}", coupling(scale_init=value), "scale_init")
            for value in (0.0, -1.0, math.nan, math.inf, "1", True, None)
        ],
        Case(
            "AffineCoupling-conditioner-wrong-grid",
            lambda: coupling_with(lambda x: tf.zeros([tf.shape(x)[0], 4, 4, 2])).forward(zeros(2, 8, 8, 1)),
            ("conditioner", "[N, 8, 8, 2]"),
        ),
        Case(
            "AffineCoupling-conditioner-wrong-channels",
            lambda: coupling_with(lambda x: tf.zeros([tf.shape(x)[0], 8, 8, 3])).inverse(zeros(2, 8, 8, 1)),
            ("conditioner", "[N, 8, 8, 2]"),
        ),
        Case(
            "AffineCoupling-conditioner-wrong-rank",
            lambda: coupling_with(lambda x: tf.zeros([tf.shape(x)[0], 2])).forward(zeros(2, 8, 8, 1)),
            ("conditioner", "[N, 8, 8, 2]"),
        ),
        Case(
            "AffineCoupling-conditioner-vector",
            lambda: coupling_with(lambda x: tf.zeros([tf.shape(x)[0], 3]), bij.alternating_mask(2)).forward(
                zeros(2, 2)
            ),
            ("conditioner", "[N, 4]"),
        ),
        Case(
            "AffineCoupling-conditioner-none",
            lambda: coupling_with(lambda x: None).forward(zeros(2, 8, 8, 1)),
            ("conditioner",),
        ),
        Case(
            "AffineCoupling-input-shape",
            lambda: coupling_with(net, mask).forward(zeros(2, 8, 8, 1)),
            ("coupling", "shape"),
        ),
        Case("FactorOut-inner-none", lambda: bij.FactorOut(None, 1), "inner"),
        Case("FactorOut-inner-string", lambda: bij.FactorOut("x", 1), "inner"),
        Case("FactorOut-num_factored-zero", lambda: bij.FactorOut(identity3, 0), "num_factored"),
        Case("FactorOut-num_factored-float", lambda: bij.FactorOut(identity3, 2.5), "num_factored"),
        Case("FactorOut-num_factored-string", lambda: bij.FactorOut(identity3, "a"), "num_factored"),
        Case("FactorOut-num_factored-bool", lambda: bij.FactorOut(identity3, True), "num_factored"),
        Case(
            "FactorOut-all-channels",
            lambda: bij.FactorOut(identity3, 4).inverse(zeros(2, 8, 8, 4)),
            ("num_factored", "4 channels"),
        ),
        Case("FlowChain-string-member", lambda: bij.FlowChain(["str"], event_ndims=1), "bijectors"),
        Case("FlowChain-empty", lambda: bij.FlowChain([], event_ndims=1), "bijectors"),
        Case("FlowChain-none", lambda: bij.FlowChain(None, event_ndims=1), "bijectors"),
        Case("FlowChain-int", lambda: bij.FlowChain(42, event_ndims=1), "bijectors"),
        Case("FlowChain-single-bijector", lambda: bij.FlowChain(bij.Squeeze(), event_ndims=3), "bijectors"),
        Case("FlowChain-event_ndims-string", lambda: bij.FlowChain([tfb.Identity()], event_ndims="x"), "event_ndims"),
        Case("FlowChain-event_ndims-negative", lambda: bij.FlowChain([tfb.Identity()], event_ndims=-1), "event_ndims"),
        Case("FlowChain-event_ndims-float", lambda: bij.FlowChain([tfb.Identity()], event_ndims=2.5), "event_ndims"),
        Case("InvertibleLinear-zero", lambda: bij.InvertibleLinear([0]), "event_shape"),
        Case("InvertibleLinear-zero-image", lambda: bij.InvertibleLinear([2, 0, 3]), "event_shape"),
        Case("InvertibleLinear-float", lambda: bij.InvertibleLinear([2.5]), "event_shape"),
        Case("InvertibleLinear-none-dim", lambda: bij.InvertibleLinear([None]), "event_shape"),
        Case("InvertibleLinear-string", lambda: bij.InvertibleLinear("a"), "event_shape"),
        Case("InvertibleLinear-seed-string", lambda: bij.InvertibleLinear([3], seed="a"), "seed"),
        Case("InvertibleLinear-seed-negative", lambda: bij.InvertibleLinear([3], seed=-1), "seed"),
        Case("InvertibleLinear-seed-huge", lambda: bij.InvertibleLinear([3], seed=2**40), "seed"),
        Case("InvertibleLinear-dtype-int32", lambda: bij.InvertibleLinear([3], dtype=tf.int32), "dtype"),
        Case("InvertibleLinear-input-shape", lambda: bij.InvertibleLinear([3]).forward(zeros(2, 4)), "shape"),
        Case("PixelLogit-levels-one", lambda: bij.PixelLogit(levels=1), "levels"),
        Case("PixelLogit-levels-float", lambda: bij.PixelLogit(levels=2.5), "levels"),
        Case("PixelLogit-levels-bool", lambda: bij.PixelLogit(levels=True), "levels"),
        Case("PixelLogit-levels-string", lambda: bij.PixelLogit(levels="256"), "levels"),
        Case("PixelLogit-alpha-nan", lambda: bij.PixelLogit(alpha=math.nan), "alpha"),
        Case("PixelLogit-alpha-string", lambda: bij.PixelLogit(alpha="a"), "alpha"),
        Case("PixelLogit-alpha-half", lambda: bij.PixelLogit(alpha=0.5), "alpha"),
        Case("PixelLogit-validate_args-string", lambda: bij.PixelLogit(validate_args="yes"), "validate_args"),
        Case("PixelLogit-inverse-int32", lambda: bij.PixelLogit(17).inverse(tf.constant([1, 2])), "float"),
        Case("PixelLogit-forward-string", lambda: bij.PixelLogit(17).forward(tf.constant(["a"])), "float"),
        Case("PixelLogit-validated-nan", lambda: bij.PixelLogit(17, validate_args=True).inverse([np.nan]), "NaN"),
        Case("PixelLogit-validated-range", lambda: bij.PixelLogit(17, validate_args=True).inverse([17.0]), "[0, 17)"),
        Case("Squeeze-validate_args-string", lambda: bij.Squeeze(validate_args="yes"), "validate_args"),
        Case("Squeeze-odd-height", lambda: bij.Squeeze().forward(zeros(1, 3, 4, 1)), "height"),
        Case(
            "Squeeze-odd-height-traced",
            lambda: traced(bij.Squeeze().forward, tf.TensorSpec([None, None, None, 1]))(zeros(1, 3, 4, 1)),
            "height",
        ),
        Case(
            "Squeeze-odd-width-traced",
            lambda: traced(bij.Squeeze().forward, tf.TensorSpec([None, None, None, None]))(zeros(1, 4, 3, 1)),
            "width",
        ),
        Case(
            "Squeeze-inverse-channels-traced",
            lambda: traced(bij.Squeeze().inverse, tf.TensorSpec([None, None, None, None]))(zeros(1, 2, 2, 3)),
            "channels",
        ),
        Case("Squeeze-rank2", lambda: bij.Squeeze().forward(zeros(4, 4)), "shape"),
        Case(
            "MovingAverageBatchNorm-momentum-string",
            lambda: bij.MovingAverageBatchNorm([2], momentum="0.9"),
            "momentum",
        ),
        Case("MovingAverageBatchNorm-momentum-one", lambda: bij.MovingAverageBatchNorm([2], momentum=1.0), "momentum"),
        Case(
            "MovingAverageBatchNorm-momentum-nan",
            lambda: bij.MovingAverageBatchNorm([2], momentum=math.nan),
            "momentum",
        ),
        Case(
            "MovingAverageBatchNorm-epsilon-nan", lambda: bij.MovingAverageBatchNorm([2], epsilon=math.nan), "epsilon"
        ),
        Case("MovingAverageBatchNorm-epsilon-zero", lambda: bij.MovingAverageBatchNorm([2], epsilon=0.0), "epsilon"),
        Case(
            "MovingAverageBatchNorm-epsilon-inf", lambda: bij.MovingAverageBatchNorm([2], epsilon=math.inf), "epsilon"
        ),
        Case("MovingAverageBatchNorm-epsilon-string", lambda: bij.MovingAverageBatchNorm([2], epsilon="a"), "epsilon"),
        Case("MovingAverageBatchNorm-affine-string", lambda: bij.MovingAverageBatchNorm([2], affine="yes"), "affine"),
        Case("MovingAverageBatchNorm-event_shape-zero", lambda: bij.MovingAverageBatchNorm([0]), "event_shape"),
        Case("MovingAverageBatchNorm-event_shape-rank2", lambda: bij.MovingAverageBatchNorm([2, 2]), "event_shape"),
        Case("MovingAverageBatchNorm-event_shape-none", lambda: bij.MovingAverageBatchNorm(None), "event_shape"),
        Case("MovingAverageBatchNorm-dtype-int32", lambda: bij.MovingAverageBatchNorm([2], dtype=tf.int32), "dtype"),
        *[
            Case(f"ActNorm-{arg}={value!r}", lambda kw={arg: value}: bij.ActNorm(**{"event_shape": [2], **kw}), arg)
            for arg, values in BAD_ACT_NORM_ARGS.items()
            for value in values
        ],
        Case("ActNorm-inverse-shape", lambda: bij.ActNorm([3]).inverse(zeros(2, 4)), "shape"),
        Case("ActNorm-forward-shape", lambda: bij.ActNorm([2, 2, 3]).forward(zeros(2, 2, 2, 2)), "shape"),
        Case("ActNorm-training-inverse-shape", lambda: bij.ActNorm([3]).inverse(zeros(4), training=True), "shape"),
        Case("ActNorm-training-string", lambda: bij.ActNorm([3]).inverse(zeros(2, 3), training="yes"), "training"),
        Case("DiagonalScale-event_shape-zero", lambda: bij.DiagonalScale([0]), "event_shape"),
        Case("DiagonalScale-event_shape-none", lambda: bij.DiagonalScale(None), "event_shape"),
        Case("DiagonalScale-dtype-int32", lambda: bij.DiagonalScale([2], dtype=tf.int32), "dtype"),
        Case("DiagonalScale-input-shape", lambda: bij.DiagonalScale([3]).inverse(zeros(2, 4)), "shape"),
        Case("VariationalDequantization-vector", lambda: bij.VariationalDequantization((4,), 17), "event_shape"),
        Case("VariationalDequantization-zero-dim", lambda: bij.VariationalDequantization((0, 4, 1), 17), "event_shape"),
        Case("VariationalDequantization-none", lambda: bij.VariationalDequantization(None, 17), "event_shape"),
        Case("VariationalDequantization-levels-one", lambda: bij.VariationalDequantization((2, 2, 1), 1), "levels"),
        Case(
            "VariationalDequantization-hidden_channels-float",
            lambda: bij.VariationalDequantization((2, 2, 1), 17, hidden_channels=2.5),
            "hidden_channels",
        ),
        Case(
            "VariationalDequantization-hidden_channels-zero",
            lambda: bij.VariationalDequantization((2, 2, 1), 17, hidden_channels=0),
            "hidden_channels",
        ),
        Case(
            "VariationalDequantization-num_couplings-float",
            lambda: bij.VariationalDequantization((2, 2, 1), 17, num_couplings=1.5),
            "num_couplings",
        ),
        Case(
            "VariationalDequantization-num_couplings-negative",
            lambda: bij.VariationalDequantization((2, 2, 1), 17, num_couplings=-1),
            "num_couplings",
        ),
        Case(
            "VariationalDequantization-seed-string",
            lambda: bij.VariationalDequantization((2, 2, 1), 17, seed="a"),
            "seed",
        ),
        Case(
            "VariationalDequantization-dtype-int32",
            lambda: bij.VariationalDequantization((2, 2, 1), 17, dtype=tf.int32),
            "dtype",
        ),
        *autoregressive_bijector_cases(),
        Case("OnePassBijector-min-event-ndims", lambda: bij.OnePassBijector(forward_min_event_ndims="x"), "ndims"),
        Case("TrainingCall-seed-string", lambda: bij.TrainingCall("a"), "seed"),
        Case("TrainingCall-seed-three", lambda: bij.TrainingCall((1, 2, 3)), "seed"),
        Case("TrainingCall-seed-float", lambda: bij.TrainingCall((1.5, 2.0)), "seed"),
    ]
    masks = {
        "checkerboard_mask": (bij.checkerboard_mask, {"height": 4, "width": 4, "channels": 1}),
        "squeezed_checkerboard_mask": (bij.squeezed_checkerboard_mask, {"height": 4, "width": 4, "channels": 1}),
        "channel_mask": (bij.channel_mask, {"height": 4, "width": 4, "channels": 2}),
        "alternating_mask": (bij.alternating_mask, {"features": 4}),
        "half_mask": (bij.half_mask, {"features": 4}),
    }
    for name, (fn, good) in masks.items():
        for arg in [*good, "parity"]:
            for value in (-2, 0, 2.5, "a", True, None):
                if arg == "parity" and value == 0:
                    continue
                kw = {**good, arg: value}
                cases.append(Case(f"{name}-{arg}={value!r}", lambda fn=fn, kw=kw: fn(**kw), arg))
    cases += [
        Case("checkerboard_mask-one-position", lambda: bij.checkerboard_mask(1, 1, 2), ("height", "width")),
        Case("alternating_mask-one-feature", lambda: bij.alternating_mask(1), "features"),
        Case("half_mask-one-feature", lambda: bij.half_mask(1), "features"),
        Case("channel_mask-odd-channels", lambda: bij.channel_mask(4, 4, 3), "channels"),
        Case("squeezed_checkerboard_mask-odd-height", lambda: bij.squeezed_checkerboard_mask(3, 4, 1), "height"),
    ]
    return cases


def autoregressive_bijector_cases():
    made = MADE(3, hidden_units=(4,))
    conditional = bij.MaskedAutoregressive(MADE(3, hidden_units=(4,), condition_dims=2))

    def layer(**kw):
        return lambda: bij.MaskedAutoregressive(**{"made": made, **kw})

    cases = [
        Case("MaskedAutoregressive-made-none", layer(made=None), "made"),
        Case("MaskedAutoregressive-made-callable", layer(made=lambda x: x), "made"),
        Case("MaskedAutoregressive-made-mlp", layer(made=MLPConditioner(3, (4,))), "made"),
        Case("MaskedAutoregressive-transformer-int", layer(transformer=3), "transformer"),
        Case("MaskedAutoregressive-transformer-function", layer(transformer=lambda u, p: (u, 0.0)), "transformer"),
        Case(
            "MaskedAutoregressive-params-mismatch",
            layer(made=MADE(3, hidden_units=(4,), params_per_dim=3)),
            ("params_per_dim", "num_params"),
        ),
        Case("MaskedAutoregressive-inverse_autoregressive-string", layer(inverse_autoregressive="yes"), "inverse_"),
        Case("MaskedAutoregressive-inverse_autoregressive-int", layer(inverse_autoregressive=1), "inverse_"),
        Case("MaskedAutoregressive-dtype-int32", layer(dtype=tf.int32), "dtype"),
        Case("MaskedAutoregressive-compute_dtype-string", layer(compute_dtype="foo"), "compute_dtype"),
        Case("MaskedAutoregressive-validate_args-string", layer(validate_args="yes"), "validate_args"),
        Case("MaskedAutoregressive-forward-shape", lambda: layer()().forward(zeros(2, 4)), "shape"),
        Case("MaskedAutoregressive-inverse-shape", lambda: layer()().inverse(zeros(2, 2)), "shape"),
        Case("MaskedAutoregressive-inverse-scalar", lambda: layer()().inverse(zeros()), "shape"),
        Case("MaskedAutoregressive-condition-missing", lambda: conditional.forward(zeros(2, 3)), "condition"),
        Case(
            "MaskedAutoregressive-condition-unexpected",
            lambda: layer()().inverse(zeros(2, 3), condition=zeros(2, 2)),
            ("condition", "unconditional"),
        ),
        Case(
            "MaskedAutoregressive-condition-width",
            lambda: conditional.inverse(zeros(2, 3), condition=zeros(2, 3)),
            ("condition", "shape"),
        ),
        Case(
            "MaskedAutoregressive-condition-batch",
            lambda: conditional.forward(zeros(2, 3), condition=zeros(4, 2)),
            ("condition", "batch"),
        ),
        Case(
            "MaskedAutoregressive-condition-int",
            lambda: conditional.inverse(zeros(2, 3), condition=tf.zeros([2, 2], tf.int32)),
            ("condition", "float"),
        ),
    ]
    for value in (0.0, -1.0, math.nan, math.inf, "3", True, None):
        cases.append(Case(f"AffineTransformer-bound={value!r}", lambda v=value: bij.AffineTransformer(v), "bound"))
    return cases + monotone_transformer_cases()


BAD_MONOTONE_ARGS = {  # constructor arguments of the bisection-inverted transformers
    bij.DeepSigmoidalTransformer: {"hidden_units": [0, -1, 2.5, True, "16", None], "spread": [-1.0, math.nan, "1"]},
    bij.SumOfSquaresTransformer: {
        "degree": [0, 2.5, True, None],
        "num_squares": [0, -1, "2"],
        "bound": [0.0, -4.0, math.inf, None],
        "max_log_gain": [0.0, math.nan, "1"],
        "min_slope": [0.0, 1.0, -1e-3, None],
    },
}
BAD_BISECTION_ARGS = {"tolerance": [0.0, -1e-6, math.nan, math.inf, "1e-6", None], "max_iterations": [0, -1, 2.5, True]}


def monotone_transformer_cases():
    cases = []
    for cls, bad in BAD_MONOTONE_ARGS.items():
        for arg, values in {**bad, **BAD_BISECTION_ARGS}.items():
            for value in values:
                cases.append(Case(f"{cls.__name__}-{arg}={value!r}", lambda c=cls, a=arg, v=value: c(**{a: v}), arg))
        t = cls()
        p = t.num_params
        cases += [
            Case(f"{cls.__name__}-params-width", lambda t=t, p=p: t.forward(zeros(2, 3), zeros(2, 3, p + 1)), "params"),
            Case(f"{cls.__name__}-params-shape", lambda t=t, p=p: t.inverse(zeros(2, 3), zeros(3, 3, p)), "params"),
            Case(f"{cls.__name__}-params-rank", lambda t=t: t.forward(zeros(2, 3), zeros(2, 3)), "params"),
            Case(
                f"{cls.__name__}-params-dtype",
                lambda t=t, p=p: t.inverse(zeros(2, 3), zeros(2, 3, p, dtype=tf.float64)),
                ("params", "dtype"),
            ),
            Case(f"{cls.__name__}-v-int", lambda t=t, p=p: t.inverse(tf.zeros([2, 3], tf.int32), zeros(2, 3, p)), "v"),
        ]
    v = zeros(3)
    cases += [
        Case("bisection_inverse-fn-none", lambda: bij.bisection_inverse(None, v), "fn"),
        Case("bisection_inverse-v-int", lambda: bij.bisection_inverse(tf.identity, tf.zeros([3], tf.int32)), "v"),
        Case(
            "bisection_inverse-max_expansions-zero",
            lambda: bij.bisection_inverse(tf.identity, v, max_expansions=0),
            "max_expansions",
        ),
    ]
    for arg, values in BAD_BISECTION_ARGS.items():
        for value in values:
            call = lambda a=arg, x=value: bij.bisection_inverse(tf.identity, v, **{a: x})  # noqa: E731
            cases.append(Case(f"bisection_inverse-{arg}={value!r}", call, arg))
    return cases


def made_cases():
    good = {"features": 3, "hidden_units": (4,)}
    bad = {
        "features": [0, 1, 2.5, "a", True, None],
        "hidden_units": [(), (0,), 8, (2.5,), ("a",), (True,)],
        "params_per_dim": [0, -1, 2.5, True],
        "order": ["diagonal", "NATURAL", None, 3, [0, 0, 1], [0, 1], [0, 1, 3], [0, 1, 2.0], [0, 1, True]],
        "residual_blocks": [-1, 1.5, "a", True],
        "condition_dims": [-1, 2.5, "a", True],
        "zero_output": ["yes", 1, None],
        "dtype": [tf.int32, "foo"],
        "seed": ["a", 2.5, -1],
    }
    cases = [
        Case(f"MADE-{arg}={value!r}", lambda kw={**good, arg: value}: MADE(**kw), arg)
        for arg, values in bad.items()
        for value in values
    ]
    made, conditional = MADE(**good), MADE(**good, condition_dims=2)
    cases += [
        Case("MADE-input-features", lambda: made(zeros(2, 4)), ("x", "[N, 3]")),
        Case("MADE-input-rank", lambda: made(zeros(3)), ("x", "[N, 3]")),
        Case("MADE-condition-missing", lambda: conditional(zeros(2, 3)), "condition"),
        Case("MADE-condition-unexpected", lambda: made(zeros(2, 3), condition=zeros(2, 2)), "condition"),
        Case("MADE-condition-width", lambda: conditional(zeros(2, 3), condition=zeros(2, 3)), "condition"),
        Case("MADE-condition-rows", lambda: conditional(zeros(2, 3), condition=zeros(3, 2)), "condition"),
    ]
    return cases


# ---------------------------------------------------------------------------- conditioner networks
def network_cases():
    mlp = {"features": 2, "hidden_units": (4,)}
    resnet = {"in_channels": 1, "hidden_channels": 4, "num_blocks": 1}
    glow = {"in_channels": 1, "hidden_channels": 4}
    zero_conv = {"in_channels": 1}
    bad = {
        "features": [0, 2.5, "a", True],
        "hidden_units": [(), (0,), 8, (2.5,), ("a",), (True,)],
        "in_channels": [0, 2.5, "a", True],
        "hidden_channels": [0, 2.5, "a", True],
        "num_blocks": [-1, 1.5, "a"],
        "num_outputs": [0, 2.5],
        "dtype": [tf.int32, "foo"],
        "seed": ["a", 2.5],
        "dropout": [1.0, -0.1, math.nan, "a"],
        "output_scale": [0, -1.0, "a"],
        "first_bias_spread": [-1.0, math.inf, "a"],
        "hidden_step": [0, 1.5, math.nan],
    }
    cases = []
    nets = (
        (MLPConditioner, mlp),
        (ResNetConditioner, resnet),
        (GlowConditioner, glow),
        (ZeroConvConditioner, zero_conv),
    )
    for cls, good in nets:
        own = {"num_outputs", "dtype", "seed"} | set(good) | ({"dropout"} if cls is ResNetConditioner else set())
        own |= {"output_scale", "first_bias_spread", "hidden_step"} if cls is MLPConditioner else set()
        for arg in sorted(own):
            for value in bad[arg]:
                call = lambda cls=cls, kw={**good, arg: value}: cls(**kw)  # noqa: E731
                cases.append(Case(f"{cls.__name__}-{arg}={value!r}", call, arg))
    for cls, good in nets[2:]:
        net = cls(**good)
        for label, x in (("channels", zeros(1, 4, 4, 2)), ("rank", zeros(4, 1))):
            cases.append(Case(f"{cls.__name__}-input-{label}", lambda n=net, x=x: n(x), ("shape", "[N, H, W, 1]")))
    return cases + made_cases()


# ---------------------------------------------------------------------------- training
def tiny_vector_flow():
    return RealNVP((2,), num_couplings=1, hidden_units=(4,))


@functools.cache
def trainer():
    return Trainer(tiny_vector_flow, TrainConfig(steps=10**6, batch_size=8, log_every=10**6, checkpoint_every=10**6))


def dataset(shape=(8, 2), dtype=tf.float32, repeat=True):
    ds = tf.data.Dataset.from_tensors(tf.zeros(shape, dtype))
    return ds.repeat() if repeat else ds


def fit(train_dataset=None, **kw):
    t = trainer()
    kw.setdefault("steps", t.current_step + 2)
    return t.fit(dataset() if train_dataset is None else train_dataset, verbose=False, **kw)


def training_cases():
    bad_config = {
        "steps": [True, 0, 2.5, "10"],
        "batch_size": [True, 0, -8, 2.5],
        "learning_rate": [math.inf, math.nan, 0.0, -1.0, "a", True],
        "warmup_steps": [-1, 2.5, True],
        "l2": [math.nan, -1.0, math.inf, "a"],
        "clip_norm": [math.nan, 0.0, -1.0, math.inf, "a"],
        "log_every": [0, 1.5],
        "eval_every": [-1, 1.5, True],
        "checkpoint_every": [0],
        "keep_checkpoints": [0, True],
        "jit_compile": ["yes", 1],
        "ema_decay": [math.nan, 1.0, -0.1, "a"],
        "decay": ["linear", None],
        "seed": ["abc", -1, 2.5, True],
    }
    cases = [
        Case(f"TrainConfig-{arg}={value!r}", lambda kw={arg: value}: TrainConfig(**kw), arg)
        for arg, values in bad_config.items()
        for value in values
    ]
    good = TrainConfig(steps=1, batch_size=8)
    cases += [
        Case("Trainer-flow_fn-returns-int", lambda: Trainer(lambda: 42, good), "flow_fn"),
        Case("Trainer-flow_fn-int", lambda: Trainer(42, good), "flow_fn"),
        Case("Trainer-strategy-string", lambda: Trainer(tiny_vector_flow, good, strategy="mirrored"), "strategy"),
        Case("Trainer-config-dict", lambda: Trainer(tiny_vector_flow, {"steps": 1}), "config"),
        Case("Trainer-model_dir-int", lambda: Trainer(tiny_vector_flow, good, model_dir=42), "model_dir"),
        Case("fit-steps-negative", lambda: fit(steps=-5), "steps"),
        Case("fit-steps-float", lambda: fit(steps=2.5), "steps"),
        Case("fit-steps-string", lambda: fit(steps="3"), "steps"),
        Case("fit-time_budget-negative", lambda: fit(time_budget=-1), "time_budget"),
        Case("fit-time_budget-nan", lambda: fit(time_budget=math.nan), "time_budget"),
        Case("fit-time_budget-string", lambda: fit(time_budget="a"), "time_budget"),
        Case("fit-resume-string", lambda: fit(resume="yes"), "resume"),
        Case("fit-eval_fn-int", lambda: fit(eval_fn=42), "eval_fn"),
        Case("fit-callback-int", lambda: fit(callback=42), "callback"),
        Case("fit-select_on-without-eval_fn", lambda: fit(select_on="bpd"), ("select_on", "eval_fn")),
        Case(
            "fit-select_on-missing-key",
            lambda: fit(eval_fn=lambda flow: {"bpd": 1.0}, select_on="test_bpd"),
            ("select_on", "test_bpd", "bpd"),
        ),
        Case(
            "fit-dataset-runs-out",
            lambda: fit(dataset(repeat=False).repeat(2), steps=10**5),
            ("train_dataset", "repeat"),
        ),
        Case(
            "fit-dataset-pairs",
            lambda: fit(dataset().map(lambda x: (x, tf.zeros([8], tf.int32)))),
            ("train_dataset", "tuple"),
        ),
        Case("fit-dataset-wrong-event", lambda: fit(dataset((8, 3))), ("train_dataset", "(8, 3)", "[8, 2]")),
        Case("fit-dataset-wrong-batch", lambda: fit(dataset((4, 2))), ("train_dataset", "batch_size")),
        Case("fit-dataset-int", lambda: fit(dataset(dtype=tf.int32)), ("train_dataset", "float")),
        Case("fit-dataset-numpy", lambda: fit(np.zeros([8, 2], np.float32)), ("train_dataset", "tf.data.Dataset")),
    ]
    return cases


CASES = [
    *[case for name in MODELS_UNDER_TEST for case in method_cases(name)],
    *constructor_cases(),
    *bijector_cases(),
    *network_cases(),
    *training_cases(),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_clearly(case):
    check(case)


def test_every_registered_model_has_flows_under_test():
    """The method cases cover every model of `MODELS`, image and vector flows alike."""
    for name, cls in MODELS.items():
        kinds = {len(flow(key).event_shape) for key in MODELS_UNDER_TEST if type(flow(key)) is cls}
        assert kinds == {1, 3}, f"MODELS_UNDER_TEST needs an image and a vector {name} flow, has ranks {kinds}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# Public names whose arguments nothing checks (building blocks: the conditioners that use them check).
UNCHECKED = {"WeightNormConv2D", "WeightNormDense", "conv2d_same", "Transformer"}  # Transformer: an abstract base


@pytest.mark.parametrize("name", sorted({*bij.__all__, *networks.__all__} - UNCHECKED))
def test_every_public_bijector_and_network_has_bad_input_cases(name):
    """A new bijector, mask or conditioner exported without cases here fails this test."""
    assert any(c.id.startswith(f"{name}-") for c in CASES), f"no bad-input cases for {name}"


# ---------------------------------------------------------------------------- good edge cases
@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_empty_batches_give_empty_results(name):
    f = flow(name)
    empty = batch(f, n=0)
    event = tuple(f.event_shape)
    assert f.log_prob(empty).shape == (0,)
    assert f.bits_per_dim(empty).shape == (0,)
    assert f.compiled_log_prob(empty).shape == (0,)
    assert f.encode(empty).shape == (0, *event)
    assert f.decode(empty).shape == (0, *event)
    assert f.sample(0, seed=(1, 2)).shape == (0, *event)
    assert f.draw_samples(0, seed=(1, 2)).shape == (0, *event)


@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_good_counts_temperatures_and_seeds_are_accepted(name):
    f = flow(name)
    event = tuple(f.event_shape)
    assert f.sample(np.int64(2), seed=(1, 2), temperature=0).shape == (2, *event)
    assert f.sample(tf.constant([2, 1]), seed=(1, 2), temperature=tf.constant(0.5)).shape == (2, 1, *event)
    assert f.draw_samples(np.int32(3), temperature=np.float32(0.7), seed=np.array([1, 2])).shape == (3, *event)
    cold = f.draw_samples(2, temperature=0.0, seed=(1, 2))  # T = 0: the latent's mode, twice
    np.testing.assert_array_equal(cold[0], cold[1])
