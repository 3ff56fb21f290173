"""The quantization lesson's second half: zero-points, activation calibration and int8 speed, measured.

Three questions a student asks after "k-bit weights" (issue 21, classroom-ready):

1. Symmetric or asymmetric? A symmetric grid puts zero in its middle (zero-point 0); an
   asymmetric one maps [lo, hi] onto 0 .. 2^k - 1 with an integer zero-point z, so a tensor
   that is never negative (a ReLU's output) uses the whole grid instead of half of it.
2. Activations need a range before inference (calibration): min-max keeps every value but
   stretches the grid over rare outliers; a percentile or the MSE-optimal clip cuts the
   outliers (clipping error) to get a finer grid for the rest (rounding error).
3. Why dynamic int8 can be slower than fp32: each call quantizes its activations and
   dequantizes the results, a cost per call and per layer that tiny matmuls cannot repay.

The integer grid (`grid_params`, `quantize`, `dequantize`) is the textbook affine formula
(Jacob et al. 2018; the ONNX QuantizeLinear / torch.fake_quantize_per_tensor_affine
definition), written here in a few lines of numpy so the page can show each step; the
tests check it against torch's `fake_quantize_per_tensor_affine`. Timing goes through the
app's own int8 path (`methods.int8_onnx`: ONNX export, ONNX Runtime dynamic int8) and
`measure.runtimes.time_forms` (paired, alternated calls). No Streamlit here.
"""
from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.present import plots
from compress_core.specs import check_choice, check_range
from compress_core.training.loop import evaluate

SCHEMES = {"symmetric": "symmetric (zero-point 0)", "asymmetric": "asymmetric (integer zero-point)"}
CALIBRATIONS = {"minmax": "min-max", "percentile": "percentile", "mse": "MSE-optimal clip"}
SCHEME_COLORS = {"symmetric": "#e377c2", "asymmetric": "#1f77b4"}
CALIBRATION_COLORS = {"minmax": "#7f7f7f", "percentile": "#ff7f0e", "mse": "#2ca02c"}
CALIBRATION_SAMPLES = 512  # training inputs the ranges are calibrated on (as the app's static int8)
MSE_CANDIDATES = 200  # clip values tried by the MSE-optimal search


# ---------------------------------------------------------------- the integer grid
@dataclass(frozen=True)
class Grid:
    """An affine k-bit grid: x̂ = scale · (q − zero_point), q an integer in [qmin, qmax]."""

    bits: int
    scheme: str
    scale: float
    zero_point: int
    qmin: int
    qmax: int

    @property
    def low(self) -> float:
        """The smallest value the grid represents, scale · (qmin − zero_point)."""
        return self.scale * (self.qmin - self.zero_point)

    @property
    def high(self) -> float:
        """The largest value the grid represents, scale · (qmax − zero_point)."""
        return self.scale * (self.qmax - self.zero_point)

    def values(self) -> np.ndarray:
        """Every value of the grid, lowest first (2^k − 1 symmetric, 2^k asymmetric)."""
        return self.scale * (np.arange(self.qmin, self.qmax + 1) - self.zero_point)


def grid_params(lo: float, hi: float, bits: int, scheme: str) -> Grid:
    """The k-bit grid for values in [lo, hi].

    symmetric: q in [−(2^(k−1) − 1), 2^(k−1) − 1], scale = max(|lo|, |hi|) / (2^(k−1) − 1), zero-point 0.
    asymmetric: q in [0, 2^k − 1]; the range is widened to hold 0 (so zero stays exact, as padding and
    ReLU need), scale = (hi − lo) / (2^k − 1), zero-point = round(−lo / scale), clamped to the grid.
    A zero range gets scale 1 (every value is 0 and stays 0).
    """
    check_range("bits", bits, 2, 16, integer=True)
    check_choice("scheme", scheme, tuple(SCHEMES))
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise CompressError(f"range [{lo}, {hi}] is not a finite interval with lo <= hi")
    if scheme == "symmetric":
        qmax = 2 ** (bits - 1) - 1
        amax = max(abs(lo), abs(hi))
        return Grid(bits, scheme, amax / qmax if amax > 0 else 1.0, 0, -qmax, qmax)
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax if hi > lo else 1.0
    return Grid(bits, scheme, scale, int(min(qmax, max(0, round(-lo / scale)))), 0, qmax)


