"""Quantization: simulated k-bit weights for the accuracy curve, and a real int8 model.

Scheme `fake` rounds every Linear/Conv2d weight to a symmetric k-bit grid (2..8 bits, one
scale per tensor or per output channel) and keeps computing in fp32: it shows what k bits
cost in accuracy and what packed storage could save, but runs exactly as fast as before.

Scheme `int8` builds the deployable int8 `.onnx` with ONNX Runtime's quantizer and measures
it in ONNX Runtime (methods/int8_onnx.py). The torch.ao code below is no longer used by
runs; it reloads int8 artifacts of runs made before (export) and serves benchmarks.
Why torch.ao and torchao lost: torch.ao.quantization is deprecated in favour
of torchao, but torchao 0.18 (tried on torch 2.13 CPU, LeNet-300-100) is no better here:
its dynamic int8 Linear ran 4-5x slower than torch.ao's, weight-only int8 was as fast at
batch 1 and 1.8x slower at batch 64, its eager `quantize_` converts Linear layers only,
its checkpoints need torchao to reload, and its import logs failed CUDA library loads.
torch.ao's x86/fbgemm kernels are what deploys on CPU with this torch. Two variants:

- Linear-only models (mlp, lenet300): dynamic quantization, calibration-free (int8
  weights, activations quantized on the fly per batch).
- Models with convolutions (lenet5, resnet8): static post-training quantization in FX
  graph mode (conv+bn+relu fused), calibrated on `CALIBRATION_SAMPLES` training inputs.

Note:
    Quantized kernels run on CPU only: the int8 model is evaluated and timed on CPU, and
    so is the fp32 baseline it is compared with, whatever `ctx.device` is.
"""
from __future__ import annotations

import copy
import json
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator, Optional

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.measure.assess import assess_against
from compress_core.methods.half_precision import HALF_SCHEMES, run_half
from compress_core.methods.int8_onnx import run_int8
from compress_core.methods.labels import describe_quantize
from compress_core.methods.registry import Method, SweepParam, register_method
from compress_core.models.sources import resolve_model
from compress_core.models.zoo import prunable_layers
from compress_core.options import add_common, base_fields, integer
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, PruneSpec, check_choice, check_range
from compress_core.training.baseline import get_baseline

SCHEMES = ("fake", "int8", *HALF_SCHEMES)
GRANULARITIES = ("tensor", "channel")
MIN_BITS, MAX_BITS = 2, 8
CALIBRATION_SAMPLES = 512  # static int8: training inputs run through the observers
CPU = torch.device("cpu")


@dataclass(frozen=True)
class QuantizeSpec(BaseSpec):
    """Quantize the cached baseline: `fake` k-bit weights or a real `int8` model."""
    KIND: ClassVar[str] = "quantize"
    # fake: simulated k-bit weights (fp32 compute) | int8: real int8 model | bf16, fp16: stored and run in 16 bits
    scheme: str = "int8"
    bits: int = 8  # weight bits, 2..8 (int8 needs 8; bf16/fp16 are 16)
    # One scale per output channel or per tensor. None picks per scheme: per-tensor for int8
    # (torch stores a float64 scale and an int64 zero point for every channel: 4% of a small
    # model's fp32 size, for no accuracy gain on digits), per-channel for fake k-bit (at 2-3
    # bits per-channel scales keep far more accuracy).
    granularity: Optional[str] = None
    baseline_epochs: Optional[int] = None  # None: the data set's default (same as train)

    def __post_init__(self):
        super().__post_init__()
        check_choice("scheme", self.scheme, SCHEMES)
        if self.scheme in HALF_SCHEMES:  # a dtype, not a grid: no bits or scales to choose
            if self.bits not in (8, 16):
                raise CompressError(f"scheme {self.scheme!r} stores 16-bit floats, so bits must be 16 (or left out); "
                                    f"got {self.bits}")
            object.__setattr__(self, "bits", 16)
            object.__setattr__(self, "granularity", self.granularity or "tensor")
        if self.granularity is None:
            object.__setattr__(self, "granularity", "tensor" if self.scheme == "int8" else "channel")
        check_choice("granularity", self.granularity, GRANULARITIES)
        if self.scheme not in HALF_SCHEMES:
            check_range("bits", self.bits, MIN_BITS, MAX_BITS, integer=True)
        if self.scheme == "int8" and self.bits != 8:
            raise CompressError(f"scheme 'int8' stores 8-bit weights, so bits must be 8; got {self.bits}. "
                                f"Use scheme 'fake' to simulate {MIN_BITS}..{MAX_BITS} bits")
        if self.baseline_epochs is not None:
            check_range("baseline_epochs", self.baseline_epochs, 1, 10_000, integer=True)

    # The very baseline prune runs start from (same cache key), so methods compare fairly.
    baseline_spec = PruneSpec.baseline_spec


