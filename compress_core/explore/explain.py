"""Explain a finished run: what its compressed model got wrong, and which layer is to blame.

`explain_run(run_id)` loads the run's model (as `runs.export.load_run_model` does; an int8 run's
ONNX Runtime file is run in ONNX Runtime) and its baseline (the cached baseline the run started
from, `training.baseline.get_baseline`; a distillation's teacher), evaluates both on the test
split batch by batch, and returns one JSON-ready dict:

- `per_class`, `confusion_difference`, `flips` (forgotten and learnt examples): `explore.flips`;
- `seeds`: for a run whose store holds finished runs with the same spec but other seeds (a seed
  sweep), the examples forgotten under a strict majority of the seeds (Hooker et al. 2019); each
  forgotten row then carries `seeds_forgotten` and `exemplar`;
- `attribution`: per-layer swaps of the run's own layers (`explore.attribution`), or
  `{available: False, reason}` in one line where layers do not correspond (structured pruning,
  distillation) or are not torch layers (int8 ONNX Runtime files).

`example_inputs(run, ids)` gives the test inputs of chosen examples in a drawable form (images in
[0, 1], table rows in their original units, texts), for the Runs page and the report.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.explore import attribution as attribution_mod
from compress_core.explore.flips import confusion_difference, flip_masks, flip_tables, per_class, seed_exemplars
from compress_core.methods.int8_onnx import EVAL_BATCH
from compress_core.methods.registry import spec_from_dict
from compress_core.models.fit import model_and_data
from compress_core.runs import jobs
from compress_core.runs.export import load_run_model, run_data
from compress_core.training.baseline import get_baseline

CPU = torch.device("cpu")
FLIP_ROWS = 50  # rows kept per flip table (the counts cover all)
ATTRIBUTION_EXAMPLES = 2000  # test examples evaluated per swapped model (all of digits' 450)


@dataclass
class Side:
    """One model's view of the test split: class probabilities, and the torch model where it has one."""
    probs: np.ndarray
    data: object
    model: Optional[nn.Module]
    note: Optional[str] = None


def finished_run(run_id: str | dict, home=None) -> dict:
    """The run record, or one line saying why it cannot be explained (unknown, not finished, no baseline)."""
    run = jobs.get(run_id, home) if isinstance(run_id, str) else run_id
    status = run.get("status")
    if status in ("queued", "running"):
        raise CompressError(f"run {run['id']} is still {status}; explain it once it has finished")
    if status == "failed":
        raise CompressError(f"run {run['id']} failed; only finished runs can be explained")
    if status != "finished":
        raise CompressError(f"run {run['id']} was {status}; only finished runs can be explained")
    if run.get("kind") == "train":
        raise CompressError(f"run {run['id']} is a train run: it is a baseline itself, so there is no "
                            "baseline to compare it with; explain a compression run")
    return run


def explainable(run: dict) -> bool:
    """Whether `run` is a finished run of a kind with a baseline to compare with (what the pages offer)."""
    from compress_core.methods.registry import get_method, kinds

    if run.get("status") != "finished" or run.get("kind") not in kinds() or run.get("kind") == "train":
        return False
    spec = get_method(run["kind"]).spec
    return hasattr(spec, "baseline_spec") or hasattr(spec, "teacher_spec")


