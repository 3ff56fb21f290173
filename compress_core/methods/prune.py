"""Unstructured pruning with `torch.nn.utils.prune` masks.

The criterion (`compress_core.methods.criteria`: `l1` magnitude, `random` the control,
`wanda`, ...) scores every weight; torch's L1 method with `importance_scores=` removes
the lowest scores. Scope `global` ranks all prunable weights together; `layer` removes
the same share from every layer. Gradual pruning follows the
AGP cubic schedule of Zhu & Gupta (2017). Masks only zero weights: dense kernels run
exactly as fast as before, which the metrics report honestly.
"""
from __future__ import annotations

import copy
import fnmatch
import math
from typing import Mapping, Optional

import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.errors import CompressError
from compress_core.measure.assess import assess_against
from compress_core.measure.metrics import count_params
from compress_core.methods.criteria import CalibrationSource, calibration_batch, criteria, get_criterion, scorer
from compress_core.methods.labels import describe_prune
from compress_core.methods.registry import Method, SweepParam, register_method
from compress_core.methods.nm_sparsity import MASK_NOTE as NM_MASK_NOTE
from compress_core.methods.nm_sparsity import apply_nm, dense_text, parse_pattern, save_report, semi_structured_measures
from compress_core.methods.sparse_exec import SPARSE_NOTE, sparse_measures
from compress_core.methods.structured import NOTE as STRUCTURED_NOTE
from compress_core.methods.structured import layer_shapes, prune_channels, relation_note, structured_rows
from compress_core.methods.text_structured import run_text_structured
from compress_core.models.text import is_text_model
from compress_core.models.text_data import takes_text
from compress_core.models.zoo import prunable_layers
from compress_core.options import add_common, base_fields, integer, layer_amounts, ratio
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import PruneSpec, check_range
from compress_core.training.baseline import finetune_config, get_baseline
from compress_core.training.loop import evaluate, fit


def agp_schedule(initial: float, final: float, steps: int) -> list[float]:
    """Target sparsity after each of `steps` pruning steps.

    s_t = s_f + (s_i - s_f) * (1 - t / n)^3 for t = 1..n (Zhu & Gupta 2017, with t0 = 0
    and dt = 1): prune fast while many weights are redundant, slowly near the end.
    """
    if steps < 1:
        raise CompressError(f"steps must be at least 1; got {steps}")
    return [final + (initial - final) * (1 - t / steps) ** 3 for t in range(1, steps + 1)]


def _current_layer_sparsity(module: nn.Module) -> float:
    w = module.weight.detach()
    return 1 - int(torch.count_nonzero(w)) / max(w.numel(), 1)


def _relative(target: float, current: float) -> float:
    """Share of the still-unpruned weights to remove to go from `current` to `target` sparsity.

    torch.nn.utils.prune applies a new amount to the weights that are still unpruned.
    """
    if target <= current:
        return 0.0
    return min(1.0, (target - current) / (1 - current))


def select_layers(model: nn.Module, pattern: Optional[str] = None) -> list[tuple[str, nn.Module]]:
    """The prunable layers whose names match `pattern` (shell-style globs separated by commas, e.g.
    `features.*,classifier.0`); every prunable layer when `pattern` is None. Matching nothing is an error."""
    layers = prunable_layers(model)
    if not pattern:
        return layers
    globs = [g.strip() for g in str(pattern).split(",") if g.strip()]
    chosen = [(name, m) for name, m in layers if any(fnmatch.fnmatchcase(name, g) for g in globs)]
    if not chosen:
        raise CompressError(f"layers {pattern!r} matches no prunable layer; prunable layers: "
                            f"{', '.join(name for name, _ in layers)}")
    return chosen


def _sparsity_of(layers: list[tuple[str, nn.Module]]) -> float:
    total = sum(m.weight.numel() for _, m in layers)
    return 1 - sum(int(torch.count_nonzero(m.weight.detach())) for _, m in layers) / max(total, 1)