# --- k-bit symmetric weight quantization (pure functions; the UI previews use them) -------
# Hand-written: torch.fake_quantize_per_channel_affine rounds the same way but returns no
# integer codes and takes the scales as given; these few lines give both.

def _check_quant_args(bits, granularity) -> None:
    check_range("bits", bits, MIN_BITS, MAX_BITS, integer=True)
    check_choice("granularity", granularity, GRANULARITIES)


def _broadcast(scale: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-channel scales (one per output channel, dim 0) shaped to multiply `w`."""
    return scale.reshape(-1, *([1] * (w.dim() - 1))) if scale.dim() else scale


def quantize_symmetric(w: torch.Tensor, bits: int, granularity: str = "channel") -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes as int8, fp32 scale) of `w` on a symmetric `bits`-bit grid.

    scale = max|w| / (2^(bits-1) - 1) over the tensor or each output channel (dim 0);
    codes = clamp(round(w / scale), -(2^(bits-1) - 1), 2^(bits-1) - 1). The grid has
    2^bits - 1 levels, symmetric around an exact zero. `scale` is a 0-d tensor for
    "tensor" and has one entry per output channel for "channel".
    """
    _check_quant_args(bits, granularity)
    qmax = 2 ** (bits - 1) - 1
    w = w.detach().float()
    if granularity == "channel" and w.dim() >= 2:
        amax = w.abs().reshape(w.shape[0], -1).amax(dim=1)
    else:
        amax = w.abs().max() if w.numel() else torch.tensor(0.0)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))  # all-zero: any scale keeps zeros
    codes = torch.clamp(torch.round(w / _broadcast(scale, w)), -qmax, qmax).to(torch.int8)
    return codes, scale


def fake_quantize(w: torch.Tensor, bits: int, granularity: str = "channel") -> torch.Tensor:
    """`w` rounded to its k-bit grid and mapped back to fp32 (quantize, then dequantize)."""
    codes, scale = quantize_symmetric(w, bits, granularity)
    return (codes.float() * _broadcast(scale, codes)).to(w.dtype)


def quantization_error(w: torch.Tensor, bits: int, granularity: str = "channel") -> dict:
    """How far `fake_quantize(w)` is from `w`: mse, max_abs and SQNR in dB (inf when exact)."""
    w = w.detach().float()
    err = fake_quantize(w, bits, granularity) - w
    noise = float(err.pow(2).sum())
    signal = float(w.pow(2).sum())
    sqnr = math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-30) / noise)
    return {"mse": float(err.pow(2).mean()) if w.numel() else 0.0,
            "max_abs": float(err.abs().max()) if w.numel() else 0.0, "sqnr_db": sqnr}


def fake_quantize_model(model: nn.Module, bits: int, granularity: str = "channel") -> nn.Module:
    """Replace every Linear/Conv2d weight of `model` in place by its fake-quantized value."""
    with torch.no_grad():
        for _, module in prunable_layers(model):
            module.weight.copy_(fake_quantize(module.weight, bits, granularity))
    return model


