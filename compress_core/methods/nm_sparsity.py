"""N:M semi-structured sparsity: keep the N largest of every M consecutive weights along the input dimension.

2:4 is the one sparsity pattern with a hardware speed-up today (NVIDIA sparse tensor cores, Ampere
and newer, compute capability >= 8.0): `torch.sparse.to_sparse_semi_structured` packs a 2:4 fp16
weight and `F.linear` then runs a sparse GEMM. Other N:M patterns (4:8, 1:4, ...) are masks only.

Here:
- `nm_mask(scores, n, m)`: the mask that keeps the N highest |scores| of each group of M along the input
  dimension (a Linear weight's columns; a convolution's input channels at each kernel position). Scores
  come from the lab's pruning criteria (`l1`, `wanda`, ...: `methods/criteria`).
- `apply_nm(model, n, m, method, calibration, layers)`: puts those masks on with `torch.nn.utils.prune`
  (`custom_from_mask`), so fine-tuning keeps the pattern (masked weights stay zero); a layer whose input
  dimension is not a multiple of M stays dense and is listed with the reason.
- `semi_structured_measures(model, ...)`: on a supported GPU, converts the 2:4 Linear layers (fp16) and times
  the whole model and its largest Linear layers against dense fp16 in alternation; elsewhere it says
  the speed-up needs a supported GPU. A mask is never reported as a speed-up.

Note:
    Kernel shapes: a converted weight needs rows a multiple of 32 and columns a multiple of 64 (the stricter
    of torch's CUTLASS and cuSPARSELt fp16 constraints); other Linear layers stay dense and are listed.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.errors import CompressError
from compress_core.measure.runtimes import Form, speedup, time_forms
from compress_core.methods.criteria import CalibrationSource, get_criterion, scorer
from compress_core.models.zoo import prunable_layers
from compress_core.runs.artifacts import write_text
from compress_core.training.loop import evaluate

PATTERN_FORM = "N:M with 1 <= N < M <= 32, e.g. 2:4 or 4:8"
KERNEL_PATTERN = (2, 4)  # the pattern sparse tensor cores run
MIN_CAPABILITY = (8, 0)  # Ampere
KERNEL_ROWS, KERNEL_COLS = 32, 64  # fp16 weight shape multiples both torch backends take (see Note)
BATCHES = (1, 16, 64, 256, 1024)
NEEDS_GPU = ("semi-structured speed-up not measured: 2:4 kernels need an NVIDIA GPU with compute capability "
             ">= 8.0 (Ampere or newer) and CUDA")
MASK_NOTE = ("N:M pattern applied as masks: dense kernels still do every multiply here, so the masked model is "
             "no faster; only the 2:4 semi-structured form on a supported GPU (semi_speedup_b*) can be")


def parse_pattern(text) -> tuple[int, int]:
    """'2:4' -> (2, 4); one line naming the value and the form otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(text)) if text is not None else None
    if not match:
        raise CompressError(f"pattern must be {PATTERN_FORM}; got {text!r}")
    n, m = int(match.group(1)), int(match.group(2))
    if not (1 <= n < m <= 32):
        raise CompressError(f"pattern must be {PATTERN_FORM}; got {text!r}")
    return n, m


def _rows(weight: torch.Tensor) -> torch.Tensor:
    """The weight as (output, reduction) with each group of the input dimension contiguous.

    Linear: (out, in) as is. Conv2d (out, in, kh, kw): input channels last, (out, kh*kw*in), as in the
    channels-last im2col GEMM that sparse convolution kernels run.
    """
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1) if weight.dim() == 4 else weight


