"""Measurements of a model, as pure functions (ShrinkBench's reporting rules).

Sizes are measured by serializing, FLOPs by `torch.utils.flop_counter` (2 FLOPs per
multiply-add), latency by timing real calls. Nothing here trusts what a slider asked for.
"""
from __future__ import annotations

import io
import json
import math
import statistics
import struct
import time
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from compress_core.measure.runtimes import device_of, time_forms, torch_form
from compress_core.models.zoo import prunable_layers


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight a forward pass uses (mask applied when pruning re-parametrisation is active)."""
    return module.weight.detach()


def clean_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with pruning masks folded in (`weight_orig * weight_mask` -> `weight`)."""
    out: dict[str, torch.Tensor] = {}
    raw = model.state_dict()
    for key, value in raw.items():
        if key.endswith("_orig"):
            base = key[: -len("_orig")]
            out[base] = (value * raw[base + "_mask"]).detach().clone()
        elif key.endswith("_mask"):
            continue
        else:
            out[key] = value.detach().clone()
    return out


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) over every parameter and buffer-free weight of the model, masks applied."""
    total = nonzero = 0
    for key, tensor in clean_state_dict(model).items():
        if not tensor.is_floating_point() or key.endswith(("running_mean", "running_var")):
            continue
        total += tensor.numel()
        nonzero += int(torch.count_nonzero(tensor))
    return total, nonzero


def layer_rows(model: nn.Module) -> list[dict]:
    """One row per prunable layer: name, type, shape, params, non-zero, sparsity."""
    rows = []
    for name, module in prunable_layers(model):
        w = effective_weight(module)
        nz = int(torch.count_nonzero(w))
        rows.append({"name": name, "type": type(module).__name__, "shape": list(w.shape),
                     "params": w.numel(), "nonzero": nz, "sparsity": 1 - nz / max(w.numel(), 1)})
    return rows


def global_sparsity(model: nn.Module) -> float:
    """Share of zero weights over all prunable weights together."""
    rows = layer_rows(model)
    total = sum(r["params"] for r in rows)
    return 1 - sum(r["nonzero"] for r in rows) / max(total, 1)


def example_batch(model: nn.Module, input_shape: Sequence[int], batch: int, device=None, *,
                  zeros: bool = False) -> torch.Tensor:
    """An input batch for FLOPs and timing: random floats (or zeros), or token ids of full
    length `input_shape[0]` for a text model (it names its own via `example_input`)."""
    device = device if device is not None else device_of(model)
    make = getattr(model, "example_input", None)
    if callable(make):
        return make(batch, int(input_shape[0]), device)
    return (torch.zeros if zeros else torch.randn)(batch, *input_shape, device=device)


def is_text(model: nn.Module) -> bool:
    return callable(getattr(model, "example_input", None))


def mlp_layer_flops(model: nn.Module, input_shape: Sequence[int]) -> dict[str, int] | None:
    """FLOPs per Linear layer of one sample through the zoo's plain MLP, counted by hand; None otherwise.

    torch's `FlopCounterMode` imports `torch._dynamo` on its first use (its dispatch mode is wrapped
    in `torch._disable_dynamo`): 1.4 s, the largest import of the Learn page's first visit (issue 19).
    For an MLP of Linear, ReLU and Flatten modules it counts 2·in·out per Linear layer (the addmm;
    the bias add, ReLU and Flatten count nothing), which is this; `tests/test_mlp_flops.py` checks the
    two agree on dense, masked (pruning hooks) and structurally smaller MLPs. Anything else (a subclass,
    another module inside, an input that does not flatten to the first layer) returns None.
    """
    from compress_core.models.zoo import MLP

    plain = (MLP, nn.Sequential, nn.Flatten, nn.Linear, nn.ReLU)
    if type(model) is not MLP or any(type(m) not in plain for m in model.modules()):
        return None
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears or math.prod(int(d) for d in input_shape) != linears[0][1].in_features:
        return None
    return {name: 2 * m.in_features * m.out_features for name, m in linears}


def flops(model: nn.Module, input_shape: Sequence[int]) -> dict:
    """Dense and density-scaled FLOPs of one sample's forward pass.

    `FlopCounterMode` counts 2 FLOPs per multiply-add (the zoo's MLP: the same count by hand,
    `mlp_layer_flops`). The effective count scales each prunable layer's FLOPs by its weight
    density (what a perfect sparse kernel would do).
    """
    by_hand = mlp_layer_flops(model, input_shape)
    prefix = type(model).__name__
    if by_hand is not None:
        counts = {f"{prefix}.{name}": {"addmm": value} for name, value in by_hand.items()}
        dense = sum(by_hand.values())
    else:
        device = device_of(model)
        was_training = model.training
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_batch(model, input_shape, 1, device, zeros=True))
        model.train(was_training)
        counts = counter.get_flop_counts()
        dense = int(counter.get_total_flops())
    effective = float(dense)
    per_layer = {}
    for name, module in prunable_layers(model):
        layer_flops = int(sum(counts.get(f"{prefix}.{name}", {}).values()))
        w = effective_weight(module)
        density = int(torch.count_nonzero(w)) / max(w.numel(), 1)
        per_layer[name] = layer_flops
        effective -= layer_flops * (1 - density)
    return {"flops_dense": dense, "flops_effective": int(round(effective)), "flops_per_layer": per_layer}


def serialized_size(state_dict: dict[str, torch.Tensor]) -> int:
    """Bytes of `torch.save(state_dict)`: the honest on-disk size of a dense checkpoint."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getbuffer().nbytes


