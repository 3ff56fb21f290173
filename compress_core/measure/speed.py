"""Deploy latency of a run: every form x batch size x thread count, and the sparse break-even.

`speed_table` times, in the same process and with calls paired and alternated per cell
(`runtimes.time_forms`), the baseline and the run's model in torch eager and in ONNX
Runtime fp32, plus the run's compressed form: the masked model (a prune run's dense
weights with zeros), its sparse CSR form, a structurally smaller dense model, or the int8
`.onnx` file. Each cell holds the median and IQR of its calls. Latency of a dense model
does not depend on its weight values, so the baseline is the run's baseline architecture
with fresh weights (no training needed); the run's own model is its saved weights.

`break_even` measures sparse (CSR) against dense kernels for the model's largest Linear
layers as their sparsity rises, and finds where sparse starts to win.
"""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from compress_core import paths
from compress_core.context import RunContext, environment
from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.measure.runtimes import Form, all_threads, ort_form, speedup, time_forms, torch_form
from compress_core.methods.half_precision import HALF_SCHEMES, cpu_features, precision_support, to_half
from compress_core.methods.int8_onnx import calibration_inputs, export_fp32, int8_method, quantize_file
from compress_core.methods.registry import spec_from_dict
from compress_core.methods.sparse_exec import SparseLinear, layer_sparsity
from compress_core.methods.sparse_exec import form as sparse_form
from compress_core.models.zoo import build_model, parse_hidden
from compress_core.runs import jobs
from compress_core.runs.export import load_run_model
from compress_core.measure.speed_file import BATCHES, SPEED_FILE, load_speed  # noqa: F401 (torch-free readers)

SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def thread_counts(text: str | Sequence | None = None) -> list[int]:
    """`"1,all"` (default) -> [1, all cores]; duplicates dropped (a 1-core machine has one setting)."""
    items = (text or "1,all").split(",") if isinstance(text, str) or text is None else list(text)
    out = []
    for item in items:
        value = all_threads() if str(item).strip() == "all" else _positive("threads", item)
        if value not in out:
            out.append(value)
    return out


def batch_sizes(text: str | Sequence | None = None) -> list[int]:
    """`"1,8,64,256"` (default) -> [1, 8, 64, 256]."""
    items = (text or ",".join(map(str, BATCHES))).split(",") if isinstance(text, str) or text is None else list(text)
    return [_positive("batch size", item) for item in items]


