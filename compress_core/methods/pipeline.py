"""Combined recipes (Deep Compression style): prune, then distil, then quantize.

A pipeline is a list of steps; each acts on the model the previous one produced:

- `prune` removes weights (masks by any pruning criterion, optionally on the AGP schedule) or channels
  (`structured`) and fine-tunes. Masks stay in place through every later step, so
  fine-tuning or distillation cannot regrow pruned weights (Han et al. 2016 retrain
  with the mask fixed).
- `distill` fine-tunes the current model as the student of the ORIGINAL baseline.
- `quantize` rounds the weights (`fake` k-bit, or a real `int8` model); it must be last.

Every step is measured against the baseline, and the run keeps all intermediate
results, so what each stage costs and saves can be read off one table.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar, Optional

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.measure.assess import assess_against
from compress_core.methods.distill import DistillSpec, agreement, distillation_loss
from compress_core.methods.half_precision import HALF_SCHEMES, measure_half
from compress_core.methods.int8_onnx import measure_int8, workdir
from compress_core.methods.prune import make_permanent, prune_and_finetune
from compress_core.methods.quantize import QuantizeSpec, fake_quantize_model, packed_size_bytes
from compress_core.methods.labels import describe_pipeline
from compress_core.methods.registry import Method, register_method, spec_from_dict
from compress_core.methods.structured import layer_shapes, structured_rows
from compress_core.models.zoo import prunable_layers
from compress_core.options import add_home
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, PruneSpec, check_range
from compress_core.training.baseline import finetune_config, get_baseline
from compress_core.training.loop import fit, predict_logits

STEP_KINDS = ("prune", "distill", "quantize")
_PRUNE_OPTIONS = ("method", "scope", "amount", "schedule", "steps", "finetune_epochs", "finetune_lr", "importance",
                  "layers")
_QUANTIZE_OPTIONS = ("scheme", "bits", "granularity")
_REQUIRED = {"prune": ("amount",), "distill": (), "quantize": ("scheme",)}
DISTILL_STEP_EPOCHS = 5  # a distillation step fine-tunes a trained model: far fewer epochs than from scratch


def _defaults(kind: str) -> dict:
    """Each step's options and defaults, taken from the spec of the run kind it mirrors."""
    if kind == "prune":
        return {f.name: f.default for f in fields(PruneSpec) if f.name in _PRUNE_OPTIONS}
    if kind == "distill":

        return {"temperature": DistillSpec.temperature, "alpha": DistillSpec.alpha, "epochs": DISTILL_STEP_EPOCHS,
                "lr": None}  # lr None: the fine-tuning default of the data set

    return {f.name: f.default for f in fields(QuantizeSpec) if f.name in _QUANTIZE_OPTIONS}


def _resolve(kind: str, options: dict, spec: BaseSpec) -> dict:
    """Check a step's values with the validation of the spec of its run kind; return them with the
    defaults that spec resolves (e.g. a quantize granularity that depends on the scheme)."""
    common = {"model": spec.model, "hidden": spec.hidden, "dataset": spec.dataset}
    if kind == "prune":
        checked = PruneSpec(**common, **options)
    elif kind == "distill":

        DistillSpec(**common, teacher=spec.model, teacher_hidden=spec.hidden, temperature=options["temperature"],
                    alpha=options["alpha"], epochs=options["epochs"])
        if options["lr"] is not None:
            check_range("lr", options["lr"], 0, 10, low_open=True)
        return options
    else:

        checked = QuantizeSpec(**common, **options)
    return {k: getattr(checked, k) for k in options}