def prune_to(model: nn.Module, method: str, scope: str, target: float, calibration: CalibrationSource = None,
             layers: Optional[str] = None) -> None:
    """Add (or tighten) masks so that the chosen prunable weights reach `target` sparsity.

    `method` names a criterion; `calibration` (inputs, a callable returning inputs, or a
    `criteria.Calibration`) feeds criteria that need activations and is read at most once
    per call. `layers` restricts pruning to layers matching a name pattern (`select_layers`);
    the others stay dense. Calling it again with a larger target keeps the earlier mask and removes more.
    """
    scores = scorer(get_criterion(method), model, calibration)
    everything = prunable_layers(model)
    layers = select_layers(model, layers)
    if scope == "global":
        relative = _relative(target, _sparsity_of(layers))
        if relative > 0:
            prune.global_unstructured([(m, "weight") for _, m in layers], pruning_method=prune.L1Unstructured,
                                      importance_scores={(m, "weight"): scores(m) for _, m in layers},
                                      amount=relative)
    elif scope == "layer":
        for _, module in layers:
            relative = _relative(target, _current_layer_sparsity(module))
            if relative <= 0:
                continue
            prune.l1_unstructured(module, "weight", amount=relative, importance_scores=scores(module))
    else:
        raise CompressError(f"scope must be 'global' or 'layer'; got {scope!r}")
    # A layer pruned by nobody still gets an all-ones mask, so every layer has the same form.
    for _, module in everything:
        if not prune.is_pruned(module):
            prune.identity(module, "weight")


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold masks into the weights (`prune.remove`) so saved weights need no re-parametrisation."""
    for _, module in prunable_layers(model):
        if prune.is_pruned(module):
            prune.remove(module, "weight")
    return model


class AGPPruner:
    """Calls `prune_to` at evenly spaced optimiser steps during fine-tuning.

    The pruning steps are spread over the first two thirds of fine-tuning; the last
    third trains at the final sparsity so accuracy can recover.
    """

    def __init__(self, model: nn.Module, method: str, scope: str, final: float, steps: int,
                 calibration: CalibrationSource = None, layers: Optional[str] = None):
        self.model, self.method, self.scope, self.calibration = model, method, scope, calibration
        self.layers = layers
        self.targets = agp_schedule(0.0, final, steps)
        self.done = 0

    def due(self, step: int, total_steps: int) -> int:
        """How many pruning steps should have happened by optimiser step `step`."""
        if len(self.targets) == 1:
            return 1
        span = max(1, math.floor(total_steps * 2 / 3))
        return min(len(self.targets), 1 + step * (len(self.targets) - 1) // max(span - 1, 1))

    def __call__(self, step: int, total_steps: int) -> None:
        wanted = self.due(step, total_steps)
        if wanted > self.done:
            prune_to(self.model, self.method, self.scope, self.targets[wanted - 1], self.calibration, self.layers)
            self.done = wanted

    def finish(self) -> None:
        """Apply any steps not reached (e.g. with zero fine-tuning epochs)."""
        if self.done < len(self.targets):
            prune_to(self.model, self.method, self.scope, self.targets[-1], self.calibration, self.layers)
            self.done = len(self.targets)


MASK_NOTE = ("masked (unstructured) pruning: dense kernels still do every multiply, so no speed-up is expected; "
             "see flops_effective and size_sparse_bytes for what a sparse kernel/format could gain")


def apply_layer_amounts(model: nn.Module, layer_amounts: Mapping[str, float], method: str = "l1",
                        calibration: CalibrationSource = None) -> nn.Module:
    """Mask each named layer at its own amount by criterion `method`, in place; unnamed layers stay dense.

    The non-uniform counterpart of `prune_to` (same criteria, same `calibration`), e.g. for a plan
    proposed by a sensitivity scan: every prunable layer ends up with a mask (all ones where the
    amount is 0), so `make_permanent` folds them all.
    """
    layers = dict(prunable_layers(model))
    unknown = sorted(set(layer_amounts) - set(layers))
    if unknown:
        raise CompressError(f"unknown layer(s) {', '.join(unknown)}; prunable layers: {', '.join(layers)}")
    scores = scorer(get_criterion(method), model, calibration)
    for name, module in layers.items():
        amount = float(layer_amounts.get(name, 0.0))
        check_range(f"amount of layer {name}", amount, 0, 1, high_open=True)
        if amount > 0:
            prune.l1_unstructured(module, "weight", amount=amount, importance_scores=scores(module))
        elif not prune.is_pruned(module):
            prune.identity(module, "weight")
    return model


def widen_text_scope(model: nn.Module, spec) -> list[str]:
    """Make a transformer's embeddings and/or head prunable on this copy when the spec asks
    (`include_embeddings`, `include_head`; both off by default); a note naming what was added."""
    extra = tuple(part for part, on in (("embeddings", getattr(spec, "include_embeddings", False)),
                                        ("head", getattr(spec, "include_head", False))) if on)
    if not extra:
        return []
    if not is_text_model(model):
        raise CompressError(f"include_embeddings/include_head apply to transformer models (tinybert, hf:DIR); "
                            f"{spec.model!r} prunes every Linear/Conv2d layer already")
    before = {name for name, _ in prunable_layers(model)}
    model.prune_extra = extra
    added = [name for name, _ in prunable_layers(model) if name not in before]
    return [f"also pruned ({' and '.join(extra)}, off by default): {', '.join(added)}"]


def prune_and_finetune(model: nn.Module, spec: PruneSpec, data, config, ctx) -> tuple[list, dict, list]:
    """Prune `model` in place per `spec`, then fine-tune it with the masks (or smaller shapes) fixed.

    The one pruning procedure of the lab: the prune run, the structured run and a pipeline's prune
    step all call it. Returns (fine-tuning history, extra metrics, notes). Masks stay on (callers
    fold them with `make_permanent` when they measure or save).
    """
    torch.manual_seed(spec.seed)  # the random control draws its mask from this seed
    calibration = lambda: calibration_batch(data.x_train, spec.seed)  # noqa: E731 (read only by criteria that need it)
    extra, pruner = {}, None
    if spec.method == "structured":
        emit(ctx.on_progress, "prune", 0, 1, f"removing {spec.amount:.0%} of the channels ({spec.importance} importance)")
        prune_channels(model, data.input_shape, spec.amount, spec.importance)
        notes = [STRUCTURED_NOTE]
    elif spec.pattern:  # N:M semi-structured masks (methods/nm_sparsity.py); fine-tuning below keeps the pattern
        emit(ctx.on_progress, "prune", 0, 1, f"keeping the best {spec.pattern} weights by {spec.method}")
        n, m = parse_pattern(spec.pattern)
        left_dense = apply_nm(model, n, m, spec.method, calibration,
                              select_layers(model, spec.layers) if spec.layers else None)
        extra.update(nm_pattern=spec.pattern, nm_dense_layers=dense_text(left_dense))
        notes = [NM_MASK_NOTE] + ([f"left dense (pattern {spec.pattern} cannot take them): {dense_text(left_dense)}"]
                                  if left_dense else [])
    else:
        what = "per-layer amounts" if spec.layer_amounts else f"{spec.amount:.0%} ({spec.scope}, {spec.schedule})"
        what += f" of layers {spec.layers}" if spec.layers else ""
        emit(ctx.on_progress, "prune", 0, 1, f"pruning {what} by {spec.method}")
        notes = [MASK_NOTE, *widen_text_scope(model, spec)]
        if spec.schedule == "agp":
            pruner = AGPPruner(model, spec.method, spec.scope, spec.amount, spec.steps, calibration, spec.layers)
        elif spec.layer_amounts:
            apply_layer_amounts(model, spec.layer_amounts, spec.method, calibration)
        else:
            prune_to(model, spec.method, spec.scope, spec.amount, calibration, spec.layers)
    if pruner is None:
        extra["accuracy_before_finetune"], _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    history = fit(model, data, config, on_progress=ctx.on_progress, stage="finetune", device=ctx.device,
                  before_step=pruner) if spec.finetune_epochs else []
    if pruner is not None:
        pruner.finish()
        notes.append(f"AGP targets: {[round(t, 4) for t in pruner.targets]}")
    return history, extra, notes


def _run_structured(spec: PruneSpec, ctx) -> RunResult:
    """Remove channels from the cached baseline, fine-tune, measure, save: the model really shrinks."""
    base = get_baseline(spec.baseline_spec(), ctx)
    data = base.data
    model = copy.deepcopy(base.model)
    shapes_before = layer_shapes(model)
    params_before, _ = count_params(model)
    config = finetune_config(spec.finetune_epochs, spec.finetune_lr, data, base.spec.batch_size, spec.seed,
                             base.spec.precision)
    history, extra, notes = prune_and_finetune(model, spec, data, config, ctx)
    emit(ctx.on_progress, "measure", 0, 1, "measuring accuracy, size, FLOPs and latency")
    metrics, base_metrics, _ = assess_against(model, base.model, data, ctx)
    param_ratio = metrics["params_total"] / params_before
    metrics.update(channel_ratio=spec.amount, param_ratio=param_ratio, **extra)
    return RunResult(id="", kind="prune", status="finished", spec=spec.to_dict(), metrics=metrics,
                     layers=structured_rows(model, shapes_before), history=base.info["history"] + history,
                     baseline=base_metrics, artifacts=ctx.save_weights(model),
                     notes=notes + [relation_note(spec.amount, param_ratio)])


def run_prune(spec: PruneSpec, ctx) -> RunResult:
    """Prune the cached baseline per `spec`, fine-tune, measure, save."""
    if spec.method == "structured" and takes_text(spec.model):  # transformers: heads and FFN channels
        return run_text_structured(spec, ctx)
    if spec.method == "structured":
        return _run_structured(spec, ctx)
    base = get_baseline(spec.baseline_spec(), ctx)
    data = base.data
    model = copy.deepcopy(base.model)
    config = finetune_config(spec.finetune_epochs, spec.finetune_lr, data, base.spec.batch_size, spec.seed,
                             base.spec.precision)
    history, extra, notes = prune_and_finetune(model, spec, data, config, ctx)
    make_permanent(model)
    emit(ctx.on_progress, "measure", 0, 1, "measuring accuracy, size, FLOPs and latency")
    metrics, base_metrics, layers = assess_against(model, base.model, data, ctx)
    metrics.update(extra)
    emit(ctx.on_progress, "measure", 0, 1, "timing the sparse (CSR) form against the dense model")
    metrics.update(sparse_measures(model, data.input_shape, ctx.latency_repeats))  # sparse_speedup_b*, sparse_layers
    notes.append(SPARSE_NOTE)
    artifacts = ctx.save_weights(model)
    if spec.pattern:  # the 2:4 kernels on a supported GPU; elsewhere the result says the speed-up needs one
        emit(ctx.on_progress, "measure", 0, 1, "timing the 2:4 semi-structured form against dense fp16")
        report = semi_structured_measures(model, data.input_shape, device=ctx.device, repeats=ctx.latency_repeats,
                                          data=data) if spec.pattern == "2:4" else None
        if report is None:
            metrics["semi_structured"] = f"pattern {spec.pattern} runs as masks only: sparse kernels take 2:4"
        else:
            metrics.update(report.metrics)
            notes += report.notes
            artifacts.update(save_report(report, ctx.artifacts_dir))
    return RunResult(id="", kind="prune", status="finished", spec=spec.to_dict(), metrics=metrics,
                     layers=layers, history=base.info["history"] + history, baseline=base_metrics,
                     artifacts=artifacts, notes=notes)


# --- registration -------------------------------------------------------------------------

def _prune_args(p) -> None:
    add_common(p)
    p.add_argument("--method", default="l1", help="; ".join(f"{c.name}: {c.description}" for c in criteria())
                   + "; structured: remove whole neurons/channels (default: l1)")
    p.add_argument("--scope", default="global", help="global or layer (default: global)")
    p.add_argument("--amount", type=ratio, help="share of weights (or channels) to remove, in [0, 1) (required "
                                                "unless --pattern sets it)")
    p.add_argument("--pattern", help="N:M semi-structured sparsity: keep the N best of every M input weights by "
                                     "--method (l1, wanda, ...), e.g. 2:4 (sparse tensor-core kernels on NVIDIA "
                                     "Ampere or newer) or 4:8 (masks)")
    p.add_argument("--schedule", default="oneshot", help="oneshot or agp (default: oneshot)")
    p.add_argument("--steps", type=integer, default=10, help="AGP pruning steps (default: 10)")
    p.add_argument("--finetune-epochs", type=integer, default=3, help="fine-tuning epochs after pruning (default: 3)")
    p.add_argument("--finetune-lr", type=ratio, help="fine-tuning learning rate (cosine-decayed peak; default: 7e-3 "
                                                      "below 5000 training rows, else 2e-3)")
    p.add_argument("--baseline-epochs", type=integer, help="epochs of the baseline (default: the data set's default)")
    p.add_argument("--importance", default="l1", help="structured: l1 or l2 channel importance (default: l1)")
    p.add_argument("--layers", help="unstructured pruning of these layers only: shell-style name patterns separated "
                   "by commas, e.g. 'features.*,classifier.0' (default: every Linear/Conv2d layer)")
    p.add_argument("--include-embeddings", action="store_true", help="transformers: also prune the embedding tables "
                   "(excluded by default; with l1 or random)")
    p.add_argument("--include-head", action="store_true", help="transformers: also prune the pooler and classifier "
                   "(excluded by default)")
    p.add_argument("--layer-amounts", type=layer_amounts, help="per-layer amounts, e.g. net.1=0.9,net.3=0.5 "
                   "(non-uniform unstructured one-shot pruning; see `sensitivity`)")


def _prune_spec(args) -> PruneSpec:
    if args.amount is None and not args.pattern:
        raise CompressError("prune needs --amount (a share in [0, 1)) or --pattern N:M (e.g. 2:4)")
    amount = args.amount if args.amount is not None else 0.5  # a pattern sets it (PruneSpec)
    return PruneSpec(**base_fields(args), method=args.method, scope=args.scope, amount=amount, pattern=args.pattern,
                     schedule=args.schedule, steps=args.steps, finetune_epochs=args.finetune_epochs,
                     finetune_lr=args.finetune_lr, baseline_epochs=args.baseline_epochs, importance=args.importance,
                     layer_amounts=args.layer_amounts, layers=args.layers,
                     include_embeddings=args.include_embeddings, include_head=args.include_head)


def _settings(spec) -> list[str]:
    if spec.get("method") == "structured":
        return ["amount", "importance", "finetune_epochs"]
    return ["amount", "scope", "schedule", "finetune_epochs"]


_describe = describe_prune  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="prune", spec=PruneSpec, run=run_prune, label="pruning", colour="#1f77b4",
    help="prune a trained baseline (unstructured by a criterion, or structured), fine-tune and measure",
    add_arguments=_prune_args, spec_from_args=_prune_spec,
    sweep={"amount": SweepParam("amount", "0.5,0.7,0.9,0.95,0.98", "share of weights (or channels) removed, in [0, 1)")},
    report_settings=_settings, describe=_describe, page="pages/prune.py", order=10))