def _unrows(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    if len(shape) == 4:
        out, cin, kh, kw = shape
        return rows.reshape(out, kh, kw, cin).permute(0, 3, 1, 2).contiguous()
    return rows.reshape(shape)


def input_dim(module: nn.Module) -> int:
    """The dimension N:M groups run along: in_features, or a convolution's input channels per group."""
    return int(module.weight.shape[1])


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """A 0/1 mask of `scores`' shape keeping the `n` largest |scores| of each `m` consecutive input weights.

    Ties go to the earlier position (torch.topk on a stable order), so the mask holds exactly `n` ones per group.
    """
    if input_dim_of_shape(scores.shape) % m:
        raise CompressError(f"a layer's input dimension {input_dim_of_shape(scores.shape)} is not a multiple of {m}")
    rows = _rows(scores.detach().abs().float())
    groups = rows.reshape(rows.shape[0], -1, m)
    keep = groups.topk(n, dim=-1, sorted=False).indices
    mask = torch.zeros_like(groups).scatter_(-1, keep, 1.0)
    return _unrows(mask.reshape(rows.shape), scores.shape)


def input_dim_of_shape(shape: Sequence[int]) -> int:
    return int(shape[1])


def follows_pattern(weight: torch.Tensor, n: int, m: int) -> bool:
    """True when every group of `m` consecutive input weights has at most `n` non-zeros."""
    if input_dim_of_shape(weight.shape) % m:
        return False
    groups = _rows(weight.detach()).reshape(weight.shape[0], -1, m)
    return bool(((groups != 0).sum(-1) <= n).all())


def split_layers(model: nn.Module, m: int, layers=None) -> tuple[list, list]:
    """(layers N:M can take, [(name, reason)] of chosen layers left dense): the input dimension must be a multiple of M."""
    eligible, dense = [], []
    for name, module in layers if layers is not None else prunable_layers(model):
        k = input_dim(module)
        if k % m:
            dense.append((name, f"input dimension {k} is not a multiple of {m}"))
        else:
            eligible.append((name, module))
    return eligible, dense


def apply_nm(model: nn.Module, n: int, m: int, method: str = "l1", calibration: CalibrationSource = None,
             layers=None) -> list[tuple[str, str]]:
    """Mask `model` in place to the N:M pattern by criterion `method`; returns [(name, reason)] of layers left dense.

    `layers` ([(name, module)], e.g. from `prune.select_layers`) limits the pattern to those layers. Every
    prunable layer ends up with a torch pruning mask (all ones where dense), so fine-tuning keeps the
    pattern and `prune.make_permanent` folds them all.
    """
    scores = scorer(get_criterion(method), model, calibration)
    eligible, dense = split_layers(model, m, layers)
    for _, module in eligible:
        mask = nm_mask(scores(module), n, m).to(module.weight.device, module.weight.dtype)
        if prune.is_pruned(module):  # combine with an earlier mask rather than stacking a second one
            prune.remove(module, "weight")
        prune.custom_from_mask(module, "weight", mask)
    for _, module in prunable_layers(model):
        if not prune.is_pruned(module):
            prune.identity(module, "weight")
    return dense


def dense_text(dense: Sequence[tuple[str, str]]) -> str:
    """'fc: input dimension 10 is not a multiple of 4; ...' or 'none'."""
    return "; ".join(f"{name}: {reason}" for name, reason in dense) or "none"


# ---------------------------------------------------------------- the 2:4 kernels (CUDA)
def semi_structured_support(device: Optional[torch.device] = None) -> Optional[str]:
    """None when this machine can run 2:4 sparse kernels on `device` (default cuda:0), else why not (one line)."""
    if not torch.cuda.is_available():
        return NEEDS_GPU + "; torch sees no CUDA GPU here"
    device = device if device is not None and device.type == "cuda" else torch.device("cuda", 0)
    capability = torch.cuda.get_device_capability(device)
    if capability < MIN_CAPABILITY:
        return NEEDS_GPU + f"; {torch.cuda.get_device_name(device)} has compute capability {capability[0]}.{capability[1]}"
    if not hasattr(torch.sparse, "to_sparse_semi_structured"):
        return NEEDS_GPU + f"; torch {torch.__version__} has no torch.sparse.to_sparse_semi_structured"
    return None


def kernel_shape_problem(linear: nn.Module) -> Optional[str]:
    """Why the 2:4 fp16 kernels cannot take this layer's weight, or None when they can."""
    if type(linear) is not nn.Linear:
        return f"{type(linear).__name__} layers are not converted (2:4 kernels run nn.Linear only)"
    rows, cols = linear.weight.shape
    if rows % KERNEL_ROWS or cols % KERNEL_COLS:
        return (f"weight {rows}x{cols}: 2:4 kernels need rows a multiple of {KERNEL_ROWS} and columns a multiple of "
                f"{KERNEL_COLS}")
    if not follows_pattern(linear.weight, *KERNEL_PATTERN):
        return "weight does not follow the 2:4 pattern"
    return None


class _Fp16Input(nn.Module):
    """Runs a half-precision model on float inputs (cast in) and returns float32 logits (cast out)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half() if x.is_floating_point() else x).float()


def to_semi_structured(model: nn.Module, device: torch.device) -> tuple[nn.Module, list[str], list[tuple[str, str]]]:
    """(an fp16 copy of `model` on `device` with its 2:4 Linear weights packed for sparse kernels, names converted,
    [(name, reason)] left dense). Needs `semi_structured_support(device)` to be None."""
    sparse = copy.deepcopy(model).to(device).half().eval()
    converted, dense = [], []
    for name, module in sparse.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if isinstance(_parent(sparse, name), nn.MultiheadAttention):  # its fused kernel reads the dense weight
            dense.append((name, "projection inside nn.MultiheadAttention (fused kernel reads a dense weight)"))
            continue
        problem = kernel_shape_problem(module)
        if problem is not None:
            dense.append((name, problem))
            continue
        packed = torch.sparse.to_sparse_semi_structured(module.weight.detach().contiguous())
        module.weight = nn.Parameter(packed, requires_grad=False)
        converted.append(name)
    return sparse, converted, dense


def _parent(model: nn.Module, name: str) -> Optional[nn.Module]:
    parent_name, _, _ = name.rpartition(".")
    return model.get_submodule(parent_name) if parent_name else None


def _half_example(make=None):
    """Form.example building fp16 batches (token ids for text models, which keep integer inputs)."""
    def example(batch: int, shape) -> torch.Tensor:
        if make is not None:
            return make(batch, int(shape[0]), torch.device("cpu"))
        return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0)).half()
    return example


def _pair(dense: nn.Module, sparse: nn.Module, shape, batch: int, device, repeats: int, example) -> dict:
    forms = [Form("dense fp16", "torch", lambda _t, m=dense: _call(m), device, example=example),
             Form("2:4 fp16", "torch-semi-structured", lambda _t, m=sparse: _call(m), device, example=example)]
    timed = time_forms(forms, shape, batch, repeats=repeats, warmup=5, max_seconds=5.0)
    row = {"batch": batch, "dense_ms": timed["dense fp16"].get("median_ms"),
           "sparse_ms": timed["2:4 fp16"].get("median_ms"), "speedup": speedup(timed["dense fp16"], timed["2:4 fp16"])}
    for key, form in (("dense_peak_bytes", "dense fp16"), ("sparse_peak_bytes", "2:4 fp16")):
        if "peak_memory_bytes" in timed[form]:
            row[key] = timed[form]["peak_memory_bytes"]
    if not timed["2:4 fp16"].get("available"):
        row["reason"] = timed["2:4 fp16"].get("reason")
    return row


def _call(model: nn.Module):
    def call(x):
        with torch.inference_mode():
            return model(x)
    return call


@dataclass
class SemiStructuredReport:
    """What `semi_structured_measures` found: the metrics, the per-batch rows and the layer rows."""

    metrics: dict
    model_rows: list = field(default_factory=list)  # whole model: batch, dense_ms, sparse_ms, speedup
    layer_rows: list = field(default_factory=list)  # largest Linear layers: name, shape, batch, ...
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"metrics": self.metrics, "model": self.model_rows, "layers": self.layer_rows, "notes": self.notes}


def largest_linears(model: nn.Module, count: int = 3) -> list[tuple[str, nn.Linear]]:
    """The `count` Linear layers with the most weights, one per shape (same shapes time alike)."""
    seen, out = set(), []
    for name, module in sorted(((n, m) for n, m in model.named_modules() if type(m) is nn.Linear),
                               key=lambda item: -item[1].weight.numel()):
        shape = tuple(module.weight.shape)
        if shape not in seen:
            seen.add(shape)
            out.append((name, module))
        if len(out) == count:
            break
    return out


def semi_structured_measures(model: nn.Module, input_shape: Sequence[int], *, device: Optional[torch.device] = None,
                             batches: Sequence[int] = BATCHES, repeats: int = 30, data=None,
                             layer_count: int = 3) -> SemiStructuredReport:
    """The 2:4 kernels' measured effect on a 2:4-pruned (masks folded) `model`.

    On a supported GPU: the fp16 dense model and its 2:4 form timed in alternation at each batch size
    (`semi_speedup_b{batch}`), the same for its `layer_count` largest Linear layers alone, the 2:4 form's test
    accuracy (`semi_accuracy`, when `data` is given) and the layers left dense. Elsewhere: `semi_structured`
    says why the speed-up is not measured, and nothing is timed.
    """
    device = device if device is not None and device.type == "cuda" else (
        torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    problem = semi_structured_support(device)
    if problem is not None:
        return SemiStructuredReport({"semi_structured": problem}, notes=[problem])
    dense_fp16 = copy.deepcopy(model).to(device).half().eval()
    try:
        sparse, converted, left_dense = to_semi_structured(model, device)
    except (RuntimeError, NotImplementedError) as exc:  # a kernel this torch/GPU pair lacks: say so, do not fail the run
        reason = f"2:4 conversion failed here: {(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}"
        return SemiStructuredReport({"semi_structured": reason}, notes=[reason])
    metrics = {"semi_structured": f"{len(converted)} Linear layer(s) run 2:4 sparse kernels on "
                                  f"{torch.cuda.get_device_name(device)}",
               "semi_layers": len(converted), "semi_dense_layers": dense_text(left_dense)}
    report = SemiStructuredReport(metrics)
    if not converted:
        report.notes.append("no Linear layer could take the 2:4 kernels; nothing timed: " + dense_text(left_dense))
        return report
    make = getattr(model, "example_input", None)
    example = _half_example(make if callable(make) else None)
    for batch in batches:
        row = _pair(dense_fp16, sparse, input_shape, batch, device, repeats, example)
        report.model_rows.append(row)
        if row["speedup"] is not None:
            metrics[f"semi_speedup_b{batch}"] = row["speedup"]
    for name, layer in largest_linears(dense_fp16, layer_count):
        if name not in converted:
            continue
        sparse_layer = sparse.get_submodule(name)
        for batch in batches:
            row = _pair(layer, sparse_layer, (layer.in_features,), batch, device, repeats, _half_example())
            report.layer_rows.append({"layer": name, "shape": list(layer.weight.shape), **row})
    if data is not None and report.model_rows and report.model_rows[0]["speedup"] is not None:  # the form ran
        metrics["semi_accuracy"], _ = evaluate(_Fp16Input(sparse), data.x_test, data.y_test, device)
        metrics["semi_dense_fp16_accuracy"], _ = evaluate(_Fp16Input(dense_fp16), data.x_test, data.y_test, device)
    return report


def save_report(report: SemiStructuredReport, folder) -> dict:
    """Write the per-batch and per-layer rows as `semi_structured.json` beside the run; {} without a folder."""
    if folder is None or not (report.model_rows or report.layer_rows):
        return {}
    path = Path(folder) / "semi_structured.json"
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(report.to_dict(), indent=1))
    return {"semi_structured": str(path)}