def normalize_steps(steps, spec: BaseSpec) -> tuple[dict, ...]:
    """Validate the step list up front and fill every option's default (the stored recipe is complete).

    Errors name the step (numbered from 1) and the problem.
    """
    if not isinstance(steps, (list, tuple)) or not steps:
        raise CompressError(f"steps must be a non-empty list of steps ({', '.join(STEP_KINDS)}); got {steps!r}")
    out, unstructured_seen = [], False
    for i, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise CompressError(f"step {i} must be a mapping such as {{kind: prune, amount: 0.9}}; got {step!r}")
        kind = step.get("kind")
        if kind not in STEP_KINDS:
            raise CompressError(f"step {i}: unknown step kind {kind!r}; allowed: {', '.join(STEP_KINDS)}")
        defaults = _defaults(kind)
        options = {k: v for k, v in step.items() if k != "kind"}
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise CompressError(f"step {i} ({kind}): unknown option(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(sorted(defaults))}")
        missing = [k for k in _REQUIRED[kind] if k not in options]
        if missing:
            raise CompressError(f"step {i} ({kind}): option {', '.join(missing)} is required")
        try:
            options = _resolve(kind, {**defaults, **options}, spec)
        except CompressError as exc:
            raise CompressError(f"step {i} ({kind}): {exc}") from None
        if kind == "quantize" and i != len(steps):
            raise CompressError(f"step {i} (quantize): quantize must be the last step; it is step {i} of {len(steps)}")
        if kind == "prune" and options["method"] == "structured" and unstructured_seen:
            raise CompressError(f"step {i} (prune): structured pruning must come before masked pruning, whose "
                                f"masks cannot follow channels that are removed")
        unstructured_seen = unstructured_seen or (kind == "prune" and options["method"] != "structured")
        out.append({"kind": kind, **options})
    return tuple(out)


@dataclass(frozen=True)
class PipelineSpec(BaseSpec):
    """Apply `steps` in order to the cached baseline, measuring after every step."""
    KIND: ClassVar[str] = "pipeline"
    steps: tuple = ()  # e.g. ({"kind": "prune", "amount": 0.9}, {"kind": "quantize", "scheme": "int8"})
    baseline_epochs: Optional[int] = None  # None: the data set's default (same baseline as prune runs)

    def __post_init__(self):
        super().__post_init__()
        if self.baseline_epochs is not None:
            check_range("baseline_epochs", self.baseline_epochs, 1, 10_000, integer=True)
        object.__setattr__(self, "steps", normalize_steps(self.steps, self))

    baseline_spec = PruneSpec.baseline_spec


def step_label(step: dict) -> str:
    """Short human name of a step, e.g. 'prune l1 90%' or 'quantize int8'."""
    if step["kind"] == "prune":
        return f"prune {step['method']} {step['amount']:.0%}" + (" agp" if step["schedule"] == "agp" else "")
    if step["kind"] == "distill":
        return f"distill T={step['temperature']:g} alpha={step['alpha']:g}"
    return f"quantize {step['scheme']}" + (f" {step['bits']}-bit" if step["scheme"] == "fake" else "")  # bf16: its name


# --- config files -------------------------------------------------------------------------