def quantize(x: np.ndarray, grid: Grid) -> np.ndarray:
    """Integer codes q = clamp(round(x / scale) + zero_point, qmin, qmax) (round half to even, as torch)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / grid.scale) + grid.zero_point,
                   grid.qmin, grid.qmax).astype(np.int64)


def dequantize(q: np.ndarray, grid: Grid) -> np.ndarray:
    """x̂ = scale · (q − zero_point)."""
    return grid.scale * (np.asarray(q, dtype=np.float64) - grid.zero_point)


def fake_quantize(x: np.ndarray, grid: Grid) -> np.ndarray:
    """`x` on the grid and back (quantize, then dequantize)."""
    return dequantize(quantize(x, grid), grid)


def error_split(x: np.ndarray, grid: Grid) -> dict:
    """The squared error of `x` on `grid`, split by cause.

    A value whose code round(x / scale) + zero_point falls outside [qmin, qmax] is clamped to the
    grid's end: its error is the clipping error. The others are only rounded to the nearest grid
    value (error at most scale / 2): the rounding error. Every value is in exactly one group, so
    clip_sse + round_sse == total_sse. `mse` is total_sse / n; `sqnr_db` = 10·log10(Σx² / total_sse).
    (A value just beyond the grid's end, by less than half a step, rounds to that end anyway: it
    counts as rounded, which is why min-max ranges clip nothing even with a rounded zero-point.)
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    err = (fake_quantize(x, grid) - x) ** 2
    raw = np.round(x / grid.scale) + grid.zero_point
    clipped = (raw < grid.qmin) | (raw > grid.qmax)
    total = float(err.sum())
    signal = float((x ** 2).sum())
    return {"clip_sse": float(err[clipped].sum()), "round_sse": float(err[~clipped].sum()), "total_sse": total,
            "mse": total / max(len(x), 1), "clipped_share": float(clipped.mean()) if len(x) else 0.0,
            "max_round": float(np.sqrt(err[~clipped].max())) if (~clipped).any() else 0.0,
            "sqnr_db": math.inf if total == 0 else 10 * math.log10(max(signal, 1e-30) / total)}


def compare_schemes(x: np.ndarray, bits: int) -> pd.DataFrame:
    """Symmetric vs asymmetric on the same values (range: their min and max): the grid and its error.

    `codes_used`: how many of the grid's integer codes any value of `x` lands on; `grid_size`: how many
    it has. A tensor that is never negative lands on about half of a symmetric grid.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    rows = []
    for scheme in SCHEMES:
        grid = grid_params(x.min(), x.max(), bits, scheme)
        codes = quantize(x, grid)
        rows.append({"scheme": scheme, "bits": bits, "scale": grid.scale, "zero_point": grid.zero_point,
                     "qmin": grid.qmin, "qmax": grid.qmax, "grid_size": grid.qmax - grid.qmin + 1,
                     "codes_used": int(len(np.unique(codes))), **error_split(x, grid)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the tensors of the lesson
def activation_points(model: nn.Module) -> list[str]:
    """Names of the model's ReLU modules: the hidden activations an int8 model quantizes between layers."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.ReLU)]


def activations(model: nn.Module, name: str, x: torch.Tensor) -> np.ndarray:
    """The output of module `name` for inputs `x` (eval mode, no gradients), flattened to numpy."""
    modules = dict(model.named_modules())
    if name not in modules:
        raise CompressError(f"unknown module {name!r}; allowed: {', '.join(activation_points(model))}")
    seen = []
    handle = modules[name].register_forward_hook(lambda _m, _i, out: seen.append(out.detach().float().cpu()))
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
        model.train(was)
    return torch.cat([s.reshape(-1) for s in seen]).numpy()


def calibration_inputs(x_train: torch.Tensor, seed: int = 0, samples: int = CALIBRATION_SAMPLES) -> torch.Tensor:
    """A seeded random subset of training inputs: what the ranges are calibrated on (never the test split)."""
    index = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:samples]
    return x_train[index]


