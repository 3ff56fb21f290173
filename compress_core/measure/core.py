"""The core set of figures every finished run reports, derived the same way for every run kind.

Runners measure (accuracy, parameters, FLOPs, sizes, latency); the few figures that follow
from those measures are derived here once, when a run finishes (`complete_result`, called by
`api.run`), so no runner re-implements them:

- `size_bytes`/`size_form`: the run's model as it would be deployed, in the smallest form the
  run actually has (see `deployable_size`);
- `compression_ratio`: the baseline's dense fp32 size / `size_bytes`;
- `param_compression_ratio`: parameters total / non-zero (ShrinkBench's compression ratio);
- for a run that is its own baseline (`train`): baseline accuracy, a zero change, speed-ups of 1.

Pure functions of dicts (no torch), so stored runs of older versions can be completed on read.
"""
from __future__ import annotations

import math
from typing import Mapping

# A model whose weights are less than 1 % zeros is deployed dense: its sparse encoding differs
# from the fp32 file by container overhead alone.
SPARSE_MIN = 0.01
# What an int8 model shares with the fp32 model it was converted from (the symmetric int8 grid
# keeps zeros exact): its shape measures are those of the fp32 weights.
FP32_SHAPE_KEYS = ("params_total", "params_nonzero", "sparsity", "param_compression_ratio", "flops_dense",
                   "flops_effective", "size_fp32_bytes", "size_sparse_bytes", "flops_nonzero")


def present(value) -> bool:
    """A measured number (not None, not NaN)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def deployable_size(metrics: Mapping) -> tuple[float | None, str]:
    """(bytes, form) of the run's model as it would be deployed: the smallest form it actually has.

    - Deep Compression runs: the Huffman-coded file (`size_encoded_bytes`, which decodes to the model);
    - int8 runs: the serialized int8 file (`size_int8_bytes`);
    - bf16/fp16 runs: the serialized 16-bit state dict (`size_half_bytes`), or its counted sparse
      form (`size_sparse_quantized_bytes`) when the weights have zeros and it is smaller;
    - fake k-bit runs: the packed k-bit size (`size_packed_bytes`), or its sparse variant
      (`size_sparse_quantized_bytes`, pipelines) when that is smaller and the weights have zeros;
    - every other run: the dense fp32 file (`size_fp32_bytes`; the smaller dense model for
      structured pruning and distilled students), or the sparse encoding (`size_sparse_bytes`)
      when at least `SPARSE_MIN` of the weights are zero and it is smaller.

    A quantized run's accuracy and latency are the quantized model's, so its size is too: an
    fp32 form of the same weights is never picked for it. (None, "") when nothing was measured.
    """
    sparse = (metrics.get("sparsity") or 0) >= SPARSE_MIN
    if present(metrics.get("size_encoded_bytes")):
        return metrics["size_encoded_bytes"], "Huffman-coded file"
    if metrics.get("scheme") == "int8" or present(metrics.get("size_int8_bytes")):
        return (metrics["size_int8_bytes"], "int8") if present(metrics.get("size_int8_bytes")) else (None, "")
    if present(metrics.get("size_half_bytes")):  # bf16/fp16: the 16-bit file, or its sparse form
        scheme = metrics.get("scheme") or "16-bit"
        candidates = [(metrics["size_half_bytes"], str(scheme))]
        if sparse and present(metrics.get("size_sparse_quantized_bytes")):
            candidates.append((metrics["size_sparse_quantized_bytes"], f"sparse {scheme}"))
        return min(candidates)
    if present(metrics.get("size_packed_bytes")):
        bits = metrics.get("bits_label") or f"{metrics.get('bits')}-bit"  # bits_label: plans mix widths per layer
        candidates = [(metrics["size_packed_bytes"], f"{bits} packed")]
        if sparse and present(metrics.get("size_sparse_quantized_bytes")):
            candidates.append((metrics["size_sparse_quantized_bytes"], f"sparse {bits} packed"))
        return min(candidates)
    candidates = []
    if sparse and present(metrics.get("size_sparse_bytes")):
        candidates.append((metrics["size_sparse_bytes"], "sparse"))
    if present(metrics.get("size_fp32_bytes")):
        candidates.append((metrics["size_fp32_bytes"], "fp32"))
    return min(candidates) if candidates else (None, "")


def core_metrics(metrics: Mapping, baseline: Mapping | None = None, *, own_baseline: bool = True) -> dict:
    """The derived core figures of `metrics`, against `baseline` (empty/None: the run is its own).

    Returns only what can be derived from the measures present; the caller merges it.
    `own_baseline=False` leaves out the figures of a run that is its own baseline (accuracy
    change 0, speed-ups 1): for a baseline dict itself, which compares with nothing.
    """
    own = not baseline
    base = metrics if own else baseline
    out: dict = {}
    total, nonzero = metrics.get("params_total"), metrics.get("params_nonzero")
    if present(total) and present(nonzero):
        out["param_compression_ratio"] = total / max(nonzero, 1)
    size, form = deployable_size(metrics)
    if present(size):
        out["size_bytes"], out["size_form"] = size, form
        base_fp32 = base.get("size_fp32_bytes")
        if present(base_fp32) and size:
            out["compression_ratio"] = base_fp32 / size
    if own and own_baseline:
        if present(metrics.get("accuracy")):
            out["baseline_accuracy"] = metrics.get("baseline_accuracy", metrics["accuracy"])
            out["accuracy_change"] = metrics.get("accuracy_change", 0.0)
        for batch in (1, 64):
            if present(metrics.get(f"latency_ms_b{batch}")):
                out[f"speedup_b{batch}"] = metrics.get(f"speedup_b{batch}", 1.0)
    return out


def complete_metrics(metrics: dict, baseline: Mapping | None = None, *, own_baseline: bool = True) -> dict:
    """Add the derived core figures to `metrics` in place (and return it)."""
    metrics.update(core_metrics(metrics, baseline, own_baseline=own_baseline))
    return metrics


def fp32_shape(fp32_metrics: Mapping) -> dict:
    """The shape measures (`FP32_SHAPE_KEYS`) of the fp32 model a quantized model was converted from."""
    return {key: fp32_metrics[key] for key in FP32_SHAPE_KEYS if key in fp32_metrics}


def complete_result(result) -> None:
    """Complete a finished RunResult in place: its metrics, each pipeline step's and the baseline's.

    A pipeline step's metrics also get the step's own `duration_s`.
    """
    for record in result.steps or []:
        step_metrics = record.get("metrics")
        if isinstance(step_metrics, dict):
            if present(record.get("duration_s")):
                step_metrics.setdefault("duration_s", record["duration_s"])
            complete_metrics(step_metrics, result.baseline)
    complete_metrics(result.metrics, result.baseline)
    if result.baseline:
        complete_metrics(result.baseline, own_baseline=False)