# A sparse checkpoint format written by hand: PyTorch's sparse tensors store int64
# indices (16 bytes per non-zero for a matrix), which is larger than dense until
# ~75% sparsity. A bitmap (1 bit per weight) plus the non-zero values is the compact,
# decodable encoding that Deep Compression-style reporting needs.
_SPARSE_MAGIC = b"CLSPARSE1"


def sparse_encode(state_dict: dict[str, torch.Tensor]) -> bytes:
    """Encode tensors as bitmap + non-zero values where that is smaller, dense otherwise."""
    header, chunks, offset = [], [], 0
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        bf16 = tensor.dtype == torch.bfloat16  # numpy has no bfloat16: its 16 bits travel as int16
        array = (tensor.view(torch.int16) if bf16 else tensor).numpy()
        flat = array.reshape(-1)
        entry = {"name": name, "dtype": "bfloat16" if bf16 else str(array.dtype), "shape": list(array.shape)}
        mask = flat != 0
        bitmap = np.packbits(mask)
        values = flat[mask]
        if (bf16 or array.dtype.kind == "f") and bitmap.nbytes + values.nbytes < flat.nbytes:
            entry["encoding"] = "bitmap"
            payload = [bitmap.tobytes(), values.tobytes()]
            entry["bitmap_bytes"] = bitmap.nbytes
        else:
            entry["encoding"] = "dense"
            payload = [flat.tobytes()]
        size = sum(len(p) for p in payload)
        entry["offset"], entry["size"] = offset, size
        offset += size
        header.append(entry)
        chunks.extend(payload)
    head = json.dumps(header).encode()
    return _SPARSE_MAGIC + struct.pack("<I", len(head)) + head + b"".join(chunks)


def sparse_decode(blob: bytes) -> dict[str, torch.Tensor]:
    """Inverse of `sparse_encode`: returns the same tensors, bit for bit."""
    if not blob.startswith(_SPARSE_MAGIC):
        raise ValueError("not a Compression Lab sparse checkpoint")
    start = len(_SPARSE_MAGIC)
    (head_len,) = struct.unpack("<I", blob[start:start + 4])
    header = json.loads(blob[start + 4:start + 4 + head_len])
    body = memoryview(blob)[start + 4 + head_len:]
    out = {}
    for entry in header:
        bf16 = entry["dtype"] == "bfloat16"
        dtype = np.dtype("int16" if bf16 else entry["dtype"])
        count = math.prod(entry["shape"])
        raw = body[entry["offset"]:entry["offset"] + entry["size"]]
        if entry["encoding"] == "bitmap":
            nb = entry["bitmap_bytes"]
            mask = np.unpackbits(np.frombuffer(raw[:nb], dtype=np.uint8), count=count).astype(bool)
            flat = np.zeros(count, dtype=dtype)
            flat[mask] = np.frombuffer(raw[nb:], dtype=dtype)
        else:
            flat = np.frombuffer(raw, dtype=dtype).copy()
        decoded = torch.from_numpy(flat.reshape(entry["shape"]))
        out[entry["name"]] = decoded.view(torch.bfloat16) if bf16 else decoded
    return out


def latency_ms(model: nn.Module, input_shape: Sequence[int], batch: int, *, repeats: int = 30,
               warmup: int = 5, max_seconds: float = 3.0) -> float:
    """Median wall time of one forward call at `batch`, in milliseconds, after warm-up.

    Stops early after `max_seconds` of timing (at least 5 calls) so huge models stay usable.
    """
    device = device_of(model)
    x = example_batch(model, input_shape, batch, device)
    was_training = model.training
    model.eval()
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()  # warm-up kernels finish before the first timed call
        began = time.perf_counter()
        for i in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            if i >= 4 and time.perf_counter() - began > max_seconds:
                break
    model.train(was_training)
    return statistics.median(times) * 1000