# ---------------------------------------------------------------- calibration
def calibrate(values: np.ndarray, method: str, bits: int, percentile: float = 99.9) -> tuple[float, float]:
    """The activation range [lo, hi] chosen from calibration `values` (asymmetric grid).

    minmax: the smallest and largest value seen. percentile: the (100 − p)-th and p-th percentiles
    (values beyond are clipped). mse: of `MSE_CANDIDATES` ranges shrinking the min-max range from 100 %
    down to 0.5 % of it, the one whose asymmetric `bits`-bit grid gives the least squared error on `values`.
    """
    check_choice("calibration", method, tuple(CALIBRATIONS))
    check_range("percentile", percentile, 50, 100)
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if method == "minmax":
        return lo, hi
    if method == "percentile":
        return float(np.percentile(v, 100 - percentile)), float(np.percentile(v, percentile))
    best, best_sse = (lo, hi), math.inf
    for f in np.linspace(1.0, 0.005, MSE_CANDIDATES):
        grid = grid_params(lo * f, hi * f, bits, "asymmetric")
        sse = float(((fake_quantize(v, grid) - v) ** 2).sum())
        if sse < best_sse:
            best, best_sse = (lo * f, hi * f), sse
    return best


def quantized_activation_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                                  ranges: Mapping[str, tuple[float, float]], bits: int) -> float:
    """Test accuracy with the outputs of the modules in `ranges` fake-quantized on their asymmetric
    `bits`-bit grids (weights stay fp32: only the activations' error is measured). `model` is not changed."""
    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    handles = []
    for name, (lo, hi) in ranges.items():
        grid = grid_params(lo, hi, bits, "asymmetric")

        def hook(_m, _i, out, grid=grid):
            return torch.fake_quantize_per_tensor_affine(out, grid.scale, grid.zero_point, grid.qmin, grid.qmax)
        handles.append(modules[name].register_forward_hook(hook))
    try:
        accuracy, _ = evaluate(model, x, y)
    finally:
        for h in handles:
            h.remove()
    return accuracy