def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = EVAL_BATCH) -> np.ndarray:
    """Softmax probabilities (N, K) of a torch model, batch by batch, on CPU, without gradients."""
    model = model.to(CPU).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.softmax(model(x[i:i + batch].to(CPU)).float(), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def onnx_proba(path: str | Path, x: torch.Tensor, batch: int = EVAL_BATCH) -> np.ndarray:
    """Softmax probabilities (N, K) of an `.onnx` classifier in ONNX Runtime."""
    from compress_core.measure.runtimes import ort_session

    session = ort_session(str(path))
    name = session.get_inputs()[0].name
    as_input = (lambda t: t.float().numpy()) if x.is_floating_point() else (lambda t: t.numpy())
    logits = np.concatenate([session.run(None, {name: as_input(x[i:i + batch])})[0] for i in range(0, len(x), batch)])
    return torch.softmax(torch.from_numpy(logits).float(), dim=1).numpy()


def _run_side(run: dict, home, data_dir) -> Side:
    """The run's predictions: its int8 `.onnx` in ONNX Runtime, or its torch model."""
    artifacts = run.get("artifacts") or {}
    if "int8_onnx" in artifacts:
        path = Path(artifacts["int8_onnx"])
        if not path.exists():
            raise CompressError(f"the int8 file of run {run['id']} is missing ({path}); it may have been deleted, "
                                "run it again")
        spec = spec_from_dict(run["spec"])
        _, data = model_and_data(spec, run_data(spec, home, data_dir), weights=False)
        probs = onnx_proba(path, data.x_test)
        if artifacts.get("weights"):  # a pipeline ending in int8: the fp32 weights it was converted from
            model, _, _ = load_run_model(run, home, data_dir)
            return Side(probs, data, model, "the run's model is an int8 ONNX Runtime file; the layer attribution "
                                            "swaps the fp32 weights it was converted from (its steps before int8)")
        return Side(probs, data, None, "the run's model is an int8 ONNX Runtime graph, not torch layers, so "
                                       "per-layer swaps are not measured; per-class and flips are its own")
    model, data, is_int8 = load_run_model(run, home, data_dir)
    probs = predict_proba(model, data.x_test)
    if is_int8:
        return Side(probs, data, None, "the run's model holds packed torch.ao int8 layers, which cannot be swapped "
                                       "into the fp32 baseline; per-class and flips are its own")
    return Side(probs, data, model)


def baseline_spec(run: dict):
    spec = spec_from_dict(run["spec"])
    if run["kind"] == "distill" and hasattr(spec, "teacher_spec"):
        return spec.teacher_spec()
    if not hasattr(spec, "baseline_spec"):
        raise CompressError(f"run {run['id']} ({run['kind']}) names no baseline, so there is nothing to compare "
                            "it with")
    return spec.baseline_spec()


def _baseline_side(run: dict, home, data_dir) -> tuple[Side, bool]:
    """The baseline's predictions and model; (side, whether it came from the cache)."""
    ctx = RunContext.create(home, data_dir)
    ctx.device = CPU
    base = get_baseline(baseline_spec(run), ctx)
    model = base.model.to(CPU).eval()
    return Side(predict_proba(model, base.data.x_test), base.data, model), base.cached


def _check_same_examples(run: dict, base: Side, mine: Side) -> np.ndarray:
    y = mine.data.y_test
    if len(base.data.y_test) != len(y) or not torch.equal(base.data.y_test.cpu(), y.cpu()):
        raise CompressError(f"run {run['id']} and its baseline were evaluated on different test examples "
                            f"({len(y)} vs {len(base.data.y_test)}), so their predictions cannot be paired")
    return y.cpu().numpy()


def _spec_key(spec: dict) -> str:
    """The spec without its seed, normalised through its spec class (defaults filled) for comparison."""
    import json

    try:
        full = spec_from_dict(spec).to_dict()
    except CompressError:
        full = dict(spec)
    full.pop("seed", None)
    return json.dumps(full, sort_keys=True, default=str)


def seed_runs(run: dict, home=None) -> list[dict]:
    """Finished runs of the store with `run`'s spec but another seed, newest per seed, `run` included."""
    key = _spec_key(run["spec"])
    by_seed = {run["spec"].get("seed"): run}
    for other in jobs.open_store(home).list_runs(status="finished", kind=run["kind"]):
        seed = (other.get("spec") or {}).get("seed")
        if seed in by_seed or _spec_key(other.get("spec") or {}) != key:
            continue
        by_seed[seed] = other
    return [by_seed[s] for s in sorted(by_seed, key=lambda s: (s is None, s))]


def _forgotten_mask(run: dict, home, data_dir) -> np.ndarray:
    base, _ = _baseline_side(run, home, data_dir)
    mine = _run_side(run, home, data_dir)
    y = _check_same_examples(run, base, mine)
    return flip_masks(y, base.probs.argmax(1), mine.probs.argmax(1))[0]


def _seeds(run: dict, forgotten: np.ndarray, home, data_dir) -> dict:
    siblings = seed_runs(run, home)
    if len(siblings) < 2:
        return {"available": False, "reason": "no other finished run with this spec and another seed in the store "
                                              "(run a seed sweep to mark the examples that flip under most seeds)"}
    masks = {}
    for other in siblings:
        seed = other["spec"].get("seed")
        try:
            masks[seed] = forgotten if other["id"] == run["id"] else _forgotten_mask(other, home, data_dir)
        except CompressError:  # a sibling whose artifacts are gone is left out, not fatal
            continue
    if len(masks) < 2:
        return {"available": False, "reason": "the other seeds' runs could not be loaded (artifacts missing)"}
    result = seed_exemplars(masks)
    result.update(available=True, runs=[o["id"] for o in siblings if o["spec"].get("seed") in masks],
                  method="an example is an exemplar when it is forgotten (baseline right, compressed wrong) under "
                         "a strict majority of the seeds' runs, each against its own seed's baseline "
                         "(after Hooker et al. 2019)")
    return result


MODES = ("auto", "mask", "weights")


def attribution_mode(run: dict, mode: str = "auto") -> str:
    """`mask` for unstructured prune runs (what the masks remove, before fine-tuning), else `weights`
    (the run's own layer tensors: k-bit values, pipelines); see `explore.attribution`."""
    if mode not in MODES:
        raise CompressError(f"attribution mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode != "auto":
        return mode
    return "mask" if run["kind"] == "prune" else "weights"


def explain_run(run_id: str | dict, home=None, data_dir=None, *, limit: int = FLIP_ROWS, seeds: bool = True,
                attribution: bool = True, attribution_examples: int = ATTRIBUTION_EXAMPLES,
                mode: str = "auto") -> dict:
    """What changed between run `run_id` and its baseline, and which layer is to blame (see the module doc).

    `mode` picks how a layer is compressed in the attribution swaps (`attribution_mode`)."""
    began = time.perf_counter()
    run = finished_run(run_id, home)
    mode = attribution_mode(run, mode)
    base, cached = _baseline_side(run, home, data_dir)
    mine = _run_side(run, home, data_dir)
    y = _check_same_examples(run, base, mine)
    names = list(mine.data.class_names)
    base_pred, run_pred = base.probs.argmax(1), mine.probs.argmax(1)
    flips = flip_tables(y, base.probs, mine.probs, limit=limit)
    seed_info = _seeds(run, flip_masks(y, base_pred, run_pred)[0], home, data_dir) if seeds else \
        {"available": False, "reason": "not asked for"}
    if seed_info.get("available"):
        counts = seed_info["counts"]
        exemplars = set(seed_info["exemplars"])
        for row in flips["forgotten"] + flips["learnt"]:
            row["seeds_forgotten"] = int(counts[row["id"]])
            row["exemplar"] = row["id"] in exemplars
    notes = [mine.note] if mine.note else []
    if not cached:
        notes.append("the baseline was not in the cache, so it was trained again from its spec (same seed)")
    if not attribution:
        attr = {"available": False, "reason": "not asked for"}
    elif mine.model is None:
        attr = {"available": False, "reason": mine.note}
    else:
        n = min(len(y), attribution_examples)
        x_base, x_run = base.data.x_test[:n], mine.data.x_test[:n]
        if x_base.shape != x_run.shape or not torch.equal(x_base, x_run):
            attr = {"available": False, "reason": "the run's model takes other inputs than its baseline (another "
                                                  "preprocessing or model), so per-layer swaps are not defined"}
        else:
            attr = attribution_mod.attribute(base.model, mine.model, x_base, base.data.y_test[:n],
                                             tuple(base.data.input_shape), mode)
            if mine.note and attr.get("available"):
                attr["note"] = mine.note
    return {
        "run_id": run["id"], "kind": run["kind"], "model": run["spec"].get("model"),
        "dataset": run["spec"].get("dataset"), "examples": int(len(y)), "class_names": names,
        "data_kind": "text" if getattr(mine.data, "is_text", False) else "image" if mine.data.is_image else "table",
        "accuracy": {"baseline": float((base_pred == y).mean()) if len(y) else None,
                     "run": float((run_pred == y).mean()) if len(y) else None},
        "per_class": per_class(y, base_pred, run_pred, names),
        "confusion_difference": confusion_difference(y, base_pred, run_pred, len(names)).tolist(),
        "flips": flips, "seeds": seed_info, "attribution": attr, "notes": notes,
        "baseline_cached": cached, "seconds": time.perf_counter() - began, "threads": torch.get_num_threads(),
    }


def example_inputs(run_id: str | dict, ids, home=None, data_dir=None) -> dict:
    """Test inputs `ids` of the run's data set, drawable: {kind, items}.

    image: (H, W) or (H, W, 3) float arrays scaled to [0, 1] (normalisation undone, then min-max per
    image); table: {feature: value} in the file's units (normalisation undone); text: the raw texts.
    """
    run = jobs.get(run_id, home) if isinstance(run_id, str) else run_id
    data = run_data(spec_from_dict(run["spec"]), home, data_dir)
    ids = [int(i) for i in ids]
    if getattr(data, "is_text", False):
        texts = data.texts[1] if data.texts is not None else None
        return {"kind": "text", "items": [str(texts[i]) if texts is not None else "" for i in ids]}
    x = data.x_test[ids].float() if ids else data.x_test[:0].float()
    if data.norm_mean and data.norm_std:
        shape = (1, -1) + (1,) * (x.dim() - 2) if data.is_image else (1, -1)
        x = x * torch.tensor(data.norm_std).view(shape) + torch.tensor(data.norm_mean).view(shape)
    if not data.is_image:
        return {"kind": "table", "items": [{f"x{j}": float(v) for j, v in enumerate(row.reshape(-1).tolist())}
                                           for row in x]}
    items = []
    for img in x:
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else torch.zeros_like(img)
        arr = img.numpy()
        items.append(arr[0] if arr.shape[0] == 1 else np.transpose(arr[:3], (1, 2, 0)))
    return {"kind": "image", "items": items}