def _positive(what: str, item) -> int:
    try:
        value = int(str(item).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= 4096:
        raise CompressError(f"{what} must be a whole number from 1 to 4096 (or 'all' for threads); got {item!r}")
    return value


def _export(model: nn.Module, input_shape, folder: Path, name: str) -> Path:
    return export_fp32(model, input_shape, folder / f"{name}.onnx")


def _onnx_or_unavailable(name: str, model: nn.Module, input_shape, folder: Path) -> Form:
    try:
        return ort_form(name, _export(model, input_shape, folder, name.replace(" ", "_")))
    except Exception as exc:  # an exporter failure means "no ORT form of this model here", not a crash
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Form(name, "onnxruntime", unavailable=f"not available here: ONNX export failed ({first[:160]})")


def _baseline_architecture(spec, input_shape, num_classes) -> nn.Module:
    if getattr(spec, "teacher", None):  # distill: the baseline is the teacher
        return build_model(spec.teacher, input_shape, num_classes, spec.teacher_hidden)
    return build_model(spec.model, input_shape, num_classes, getattr(spec, "hidden", None))


def _has_zeros(model: nn.Module, at_least: float = 0.5) -> bool:
    return any(isinstance(m, nn.Linear) and layer_sparsity(m) >= at_least for m in model.modules())


def half_forms(prefix: str, model: nn.Module) -> list[dict]:
    """bf16 and fp16 torch eager forms of `model` (the same weights in 16 bits), each saying whether this
    processor accelerates that dtype, so fp32, bf16, fp16 and int8 sit side by side in one table."""
    forms = []
    for scheme in HALF_SCHEMES:
        support = precision_support(scheme)
        forms.append({"name": f"{prefix} · torch {scheme}", "role": "compressed", "runtime": "torch",
                      "model": to_half(model, scheme),
                      "what": f"the same weights in {scheme}, torch eager ({'accelerated' if support['accelerated'] else 'NOT accelerated'} "
                              f"here: {support['why']})"})
    return forms


def run_forms(run: dict, home=None, data_dir=None) -> tuple[list[dict], tuple, nn.Module, Optional[nn.Module]]:
    """(form descriptions, input shape, baseline model, run model or None) for a finished run.

    A description is {name, role, runtime, what, model | path | sparse}; `sparse` forms are
    built per batch size (layers chosen where faster at that batch).
    """

    if run.get("status") != "finished":
        raise CompressError(f"run {run.get('id')} is {run.get('status')}; only finished runs can be timed")
    spec = spec_from_dict(run["spec"])
    data = load_dataset(spec.dataset, paths.data_dir(home, data_dir), spec.label_column)
    shape = tuple(data.input_shape)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        baseline = _baseline_architecture(spec, shape, data.num_classes).eval()
    forms = [{"name": "baseline · torch", "role": "baseline", "runtime": "torch", "model": baseline,
              "what": "the baseline architecture, fp32, torch eager"},
             {"name": "baseline · onnxruntime", "role": "baseline", "runtime": "onnxruntime", "model": baseline,
              "what": "the baseline exported to ONNX, fp32, ONNX Runtime"}]
    artifacts = run.get("artifacts") or {}
    model = None
    if artifacts.get("weights"):

        model, _, is_int8 = load_run_model(run, home, data_dir)
        if is_int8:  # a torch.ao int8 model of an older run: time it as it is
            forms.append({"name": "run · torch int8 (legacy)", "role": "compressed", "runtime": "torch",
                          "model": model, "what": "the run's torch.ao int8 model"})
            model = None
    if model is not None:
        kind = run["kind"]
        shrunk = sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in baseline.parameters())
        label = ("masked: dense kernels, zeros kept" if kind in ("prune", "pipeline") and _has_zeros(model)
                 else "smaller dense" if shrunk else "fp32")
        forms += [{"name": f"run · torch ({label})", "role": "run", "runtime": "torch", "model": model,
                   "what": f"the run's model, {label}, torch eager"},
                  {"name": "run · onnxruntime", "role": "run", "runtime": "onnxruntime", "model": model,
                   "what": "the run's model exported to ONNX, fp32, ONNX Runtime"}]
        if _has_zeros(model):
            forms.append({"name": "run · sparse CSR", "role": "compressed", "runtime": "torch-sparse",
                          "model": model, "sparse": True,
                          "what": "Linear layers as CSR where measured faster at that batch size, torch eager"})
    forms += half_forms("run" if model is not None else "baseline", model if model is not None else baseline)
    if artifacts.get("int8_onnx"):
        path = Path(artifacts["int8_onnx"])
        forms.append({"name": "run · int8 onnxruntime", "role": "compressed", "runtime": "onnxruntime",
                      "path": path if path.exists() else None, "what": "the run's int8 .onnx file, ONNX Runtime"})
    return forms, shape, baseline, model


def model_forms(model_name: str, dataset: str = "digits", hidden=None, home=None, data_dir=None, seed: int = 0):
    """Forms of an untrained model of the zoo: torch eager and ONNX Runtime fp32, and int8 ONNX Runtime
    (calibrated on the data set's training inputs for CNNs): what each runtime gives before any run."""

    data = load_dataset(dataset, paths.data_dir(home, data_dir))
    shape = tuple(data.input_shape)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(model_name, shape, data.num_classes, parse_hidden(hidden)).eval()
    forms = [{"name": "model · torch", "role": "baseline", "runtime": "torch", "model": model,
              "what": "fp32, torch eager"},
             {"name": "model · onnxruntime", "role": "baseline", "runtime": "onnxruntime", "model": model,
              "what": "fp32, ONNX Runtime"},
             {"name": "model · int8 onnxruntime", "role": "compressed", "runtime": "onnxruntime", "model": model,
              "int8_data": data, "what": "int8 .onnx (ONNX Runtime quantizer), ONNX Runtime"},
             *half_forms("model", model)]
    return forms, shape, model