def calibration_table(model: nn.Module, data, layer: str, bits: int, percentile: float = 99.9,
                      seed: int = 0) -> pd.DataFrame:
    """Each calibration method on the model's real activations, measured.

    Ranges are calibrated on `CALIBRATION_SAMPLES` training inputs (seeded), for every ReLU of the
    model; the errors are those of `layer`'s activations on the TEST inputs (held out, so the MSE-optimal
    clip is not graded on the values it was fitted to); `accuracy` is the test accuracy with every
    ReLU's output fake-quantized on its own calibrated range (weights fp32).
    """
    points = activation_points(model)
    if layer not in points:
        raise CompressError(f"unknown activation {layer!r}; allowed: {', '.join(points)}")
    calib = calibration_inputs(data.x_train, seed)
    seen = {name: activations(model, name, calib) for name in points}
    test = activations(model, layer, data.x_test)
    rows = []
    for method, label in CALIBRATIONS.items():
        ranges = {name: calibrate(v, method, bits, percentile) for name, v in seen.items()}
        lo, hi = ranges[layer]
        grid = grid_params(lo, hi, bits, "asymmetric")
        rows.append({"method": method, "label": label if method != "percentile" else f"percentile {percentile:g}",
                     "bits": bits, "lo": lo, "hi": hi, "scale": grid.scale, "zero_point": grid.zero_point,
                     **error_split(test, grid),
                     "accuracy": quantized_activation_accuracy(model, data.x_test, data.y_test, ranges, bits)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- int8 speed
RUNTIMES = {"torch": "torch eager (torch.ao dynamic int8)", "onnxruntime": "ONNX Runtime (the app's int8 runs)"}


def int8_forms(model: nn.Module, input_shape: Sequence[int], runtime: str, folder: Path) -> list:
    """[fp32 form, dynamic int8 form] of `model` in `runtime`, per-tensor int8 weights.

    torch: eager fp32 against `methods.quantize.to_int8(..., "dynamic")` (torch.ao's quantize_dynamic).
    onnxruntime: the app's int8 run path (`methods.int8_onnx`: fp32 `.onnx` export, ONNX Runtime
    `quantize_dynamic`), both files run in ONNX Runtime.
    """
    from compress_core.measure.runtimes import ort_form, torch_form

    check_choice("runtime", runtime, tuple(RUNTIMES))
    model = copy.deepcopy(model).cpu().eval()
    if runtime == "torch":
        from compress_core.methods.quantize import to_int8

        return [torch_form("fp32", model), torch_form("int8", to_int8(model, "dynamic", "tensor", None,
                                                                        torch.zeros(1, *input_shape)))]
    from compress_core.methods.int8_onnx import export_fp32, quantize_file

    fp32 = export_fp32(model, input_shape, folder / f"{runtime}_fp32.onnx")
    int8 = quantize_file(fp32, folder / f"{runtime}_int8.onnx", "dynamic")
    return [ort_form("fp32", fp32.read_bytes()), ort_form("int8", int8.read_bytes())]


def time_fp32_int8(model: nn.Module, input_shape: Sequence[int], batches: Sequence[int] = (1, 64), *,
                   runtimes: Sequence[str] = tuple(RUNTIMES), repeats: int = 200, threads: int = 1,
                   max_seconds: float = 2.0) -> pd.DataFrame:
    """fp32 vs dynamic int8 of `model` in each runtime (fp32 and int8 in the same runtime), at each batch.

    Median of up to `repeats` paired, alternated calls after warm-up (`runtimes.time_forms`, at most
    `max_seconds` of timing per batch), `threads` intra-op threads. Columns: runtime, batch, fp32_ms,
    int8_ms, speedup (fp32 / int8: > 1 means int8 is faster), extra_ms (int8 − fp32), threads.
    """
    from compress_core.measure.runtimes import time_forms

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in runtimes:
            forms = int8_forms(model, input_shape, runtime, Path(tmp))
            for batch in batches:
                t = time_forms(forms, input_shape, batch, threads=threads, repeats=repeats, warmup=20,
                               max_seconds=max_seconds)
                if not (t["fp32"].get("available") and t["int8"].get("available")):
                    raise CompressError(f"{runtime} int8 timing is not available here: "
                                        f"{t['int8'].get('reason') or t['fp32'].get('reason')}")
                a, b = t["fp32"]["median_ms"], t["int8"]["median_ms"]
                rows.append({"runtime": runtime, "batch": batch, "fp32_ms": a, "int8_ms": b, "speedup": a / b,
                             "extra_ms": b - a, "calls": t["int8"]["calls"], "threads": threads})
    return pd.DataFrame(rows)


SWEEP_WIDTHS = (64, 256, 1024, 2048)  # where int8 starts to pay on a 2-core CPU: between the first and the last


def width_sweep(widths: Sequence[int] | None = None, batches: Sequence[int] = (1, 64), *,
                runtimes: Sequence[str] = tuple(RUNTIMES), repeats: int = 100, threads: int = 1,
                seed: int = 0) -> pd.DataFrame:
    """Where int8 starts to pay: two Linear layers width → width → width (random weights, seeded) at each
    width, fp32 vs dynamic int8 (`time_fp32_int8`, at most 1 s of timing per batch). Adds `width` and
    `macs` (multiply-adds per input)."""
    frames = []
    for width in SWEEP_WIDTHS if widths is None else widths:
        check_range("width", width, 1, 8192, integer=True)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        table = time_fp32_int8(model, (width,), batches, runtimes=runtimes, repeats=repeats, threads=threads,
                               max_seconds=1.0)
        frames.append(table.assign(width=width, macs=2 * width * width))
    return pd.concat(frames, ignore_index=True)


def int8_lesson(model: nn.Module, input_shape: Sequence[int], *, threads: int = 1) -> dict:
    """Everything the int8 part of the lesson shows, measured now: the model's own table and the sweep."""
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"model": time_fp32_int8(model, input_shape, threads=threads),
            "widths": width_sweep(threads=threads), "threads": threads, "load": load}


# Measured by `int8_lesson` (python -m compress_core.present.teach_quant) on the lab's 2-core machine, 30 Nov
# 2026, one thread, while other jobs shared the machine (1-minute load average in DOC_INT8["load"]); the page
# shows these until the student measures on their own machine with one click.
DOC_INT8 = {"load": 6.5, "threads": 1, "model": [
    {"runtime": "torch", "batch": 1, "fp32_ms": 0.03857, "int8_ms": 0.07788},
    {"runtime": "torch", "batch": 64, "fp32_ms": 0.12215, "int8_ms": 0.11612},
    {"runtime": "onnxruntime", "batch": 1, "fp32_ms": 0.01138, "int8_ms": 0.01216},
    {"runtime": "onnxruntime", "batch": 64, "fp32_ms": 0.07574, "int8_ms": 0.03873}], "widths": [
    {"runtime": r, "batch": b, "width": w, "fp32_ms": f, "int8_ms": i} for r, b, w, f, i in (
        ("torch", 1, 64, 0.02132, 0.04955), ("torch", 64, 64, 0.03505, 0.05889),
        ("onnxruntime", 1, 64, 0.00814, 0.00956), ("onnxruntime", 64, 64, 0.01825, 0.0148),
        ("torch", 1, 256, 0.03494, 0.05475), ("torch", 64, 256, 0.20485, 0.11102),
        ("onnxruntime", 1, 256, 0.01484, 0.01263), ("onnxruntime", 64, 256, 0.16, 0.05993),
        ("torch", 1, 1024, 0.18782, 0.10339), ("torch", 64, 1024, 3.15052, 0.81723),
        ("onnxruntime", 1, 1024, 0.12768, 0.05175), ("onnxruntime", 64, 1024, 2.67411, 0.69248),
        ("torch", 1, 2048, 1.85949, 0.48837), ("torch", 64, 2048, 13.52893, 3.17976),
        ("onnxruntime", 1, 2048, 1.26225, 0.43402), ("onnxruntime", 64, 2048, 11.87343, 3.06706))]}


def int8_tables(found: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(model table, width table) of an `int8_lesson` result or of DOC_INT8, with `speedup` and `extra_ms`
    computed from the two medians (so every number shown follows from the two latencies)."""
    def table(rows) -> pd.DataFrame:
        df = pd.DataFrame(rows)[[c for c in ("runtime", "batch", "width", "fp32_ms", "int8_ms")
                                 if c in pd.DataFrame(rows).columns]].copy()
        df["speedup"] = df["fp32_ms"] / df["int8_ms"]
        df["extra_ms"] = df["int8_ms"] - df["fp32_ms"]
        return df
    return table(found["model"]), table(found["widths"])


# ---------------------------------------------------------------- figures
def scheme_figure(x: np.ndarray, bits: int, scheme: str, what: str) -> go.Figure:
    """The values' histogram with the chosen grid's values drawn as ticks, and the other grid faint."""
    x = np.asarray(x, dtype=np.float64).ravel()
    fig = plots.figure(f"{what[:1].upper()}{what[1:]}: {len(x):,} values on the {bits}-bit {scheme} grid", "value",
                       "number of values")
    counts, edges = np.histogram(x, bins=80)
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=float(edges[1] - edges[0]), name="values",
                marker_color="#9ecae1", hovertemplate="%{x:.3f}: %{y} values<extra></extra>")
    top = float(counts.max()) or 1.0
    for name in SCHEMES:
        grid = grid_params(x.min(), x.max(), bits, name)
        levels = grid.values()
        chosen = name == scheme
        fig.add_scatter(x=np.repeat(levels, 3), y=np.tile([0, top * (1.05 if chosen else 0.5), np.nan], len(levels)),
                        mode="lines", name=f"{SCHEMES[name]}: {len(levels)} values",
                        line=dict(color=SCHEME_COLORS[name], width=1.5 if chosen else 1, dash=None if chosen else "dot"),
                        opacity=1.0 if chosen else 0.5, hoverinfo="skip")
    fig.update_layout(barmode="overlay", bargap=0)
    return fig


def calibration_figure(test_values: np.ndarray, table: pd.DataFrame, layer: str) -> go.Figure:
    """Histogram of the layer's test activations (log scale) with each method's clipping point."""
    v = np.asarray(test_values, dtype=np.float64).ravel()
    counts, edges = np.histogram(v, bins=100)
    fig = plots.figure(f"After {layer}: test activations and the clip points", "activation value",
                       "number of values (log scale)")
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=np.where(counts > 0, counts, np.nan), width=float(edges[1] - edges[0]),
                name="activations", marker_color="#9ecae1", hovertemplate="%{x:.3f}: %{y} values<extra></extra>")
    top = float(counts.max()) or 1.0
    for row in table.itertuples():
        fig.add_scatter(x=[row.hi, row.hi], y=[0.8, top], mode="lines", name=f"{row.label}: clip at {row.hi:.3g}",
                        line=dict(color=CALIBRATION_COLORS[row.method], dash="dash", width=2),
                        hovertemplate=f"{row.label}: values above {row.hi:.4g} are clipped<extra></extra>")
    decades = [10 ** e for e in range(0, int(math.log10(top)) + 2)]
    fig.update_yaxes(type="log", tickvals=decades, ticktext=[f"{d:,}" for d in decades])
    fig.update_layout(barmode="overlay", bargap=0,  # the legend inside, top right, where the tail leaves room
                      legend=dict(orientation="v", x=0.99, xanchor="right", y=0.99, yanchor="top",
                                  bgcolor="rgba(255,255,255,0.85)"))
    return fig


def error_split_figure(table: pd.DataFrame) -> go.Figure:
    """Clipping and rounding error of each calibration, stacked: their sum is the total squared error."""
    fig = plots.figure(f"Squared error at {int(table['bits'].iloc[0])} bits: clipping + rounding",
                       "", "sum of squared errors on the test activations", barmode="stack")
    for column, name, color in (("round_sse", "rounding (inside the range)", "#1f77b4"),
                                ("clip_sse", "clipping (beyond the range)", "#d62728")):
        fig.add_bar(x=table["label"], y=table[column], name=name, marker_color=color,
                    hovertemplate=f"%{{x}}: {name} %{{y:.4g}}<extra></extra>")
    return fig


def int8_figure(table: pd.DataFrame, source: str) -> go.Figure:
    """fp32 vs int8 latency per call for each runtime and batch size (log scale: the batches differ 10×)."""
    fig = plots.figure("LeNet-300-100: fp32 vs dynamic int8, one call", "",
                       "median latency per call (ms, log scale)", barmode="group")
    x = [f"{r}<br>batch {b}" for r, b in zip(table["runtime"], table["batch"])]
    for column, name, color in (("fp32_ms", "fp32", plots.color_of("baseline")), ("int8_ms", "dynamic int8", "#9467bd")):
        fig.add_bar(x=x, y=table[column], name=name, marker_color=color, text=[f"{v:.3f}" for v in table[column]],
                    textposition="outside", hovertemplate=f"{name}, %{{x}}: %{{y:.4f}} ms<extra></extra>")
    _log_ticks(fig, table[["fp32_ms", "int8_ms"]].to_numpy())
    return fig


def _log_ticks(fig: go.Figure, values: np.ndarray, axis: str = "y") -> None:
    """A log axis labelled at 1-2-5 steps only (plotly's own log ticks read "2 5 2 5" between decades)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    low, high = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    ticks = [m * 10 ** e for e in range(low, high + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if v.min() / 2.5 <= t <= v.max() * 2.5]
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    update(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])


def width_figure(table: pd.DataFrame, source: str) -> go.Figure:
    """int8's speed-up over fp32 against the layer width, per runtime and batch: below 1, int8 is slower."""
    fig = plots.figure("Where int8 starts to pay: wider layers", "width of two Linear layers (width × width)",
                       "speed-up: fp32 time / int8 time")
    dashes = {1: "dot", 64: "solid"}
    colors = {"torch": "#d62728", "onnxruntime": "#9467bd"}
    for (runtime, batch), part in table.groupby(["runtime", "batch"], sort=False):
        fig.add_scatter(x=part["width"], y=part["speedup"], mode="lines+markers", name=f"{runtime}, batch {batch}",
                        line=dict(color=colors.get(runtime), dash=dashes.get(batch, "dash")),
                        customdata=np.column_stack([part["fp32_ms"], part["int8_ms"]]),
                        hovertemplate=f"{runtime}, batch {batch}, width %{{x}}: fp32 %{{customdata[0]:.3f}} ms, "
                                      "int8 %{customdata[1]:.3f} ms (%{y:.2f}×)<extra></extra>")
    fig.add_hline(y=1.0, line_dash="dash", line_color="#222")
    fig.add_annotation(x=0.99, xref="paper", y=0, yref="y", text="below the line: int8 is slower", showarrow=False,
                       xanchor="right", yanchor="top", font=dict(size=11))  # y in log10 units on a log axis
    widths = sorted(table["width"].unique())
    fig.update_xaxes(type="log", tickvals=widths, ticktext=[str(w) for w in widths])
    _log_ticks(fig, np.append(table["speedup"].to_numpy(), 1.0))
    return fig

if __name__ == "__main__":  # measure the int8 tables for DOC_INT8 (python -m compress_core.present.teach_quant)
    from compress_core.context import RunContext
    from compress_core.present.teach import TEACHING_SPEC
    from compress_core.training.baseline import get_baseline

    base = get_baseline(TEACHING_SPEC, RunContext.create())
    found = int8_lesson(base.model, base.data.input_shape)
    print(repr({"model": found["model"].round(5).to_dict("records"), "widths": found["widths"].round(5).to_dict("records"),
                "threads": found["threads"], "load": found["load"]}))