def packed_size_bytes(model: nn.Module, bits: int, granularity: str = "channel") -> int:
    """Bytes of `model` stored with packed k-bit weights: counted, not serialized.

    Every Linear/Conv2d weight takes ceil(numel * bits / 8) bytes plus 4 bytes per fp32
    scale; every other tensor of the state dict (biases, batch-norm statistics) keeps
    its own dtype's size (fp32: 4 bytes per value).
    """
    _check_quant_args(bits, granularity)
    quantized = {f"{name}.weight" if name else "weight" for name, _ in prunable_layers(model)}
    total = 0
    for key, tensor in model.state_dict().items():
        if key in quantized:
            scales = tensor.shape[0] if granularity == "channel" and tensor.dim() >= 2 else 1
            total += math.ceil(tensor.numel() * bits / 8) + 4 * scales
        else:
            total += tensor.numel() * tensor.element_size()
    return total


# --- real int8 with torch.ao.quantization -------------------------------------------------

@contextmanager
def quiet_torch_ao() -> Iterator[None]:
    """Silence torch.ao.quantization's deprecation notices (and its observer chatter).

    They address torch developers, not users of this lab, who cannot act on them. Only
    the calls wrapped here are silenced; the caller's warning filters stay as they were.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # Quantized-tensor creation and TypedStorage deprecations arrive as UserWarning.
        warnings.filterwarnings("ignore", message=r"(?s).*deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"(?s).*quant_min and quant_max", category=UserWarning)
        yield


def int8_method(model: nn.Module) -> str:
    """The int8 variant for `model`: "static" (calibrated, conv and linear) with convolutions, else "dynamic"."""
    return "static" if any(isinstance(m, nn.Conv2d) for m in model.modules()) else "dynamic"


def _engine() -> str:
    engine = torch.backends.quantized.engine
    if engine in (None, "none"):
        raise CompressError("this PyTorch build has no quantized CPU engine, so scheme 'int8' cannot run; "
                            f"supported engines: {', '.join(torch.backends.quantized.supported_engines)}")
    return engine


def _qconfig_mapping(granularity: str, engine: str):
    from torch.ao.quantization import default_weight_observer, get_default_qconfig_mapping

    mapping = get_default_qconfig_mapping(engine)  # per-channel int8 weights, histogram-observed activations
    if granularity == "tensor":
        mapping.set_global(mapping.global_qconfig._replace(weight=default_weight_observer))
    return mapping


def to_int8(model: nn.Module, method: str, granularity: str, calibration: Optional[torch.Tensor],
            example: torch.Tensor) -> nn.Module:
    """An int8 copy of the fp32 CPU `model` (the original is left untouched).

    `dynamic` quantizes Linear layers (no calibration). `static` converts conv and linear
    layers in FX graph mode after running `calibration` through the observers; with
    `calibration=None` it only builds the structure (to load saved int8 weights into).
    """
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    model = copy.deepcopy(model).to(CPU).eval()
    with quiet_torch_ao(), torch.no_grad():
        if method == "dynamic":
            qconfig = per_channel_dynamic_qconfig if granularity == "channel" else default_dynamic_qconfig
            return quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8)
        prepared = prepare_fx(model, _qconfig_mapping(granularity, _engine()), (example,))
        prepared(example if calibration is None else calibration)
        return convert_fx(prepared)


def load_int8_model(weights_path: str | Path) -> nn.Module:
    """Reload a saved int8 model (`model_int8.pt` beside its `model_int8.json` recipe)."""
    weights_path = Path(weights_path)
    recipe = json.loads(weights_path.with_suffix(".json").read_text())

    fp32 = resolve_model(recipe["model"], recipe["input_shape"], recipe["num_classes"],
                         hidden=recipe["hidden"]).module
    example = torch.zeros(1, *recipe["input_shape"])
    model = to_int8(fp32, recipe["method"], recipe["granularity"], None, example)
    with quiet_torch_ao():
        model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return model


# --- runs ---------------------------------------------------------------------------------

def run_quantize(spec: QuantizeSpec, ctx):
    """Quantize the cached baseline per `spec`, measure it against the baseline, save it."""
    base = get_baseline(spec.baseline_spec(), ctx)
    if spec.scheme == "int8":  # the deployable int8 is an ONNX Runtime file (methods/int8_onnx.py)

        return run_int8(spec, base, ctx)
    if spec.scheme in HALF_SCHEMES:
        return run_half(spec, base, ctx)
    return _run_fake(spec, base, ctx)


def _run_fake(spec: QuantizeSpec, base, ctx):
    emit(ctx.on_progress, "quantize", 0, 1, f"fake-quantizing weights to {spec.bits} bits ({spec.granularity})")
    model = copy.deepcopy(base.model)
    errors = {name: quantization_error(m.weight, spec.bits, spec.granularity) for name, m in prunable_layers(model)}
    fake_quantize_model(model, spec.bits, spec.granularity)
    emit(ctx.on_progress, "measure", 0, 1, "measuring accuracy, size, FLOPs and latency")
    metrics, base_metrics, layers = assess_against(model, base.model, base.data, ctx)
    for row in layers:
        row.update({f"quant_{k}": v for k, v in errors[row["name"]].items()})
    size = packed_size_bytes(model, spec.bits, spec.granularity)
    metrics.update(scheme="fake", bits=spec.bits, granularity=spec.granularity, size_packed_bytes=size,
                   size_ratio_quantized=size / max(base_metrics["size_fp32_bytes"], 1))
    notes = [f"size_packed_bytes is a packed {spec.bits}-bit estimate: counted, not serialized "
             f"({spec.bits} bits per weight rounded up to whole bytes per tensor, fp32 scales, fp32 biases and "
             "other tensors)",
             "fake quantization: the model still stores and computes dense fp32, so latency is unchanged "
             "(speed-ups near 1 are timing noise); only accuracy and the packed size reflect the bits"]
    artifacts = ctx.save_weights(model)
    return RunResult(id="", kind="quantize", status="finished", spec=spec.to_dict(), metrics=metrics,
                     layers=layers, history=base.info["history"], baseline=base_metrics, artifacts=artifacts,
                     notes=notes)


def calibration_inputs(x_train: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded random subset of `CALIBRATION_SAMPLES` training inputs for static int8's observers."""
    index = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:CALIBRATION_SAMPLES]
    return x_train[index]