def _build(desc: dict, shape, folder: Path, batch: int, threads: int, repeats: int) -> Form:
    name = desc["name"]
    if desc.get("sparse"):

        return sparse_form(name, desc["model"], batch, repeats=max(5, repeats // 2), threads=threads)
    if desc["runtime"] == "onnxruntime":
        if "path" in desc:
            return ort_form(name, desc["path"]) if desc["path"] else \
                Form(name, "onnxruntime", unavailable="not available here: the run's int8 file is missing")
        if "int8_data" in desc:

            fp32 = _export(desc["model"], shape, folder, "int8_source")
            method = int8_method(desc["model"])
            calibration = calibration_inputs(desc["int8_data"].x_train, 0) if method == "static" else None
            desc["path"] = quantize_file(fp32, folder / "int8.onnx", method, calibration=calibration)
            return ort_form(name, desc["path"])
        if "form" not in desc:
            desc["form"] = _onnx_or_unavailable(name, desc["model"], shape, folder)
        return desc["form"]
    return torch_form(name, desc["model"], desc["runtime"])


def time_table(forms: list[dict], shape, *, batches: Sequence[int] = BATCHES, threads: Sequence[int] | None = None,
               repeats: int = 20, max_seconds: float = 2.0, on_cell=None) -> list[dict]:
    """One cell per form x batch x threads: every form of a (batch, threads) pair timed together,
    calls alternated. A cell is {form, role, runtime, batch, threads, available, median_ms, iqr_ms, ...}
    plus `speedup` against the first baseline form of the same runtime ("torch-sparse": torch)."""
    threads = list(threads or thread_counts())
    cells = []
    with tempfile.TemporaryDirectory(prefix="compress_lab_speed_") as tmp:
        folder = Path(tmp)
        for t in threads:
            for batch in batches:
                built = []
                for desc in forms:
                    try:
                        built.append(_build(desc, shape, folder, batch, t, repeats))
                    except Exception as exc:  # a form this machine cannot build is reported, not raised
                        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                        built.append(Form(desc["name"], desc["runtime"], unavailable=f"not available here: {first[:160]}"))
                timed = time_forms(built, shape, batch, threads=t, repeats=repeats, max_seconds=max_seconds)
                reference = {}
                for desc in forms:
                    runtime = "torch" if desc["runtime"] == "torch-sparse" else desc["runtime"]
                    if desc["role"] == "baseline":
                        reference.setdefault(runtime, timed[desc["name"]])
                for desc in forms:
                    cell = timed[desc["name"]]
                    runtime = "torch" if desc["runtime"] == "torch-sparse" else desc["runtime"]
                    ref = reference.get(runtime)
                    cells.append({"form": desc["name"], "role": desc["role"], "runtime": desc["runtime"],
                                  "what": desc["what"], "batch": batch, "threads": t, **cell,
                                  "speedup": speedup(ref, cell) if ref is not None else None})
                if on_cell:
                    on_cell(batch, t)
    return cells


def break_even(model: nn.Module, batch: int = 64, *, sparsities: Sequence[float] = SPARSITIES, layers: int = 3,
               repeats: int = 15, threads: Optional[int] = None) -> dict:
    """Speed-up of CSR over dense for the model's `layers` largest Linear layers at `batch`,
    as each layer's weights are magnitude-pruned to every sparsity in `sparsities`.

    Returns {batch, threads, layers: [{name, shape, points: [{sparsity, speedup, dense_ms,
    sparse_ms}], break_even}]}; `break_even` is the sparsity from which sparse stays faster
    (linear interpolation between the last losing and first winning point), None if never.
    """

    linears = sorted(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)),
                     key=lambda item: -item[1].weight.numel())[:layers]
    if not linears:
        raise CompressError("this model has no Linear layer, so there is no sparse Linear kernel to compare")
    out = {"batch": batch, "threads": threads or torch.get_num_threads(), "layers": []}
    for name, linear in linears:
        points = []
        for s in sparsities:
            layer = copy.deepcopy(linear).eval()
            with torch.no_grad():
                w = layer.weight
                k = int(round(s * w.numel()))
                if k:
                    cut = w.abs().flatten().kthvalue(k).values
                    w[w.abs() <= cut] = 0
            timed = time_forms([torch_form("dense", layer), torch_form("csr", SparseLinear(layer), "torch-sparse")],
                               (layer.in_features,), batch, repeats=repeats, threads=threads)
            points.append({"sparsity": s, "speedup": speedup(timed["dense"], timed["csr"]),
                           "dense_ms": timed["dense"].get("median_ms"), "sparse_ms": timed["csr"].get("median_ms"),
                           **({"reason": timed["csr"]["reason"]} if not timed["csr"]["available"] else {})})
        out["layers"].append({"name": name, "shape": list(linear.weight.shape), "points": points,
                              "break_even": break_even_sparsity(points)})
    return out