def load_config(path: str | Path) -> PipelineSpec:
    """A PipelineSpec from a YAML (.yaml/.yml) or JSON (.json) file holding {model, dataset, ..., steps}."""
    import yaml

    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise CompressError(f"pipeline config must be a .yaml, .yml or .json file; got {str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompressError(f"pipeline config file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompressError(f"cannot read pipeline config {str(path)!r}: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            config = json.loads(text)
        else:
            config = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise CompressError(f"{path}: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CompressError(f"{path}: bad YAML{where}: {problem}") from None
    if not isinstance(config, dict):
        raise CompressError(f"{path}: the top level must be a mapping with model, dataset and steps; "
                            f"got {type(config).__name__}")
    if config.get("kind", "pipeline") != "pipeline":
        raise CompressError(f"{path}: kind must be 'pipeline' (or left out); got {config['kind']!r}")
    return spec_from_dict({**config, "kind": "pipeline"})


# --- steps --------------------------------------------------------------------------------

def _finetune_config(lr: Optional[float], epochs: int, base, seed: int):
    return finetune_config(epochs, lr, base.data, base.spec.batch_size, seed, base.spec.precision)


def _prune_step(model: nn.Module, opts: dict, base, seed: int, ctx) -> tuple[list, dict, list]:
    """Prune `model` in place and fine-tune it, exactly as a prune run does; masks stay on for later steps."""
    step = PruneSpec(model=base.spec.model, dataset=base.spec.dataset, hidden=base.spec.hidden, seed=seed,
                     **{k: v for k, v in opts.items() if k != "kind"})
    config = _finetune_config(opts["finetune_lr"], opts["finetune_epochs"], base, seed)
    return prune_and_finetune(model, step, base.data, config, ctx)


def _distill_step(model: nn.Module, opts: dict, base, seed: int, ctx) -> tuple[list, dict, list]:
    """Fine-tune `model` in place as the student of the original baseline (Hinton et al.'s loss)."""
    data = base.data
    teacher_logits = predict_logits(base.model, data.x_train, ctx.device).to(ctx.device)

    def loss_fn(student, xb, yb, idx):
        return distillation_loss(student(xb), teacher_logits[idx], yb, opts["temperature"], opts["alpha"])

    config = _finetune_config(opts["lr"], opts["epochs"], base, seed)
    history = fit(model, data, config, on_progress=ctx.on_progress, stage="distill", device=ctx.device,
                  loss_fn=loss_fn)
    extra = {"agreement": agreement(predict_logits(model, data.x_test, ctx.device),
                                    predict_logits(base.model, data.x_test, ctx.device))}
    return history, extra, ["distillation: the current model learned from the original baseline as teacher"]


def sparse_packed_size_bytes(model: nn.Module, bits: int, granularity: str = "channel") -> int:
    """Bytes of `model` with k-bit weights stored sparsely where that is smaller: counted, not serialized.

    Per Linear/Conv2d weight, the smaller of packed dense codes (ceil(numel * bits / 8)) and
    a bitmap (1 bit per weight) plus packed non-zero codes (ceil(nonzero * bits / 8)), plus
    4 bytes per fp32 scale; other tensors at their own dtype's size. Deep Compression's
    pruned + quantized storage without its Huffman stage. Hand-written: no library counts it.
    """
    quantized = {f"{name}.weight" for name, _ in prunable_layers(model)}
    total = 0
    for key, tensor in model.state_dict().items():
        if key in quantized:
            dense = math.ceil(tensor.numel() * bits / 8)
            sparse = math.ceil(tensor.numel() / 8) + math.ceil(int(torch.count_nonzero(tensor)) * bits / 8)
            scales = tensor.shape[0] if granularity == "channel" and tensor.dim() >= 2 else 1
            total += min(dense, sparse) + 4 * scales
        else:
            total += tensor.numel() * tensor.element_size()
    return total


def _quantize_fake(model: nn.Module, opts: dict, base, ctx) -> tuple[nn.Module, dict, dict]:
    quantized = fake_quantize_model(model, opts["bits"], opts["granularity"])
    metrics, base_metrics, _ = assess_against(quantized, base.model, base.data, ctx)
    size = packed_size_bytes(quantized, opts["bits"], opts["granularity"])
    metrics.update(size_packed_bytes=size, size_ratio_quantized=size / max(base_metrics["size_fp32_bytes"], 1))
    return quantized, metrics, base_metrics


def _quantize_int8(model: nn.Module, opts: dict, base, seed: int, ctx) -> tuple[dict, dict, dict]:
    """The deployable int8 `.onnx` of `model` (methods/int8_onnx.py, the quantize run's own path): shape
    measures (params, sparsity, FLOPs) are those of the fp32 weights it was converted from (the symmetric
    int8 grid keeps zeros exact); accuracy, size and latency are the file's, measured in ONNX Runtime.
    Returns (artifacts, metrics against the baseline, baseline metrics)."""

    with workdir(ctx) as folder:
        metrics, base_metrics, _, artifacts = measure_int8(model, base.data, ctx, folder, reference=base.model,
                                                           granularity=opts["granularity"], seed=seed)
    return (artifacts if ctx.artifacts_dir is not None else {}), metrics, base_metrics


def _quantize_step(model: nn.Module, opts: dict, base, seed: int, ctx) -> tuple[object, dict, dict, list]:
    """(quantized model (int8: its artifacts dict), its metrics against the baseline, baseline metrics, notes); `model` keeps fp32 weights."""
    fp32 = make_permanent(copy.deepcopy(model))
    if opts["scheme"] in HALF_SCHEMES:  # bf16/fp16 measures its own sizes (methods/half_precision.py)
        quantized, metrics, base_metrics, _, notes = measure_half(fp32, base, ctx, opts["scheme"])
        return quantized, metrics, base_metrics, notes
    if opts["scheme"] == "fake":
        quantized, metrics, base_metrics = _quantize_fake(fp32, opts, base, ctx)
        notes = [f"fake {opts['bits']}-bit quantization: fp32 compute, so latency is unchanged; "
                 "size_packed_bytes is a packed estimate"]
    else:
        quantized, metrics, base_metrics = _quantize_int8(fp32, opts, base, seed, ctx)
        notes = ["int8 (ONNX Runtime): params, sparsity and FLOPs are those of the fp32 weights converted (int8 "
                 "keeps zeros exact); accuracy, size_int8_bytes (the .onnx file) and latency are the int8 "
                 "file's in ONNX Runtime, speed-ups against the baseline's fp32 .onnx in the same runtime"]
    bits = opts["bits"] if opts["scheme"] == "fake" else 8
    metrics.update(scheme=opts["scheme"], bits=bits, granularity=opts["granularity"],
                   size_sparse_quantized_bytes=sparse_packed_size_bytes(fp32, bits, opts["granularity"]))
    return quantized, metrics, base_metrics, notes


# --- the run ------------------------------------------------------------------------------

def run_pipeline(spec: PipelineSpec, ctx):
    """Run every step on the model the previous one produced; record each step's measures."""
    base = get_baseline(spec.baseline_spec(), ctx)
    model = copy.deepcopy(base.model)
    history, notes, records = list(base.info["history"]), [], []
    quantized = None
    metrics = base_metrics = {}
    for i, step in enumerate(spec.steps, 1):
        label = step_label(step)
        emit(ctx.on_progress, "pipeline", i - 1, len(spec.steps), f"step {i}/{len(spec.steps)}: {label}")
        began = time.perf_counter()
        try:
            if step["kind"] == "quantize":
                quantized, metrics, base_metrics, step_notes = _quantize_step(model, step, base, spec.seed, ctx)
            else:
                run_step = _prune_step if step["kind"] == "prune" else _distill_step
                step_history, extra, step_notes = run_step(model, step, base, spec.seed, ctx)
                history += [{**row, "step": i} for row in step_history]
                emit(ctx.on_progress, "measure", 0, 1, f"measuring after step {i}")
                # Measured with masks folded in: the mask multiply of the re-parametrisation is no model cost.
                measured = make_permanent(copy.deepcopy(model))
                metrics, base_metrics, _ = assess_against(measured, base.model, base.data, ctx)
                metrics.update(extra)
        except CompressError as exc:  # e.g. a structured amount that empties a layer of this model
            raise CompressError(f"step {i} ({label}): {exc}") from exc
        records.append({"step": i, "kind": step["kind"], "label": label,
                        "options": {k: v for k, v in step.items() if k != "kind"},
                        "metrics": metrics, "duration_s": time.perf_counter() - began})
        notes += [f"step {i} ({label}): {note}" for note in step_notes]
    emit(ctx.on_progress, "pipeline", len(spec.steps), len(spec.steps), "pipeline finished")
    make_permanent(model)
    artifacts = _save(model, quantized, spec, ctx) if ctx.artifacts_dir is not None else {}
    notes.insert(0, "each step acts on the model of the step before; metrics are the last step's, every step is "
                    "measured against the same baseline (see steps)")
    return RunResult(id="", kind="pipeline", status="finished", spec=spec.to_dict(), metrics=dict(metrics),
                     layers=structured_rows(model, layer_shapes(base.model)), history=history,
                     baseline=base_metrics, artifacts=artifacts, notes=notes, steps=records)


def _save(model: nn.Module, quantized: Optional[nn.Module], spec: PipelineSpec, ctx) -> dict:
    """The final fp32 weights (fake-quantized values when the last step is fake) and any int8 `.onnx`.

    Load `model.pt` with `structured.load_pruned` (it also fits models whose channels were removed).
    """
    final = quantized if quantized is not None and spec.steps[-1]["scheme"] in ("fake", *HALF_SCHEMES) else model
    artifacts = ctx.save_weights(final)
    if quantized is not None and spec.steps[-1]["scheme"] == "int8":
        artifacts.update(quantized)  # the int8 step's files: int8_onnx (the deployable) and fp32_onnx
    return artifacts


# --- command line -------------------------------------------------------------------------

def _pipeline_args(p) -> None:
    p.add_argument("--config", required=True,
                   help="YAML or JSON file with model, dataset (hidden, seed, ... optional) and steps, e.g. "
                        "steps: [{kind: prune, method: l1, amount: 0.9}, {kind: quantize, scheme: int8}]")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_home(p)


def _pipeline_spec(args) -> PipelineSpec:
    return load_config(args.config)


_describe = describe_pipeline  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="pipeline", spec=PipelineSpec, run=run_pipeline, label="pipeline", colour="#8c564b",
    help="run a combined recipe from a config file (prune -> distill -> quantize), measuring every step",
    add_arguments=_pipeline_args, spec_from_args=_pipeline_spec, report_settings=("steps",),
    describe=_describe, order=40))