# --- command line -------------------------------------------------------------------------

def _quantize_args(p) -> None:
    add_common(p)
    p.add_argument("--scheme", required=True,
                   help="fake (simulated k-bit weights, fp32 compute), int8 (real int8 model on CPU), "
                        "bf16 or fp16 (the model stored and run in 16-bit floats)")
    p.add_argument("--bits", type=integer, default=8, help=f"weight bits, {MIN_BITS}..{MAX_BITS} (int8: 8; default: 8)")
    p.add_argument("--granularity", help="channel (one scale per output channel) or tensor "
                                          "(default: tensor for int8, channel for fake)")
    p.add_argument("--baseline-epochs", type=integer, help="epochs of the baseline (default: the data set's default)")


def _quantize_spec(args) -> QuantizeSpec:
    return QuantizeSpec(**base_fields(args), scheme=args.scheme, bits=args.bits, granularity=args.granularity,
                        baseline_epochs=args.baseline_epochs)


_describe = describe_quantize  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="quantize", spec=QuantizeSpec, run=run_quantize, label="quantization", colour="#d62728",
    help="quantize a trained baseline: k-bit fake quantization, a real int8 model or bf16/fp16, and measure",
    add_arguments=_quantize_args, spec_from_args=_quantize_spec,
    # a bits sweep simulates k bits: int8 has 8 bits only
    sweep={"bits": SweepParam("bits", "2,3,4,6,8", "whole numbers from 2 to 8", integer=True, fixed={"scheme": "fake"})},
    report_settings=("scheme", "bits", "granularity"), describe=_describe, page="pages/quantize.py", order=30))