def break_even_sparsity(points: Sequence[dict]) -> Optional[float]:
    """The sparsity from which the speed-up stays >= 1 (interpolated), or None when the last point loses."""
    usable = [p for p in points if p.get("speedup") is not None]
    if not usable or usable[-1]["speedup"] < 1:
        return None
    i = len(usable) - 1
    while i > 0 and usable[i - 1]["speedup"] >= 1:
        i -= 1
    if i == 0:
        return usable[0]["sparsity"]
    lo, hi = usable[i - 1], usable[i]
    frac = (1 - lo["speedup"]) / (hi["speedup"] - lo["speedup"])
    return lo["sparsity"] + frac * (hi["sparsity"] - lo["sparsity"])


def run_speed(run_id: str, home=None, data_dir=None, *, batches: Sequence[int] = BATCHES,
              threads: Sequence[int] | None = None, repeats: int = 20, break_even_batch: Optional[int] = 64,
              save: bool = True, on_cell=None) -> dict:
    """The speed table of finished run `run_id` (plus the break-even of its model), stored as
    `speed.json` in the run's artifacts folder when `save`."""

    run = jobs.get(run_id, home)
    forms, shape, baseline, model = run_forms(run, home, data_dir)
    cells = time_table(forms, shape, batches=batches, threads=threads, repeats=repeats, on_cell=on_cell)
    result = {"run_id": run["id"], "kind": run["kind"], "input_shape": list(shape),
              "forms": [{k: d[k] for k in ("name", "role", "runtime", "what")} for d in forms],
              "batches": list(batches), "threads": list(threads or thread_counts()), "repeats": repeats,
              "method": "median and IQR of timed calls after warm-up; every form of a (batch, threads) pair timed "
                        "together with calls alternated; speedup: against the baseline in the same runtime",
              "cells": cells, "environment": {**environment(RunContext.create(home)), "cpu": cpu_features()}}
    if break_even_batch:
        source = model if model is not None else baseline
        try:
            result["break_even"] = break_even(source, break_even_batch, repeats=max(5, repeats // 2))
        except CompressError as exc:
            result["break_even"] = {"batch": break_even_batch, "layers": [], "reason": str(exc)}
    if save:
        folder = jobs.open_store(home).artifacts_dir(run["id"])
        (folder / SPEED_FILE).write_text(json.dumps(result, indent=1, default=str))
        result["path"] = str(folder / SPEED_FILE)
    return result


def model_speed(model_name: str, dataset: str = "digits", hidden=None, home=None, data_dir=None, *,
                batches: Sequence[int] = BATCHES, threads: Sequence[int] | None = None, repeats: int = 20,
                break_even_batch: Optional[int] = 64, on_cell=None) -> dict:
    """The speed table of an untrained model of the zoo (torch, ORT fp32, ORT int8); not stored."""
    forms, shape, model = model_forms(model_name, dataset, hidden, home, data_dir)
    cells = time_table(forms, shape, batches=batches, threads=threads, repeats=repeats, on_cell=on_cell)
    result = {"model": model_name, "dataset": dataset, "input_shape": list(shape),
              "forms": [{k: d[k] for k in ("name", "role", "runtime", "what")} for d in forms],
              "batches": list(batches), "threads": list(threads or thread_counts()), "repeats": repeats, "cells": cells,
              "environment": {"cpu": cpu_features()}}
    if break_even_batch:
        try:
            result["break_even"] = break_even(model, break_even_batch, repeats=max(5, repeats // 2))
        except CompressError as exc:
            result["break_even"] = {"batch": break_even_batch, "layers": [], "reason": str(exc)}
    return result