def paired_latency_ms(model_a: nn.Module, model_b: nn.Module, input_shape: Sequence[int], batch: int, *,
                      repeats: int = 30, warmup: int = 5) -> tuple[float, float]:
    """Median latency of two models timed in alternation, in milliseconds.

    Alternating calls exposes both models to the same machine load, so their ratio (the
    measured speed-up) is not skewed by a burst of load that hit only one of them. A use of
    `runtimes.time_forms`, the one timing path of every runtime.
    """
    modes = [m.training for m in (model_a, model_b)]
    timed = time_forms([torch_form("a", model_a), torch_form("b", model_b)], input_shape, batch,
                       repeats=repeats, warmup=warmup)
    model_a.train(modes[0])
    model_b.train(modes[1])
    for key in ("a", "b"):
        if not timed[key]["available"]:
            raise RuntimeError(f"model {key} could not be timed ({timed[key]['reason']})")
    return timed["a"]["median_ms"], timed["b"]["median_ms"]


def latency_plan(repeats: int, text: bool = False) -> tuple[tuple[int, int], ...]:
    """(batch, timed calls) pairs: every call at batch 1, a third of them (at least 5) at batch 64;
    text models also at batch 8 (half of them), at the data set's sequence length."""
    if text:
        return (1, repeats), (8, max(5, repeats // 2)), (64, max(5, repeats // 3))
    return (1, repeats), (64, max(5, repeats // 3))


def text_rates(timing: dict, input_shape: Sequence[int]) -> dict:
    """`seq_len` (the stated sequence length every text timing used) and tokens per second at batch 8."""
    seq_len = int(input_shape[0])
    out = {"seq_len": seq_len}
    if "latency_ms_b8" in timing:
        out["tokens_per_second"] = 8 * seq_len / max(timing["latency_ms_b8"] / 1000, 1e-12)
    return out


def paired_latencies(model_a: nn.Module, model_b: nn.Module, input_shape: Sequence[int],
                     repeats: int) -> tuple[dict, dict]:
    """`latency_ms_b1`/`latency_ms_b64` of two models, timed in alternation (see `paired_latency_ms`)."""
    timing_a, timing_b = {}, {}
    text = is_text(model_a) or is_text(model_b)
    for batch, calls in latency_plan(repeats, text):
        key = f"latency_ms_b{batch}"
        timing_a[key], timing_b[key] = paired_latency_ms(model_a, model_b, input_shape, batch, repeats=calls)
    if text:
        timing_a.update(text_rates(timing_a, input_shape))
        timing_b.update(text_rates(timing_b, input_shape))
    return timing_a, timing_b


def speedups(baseline: dict, measures: dict) -> dict:
    """Measured speed-ups: the baseline's latency over this model's, at batch 1 and 64."""
    return {f"speedup_b{b}": baseline[f"latency_ms_b{b}"] / max(measures[f"latency_ms_b{b}"], 1e-9) for b in (1, 8, 64)
            if f"latency_ms_b{b}" in baseline and f"latency_ms_b{b}" in measures}


def model_measures(model: nn.Module, input_shape: Sequence[int], *, latency_repeats: int = 30,
                   latency: bool = True) -> dict:
    """Every size/FLOPs/latency figure of one model, with the method noted in key names.

    `latency=False` leaves timing to the caller (e.g. `paired_latency_ms` against a baseline).
    """
    total, nonzero = count_params(model)
    state = clean_state_dict(model)
    f = flops(model, input_shape)
    timing = {}
    if latency:
        timing = {f"latency_ms_b{batch}": latency_ms(model, input_shape, batch, repeats=calls)
                  for batch, calls in latency_plan(latency_repeats, is_text(model))}
    if is_text(model):
        timing.update(text_rates(timing, input_shape))
    return {
        "params_total": total,
        "params_nonzero": nonzero,
        "sparsity": global_sparsity(model),
        "param_compression_ratio": total / max(nonzero, 1),
        "flops_dense": f["flops_dense"],
        "flops_effective": f["flops_effective"],
        "size_fp32_bytes": serialized_size(state),
        "size_sparse_bytes": len(sparse_encode(state)),
        **timing,
        "threads": torch.get_num_threads(),
    }


def compare_to_baseline(measures: dict, baseline: dict) -> dict:
    """Ratios against the baseline measured in the same run: theoretical speed-up, size ratio and,
    when both were timed, the measured speed-ups."""
    timed = all(f"latency_ms_b{b}" in d for b in (1, 64) for d in (measures, baseline))
    return {
        "theoretical_speedup": baseline["flops_dense"] / max(measures["flops_effective"], 1),
        **(speedups(baseline, measures) if timed else {}),
        "size_ratio_fp32": measures["size_fp32_bytes"] / max(baseline["size_fp32_bytes"], 1),
    }
