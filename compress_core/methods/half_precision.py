"""Half precision (bf16, fp16) as a compression method: stored and run in 16 bits, measured.

The model's floating-point tensors are converted to bfloat16 or float16 (half the bytes of
fp32, measured by serializing the converted state dict) and it runs in that dtype: two
forward hooks cast float inputs to the half dtype on the way in and the logits back to fp32 on
the way out, so evaluation, timing and FLOPs use the lab's usual paths and the layer names stay
those of the baseline. Token ids (integer inputs of text models) pass through untouched.

Whether 16 bits is *faster* depends on the processor: on CPUs with AMX or AVX-512 BF16/FP16
oneDNN runs bf16/fp16 matrix products natively; elsewhere it converts and may be slower than
fp32. `precision_support` reports the features found, and every run states whether the dtype
was accelerated here beside its measured latency, so a slower half model reads as slower.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

HALF_SCHEMES = ("bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CPU_FLAGS = ("amx_bf16", "amx_fp16", "amx_tile", "avx512_bf16", "avx512_fp16", "avx512f", "avx2")


class _CastInputs:
    """Forward pre-hook: float inputs become `dtype` (a class, not a lambda, so models stay picklable)."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype

    def __call__(self, module, args):
        return tuple(a.to(self.dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def _logits_to_fp32(module, args, output):
    """Forward hook: the logits leave in fp32, as every other model's do (losses and softmax in fp32)."""
    return output.float() if torch.is_tensor(output) and output.is_floating_point() else output


def to_half(model: nn.Module, scheme: str) -> nn.Module:
    """A copy of `model` stored and computed in `scheme`'s dtype (the original is left untouched)."""
    dtype = DTYPES[scheme]
    half = copy.deepcopy(model).to(dtype).eval()
    half.register_forward_pre_hook(_CastInputs(dtype))
    half.register_forward_hook(_logits_to_fp32)
    half.half_scheme = scheme  # read by the size and notes code; not part of the state dict
    return half


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset:
    """Feature flags of this CPU from /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_features() -> dict:
    """torch's CPU capability report plus the matrix-engine flags that decide bf16/fp16 speed."""
    flags = _cpu_flags()
    return {"torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "flags": [f for f in CPU_FLAGS if f in flags],
            "mkldnn_bf16": bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()),
            "mkldnn_fp16": bool(getattr(torch.ops.mkldnn, "_is_mkldnn_fp16_supported", lambda: False)())}


def precision_support(scheme: str, device: torch.device | str = "cpu") -> dict:
    """Whether `scheme` has hardware acceleration on `device`: {"accelerated", "why"}.

    CPU: bf16 needs AMX-BF16 or AVX-512 BF16, fp16 needs AMX-FP16 or AVX-512 FP16 (oneDNN's
    native kernels; without them torch converts to fp32 inside each product). CUDA: tensor cores
    (fp16 from compute capability 7.0, bf16 from 8.0).
    """
    device = torch.device(device)
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        need = (8, 0) if scheme == "bf16" else (7, 0)
        ok = (major, minor) >= need
        return {"accelerated": ok, "why": f"GPU compute capability {major}.{minor}: "
                + ("tensor cores run " if ok else f"no {scheme} tensor cores (need {need[0]}.{need[1]}) for ")
                + scheme}
    flags = set(cpu_features()["flags"])
    wanted = ("amx_bf16", "avx512_bf16") if scheme == "bf16" else ("amx_fp16", "avx512_fp16")
    found = [f for f in wanted if f in flags]
    if found:
        return {"accelerated": True, "why": f"this CPU has {', '.join(found)}: native {scheme} matrix products"}
    return {"accelerated": False, "why": f"this CPU has no {' or '.join(wanted)}: {scheme} products are converted, "
                                         "not accelerated, so expect no speed-up (or a slow-down)"}


def support_line(scheme: str, device: torch.device | str = "cpu") -> str:
    """One sentence for a run's notes: accelerated here or not, and why."""
    support = precision_support(scheme, device)
    return f"{scheme} {'is' if support['accelerated'] else 'is NOT'} accelerated here ({support['why']})"


# --- measuring a half model against its fp32 baseline ---------------------------------------

def sparse_half_size_bytes(half: nn.Module) -> int:
    """Bytes of a half model stored sparsely where that is smaller: counted, not serialized.

    Per Linear/Conv2d weight, the smaller of dense 16-bit values and a bitmap (1 bit per weight)
    plus the 16-bit non-zero values; every other tensor at its own dtype's size. For pruned
    models that end in bf16/fp16 (pipelines). Hand-written: no library counts this form.
    """
    from compress_core.models.zoo import prunable_layers

    weights = {f"{name}.weight" for name, _ in prunable_layers(half)}
    total = 0
    for key, tensor in half.state_dict().items():
        size = tensor.element_size()
        if key in weights:
            total += min(tensor.numel() * size, -(-tensor.numel() // 8) + int(torch.count_nonzero(tensor)) * size)
        else:
            total += tensor.numel() * size
    return total


def measure_half(model: nn.Module, base, ctx, scheme: str) -> tuple[nn.Module, dict, dict, list, list]:
    """(half model, its metrics against the baseline, baseline metrics, layer rows, notes).

    `model` is the fp32 model to convert (masks folded in); `base` the cached Baseline. Accuracy,
    loss and latency are the half model's in torch eager, timed alternately with the fp32 baseline
    on the same inputs; parameters, sparsity, FLOPs and the fp32/sparse sizes are those of the fp32
    weights it was converted from; `size_half_bytes` is torch.save of the half state dict.
    """
    from compress_core.measure.assess import assess_against
    from compress_core.measure.core import fp32_shape
    from compress_core.measure.metrics import clean_state_dict, model_measures, serialized_size

    half = to_half(model, scheme)
    metrics, base_metrics, layers = assess_against(half, base.model, base.data, ctx)
    # The fp32 model's shape measures: the baseline's, already measured, when it is the model converted.
    fp32 = base_metrics if model is base.model else model_measures(model, base.data.input_shape, latency=False)
    metrics.update(fp32_shape(fp32))
    size = serialized_size(clean_state_dict(half))
    support = precision_support(scheme, ctx.device)
    metrics.update(scheme=scheme, bits=16, granularity="tensor", size_half_bytes=size,
                   size_ratio_quantized=size / max(base_metrics["size_fp32_bytes"], 1),
                   half_accelerated=support["accelerated"], size_sparse_quantized_bytes=sparse_half_size_bytes(half))
    notes = [f"{scheme}: the model's weights are stored and computed in {scheme}; size_half_bytes is torch.save of "
             "that state dict; accuracy and latency are the half model's in torch eager, timed alternately with the "
             "fp32 baseline on the same inputs",
             support_line(scheme, ctx.device) + f"; CPU capability {cpu_features()['torch_cpu_capability']}"]
    return half, metrics, base_metrics, layers, notes


def run_half(spec, base, ctx):
    """A quantize run with scheme bf16/fp16: convert the cached baseline, measure it, save it."""
    from compress_core.progress import emit
    from compress_core.results import RunResult

    emit(ctx.on_progress, "quantize", 0, 1, f"converting the model to {spec.scheme}")
    half, metrics, base_metrics, layers, notes = measure_half(base.model, base, ctx, spec.scheme)
    artifacts = ctx.save_weights(half)
    return RunResult(id="", kind="quantize", status="finished", spec=spec.to_dict(), metrics=metrics,
                     layers=layers, history=base.info["history"], baseline=base_metrics, artifacts=artifacts,
                     notes=notes)


def half_scheme_of(run: dict) -> str | None:
    """'bf16'/'fp16' when a stored run's model ends in half precision (a quantize run or a pipeline's
    last step), else None: the exporters write its weight files in that dtype."""
    spec = run.get("spec") or {}
    scheme = spec.get("scheme")
    if run.get("kind") == "pipeline" and spec.get("steps"):
        last = spec["steps"][-1]
        scheme = last.get("scheme") if isinstance(last, dict) and last.get("kind") == "quantize" else None
    return scheme if scheme in HALF_SCHEMES else None
