"""Plan to a budget: the run kind `plan`.

The user gives a target (a deployed size in bytes, a FLOPs count, and/or a latency at a batch
size) and the methods that may be combined (`prune`: unstructured per-layer sparsity; `quantize`:
k-bit weights per layer). The run measures per-layer curves (the sensitivity scan, plus k-bit on
top when quantization is allowed), allocates a sparsity and a bit width per layer with a knapsack
DP (`explore/planner.py` says why DP), predicts size and accuracy, then realizes the plan with the
lab's own pieces (`prune.apply_layer_amounts` with the seeded calibration `prune_and_finetune` uses,
fine-tuning with the masks fixed and each k-bit layer rounded in the forward pass, a straight-through
quantization-aware fine-tuning, then `quantize.fake_quantize` per layer) and measures it like any run.
Predicted and realized figures are stored side by side; the gap corrects later plans of the same
model and data set (`planner.correction_from_history`).

Note:
    Masks and fake k-bit weights run dense fp32 kernels: they do not make the model faster. A
    latency target is therefore checked against the measured latency of the baseline at that batch
    size; the planner says so in one line when it cannot be met (structured pruning, which does
    shrink latency, is not planned here).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import nn

from compress_core import fmt
from compress_core.errors import CompressError
from compress_core.explore import planner
from compress_core.measure.assess import assess_against
from compress_core.measure.metrics import flops, latency_ms, paired_latency_ms
from compress_core.methods.criteria import CRITERIA, calibration_batch
from compress_core.methods.prune import apply_layer_amounts, make_permanent
from compress_core.methods.quantize import MAX_BITS, MIN_BITS, fake_quantize
from compress_core.methods.labels import describe_plan
from compress_core.methods.registry import Method, register_method
from compress_core.models.zoo import prunable_layers
from compress_core.options import add_common, base_fields, integer, ratio
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, PruneSpec, check_choice, check_range
from compress_core.training.baseline import finetune_config, get_baseline
from compress_core.training.loop import evaluate, fit

ALLOWED = ("prune", "quantize")
NOT_PLANNED = {"structured": "structured pruning is not planned yet (it changes layer shapes; use prune --method "
                             "structured)", "int8": "int8 is the 8-bit width of quantize: list quantize"}
MAX_VERIFY = 6  # re-plans when the exact size of the planned model exceeds the budget by the header's bytes


def _tuple(value, name: str) -> tuple:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise CompressError(f"{name} must be a list; got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class PlanSpec(BaseSpec):
    """Meet a budget at the highest predicted accuracy, then run the plan and measure it."""

    KIND: ClassVar[str] = "plan"
    target_size: Optional[int] = None  # bytes of the deployed model (the run's size_bytes)
    target_flops: Optional[int] = None  # density-scaled FLOPs per sample (the run's flops_effective)
    target_latency_ms: Optional[float] = None  # latency at `batch` (median of timed calls, this machine)
    batch: int = 1  # batch size of the latency target
    allow: tuple = ALLOWED  # methods the plan may combine: prune (per-layer sparsity), quantize (k bits per layer)
    amounts: tuple = planner.DEFAULT_AMOUNTS  # sparsities the scan measures (the plan interpolates between them)
    bit_widths: tuple = planner.DEFAULT_BITS  # bit widths a layer may take when quantize is allowed (plus fp32)
    criterion: str = "l1"  # pruning criterion of the scan and of the plan
    finetune_epochs: int = 3
    finetune_lr: Optional[float] = None
    baseline_epochs: Optional[int] = None
    correct: bool = True  # shift predictions by the mean gap measured on earlier plans of this model and data

    def __post_init__(self):
        super().__post_init__()
        targets = {"target_size": self.target_size, "target_flops": self.target_flops,
                   "target_latency_ms": self.target_latency_ms}
        if all(v is None for v in targets.values()):
            raise CompressError("a plan needs a target: target_size (bytes), target_flops or target_latency_ms "
                                "(with batch); none was given")
        for name, value in targets.items():
            if value is not None:
                check_range(name, value, 0, None, low_open=True, integer=name != "target_latency_ms")
        if self.target_size is not None and self.target_flops is not None:
            raise CompressError("give one budget, target_size or target_flops (a latency target may join either); "
                                f"got target_size {self.target_size} and target_flops {self.target_flops}")
        check_range("batch", self.batch, 1, 100_000, integer=True)
        allow = _tuple(self.allow, "allow")
        for item in allow:
            if item in NOT_PLANNED:
                raise CompressError(f"allow: {NOT_PLANNED[item]}; allowed: {', '.join(ALLOWED)}")
            check_choice("allow", item, ALLOWED)
        if not allow:
            raise CompressError(f"allow must list at least one of {', '.join(ALLOWED)}; got none")
        object.__setattr__(self, "allow", tuple(sorted(set(allow), key=ALLOWED.index)))
        amounts = _tuple(self.amounts, "amounts")
        for a in amounts:
            check_range("amount", a, 0, 1, low_open=True, high_open=True)
        if "prune" in self.allow and not amounts:
            raise CompressError("amounts must list the sparsities to scan, e.g. 0.5,0.7,0.9,0.95")
        object.__setattr__(self, "amounts", tuple(sorted(set(float(a) for a in amounts))))
        bits = _tuple(self.bit_widths, "bit_widths")
        for b in bits:
            check_range("bits", b, MIN_BITS, MAX_BITS, integer=True)
        if "quantize" in self.allow and not bits:
            raise CompressError(f"bit_widths must list widths from {MIN_BITS} to {MAX_BITS}, e.g. 2,4,8")
        object.__setattr__(self, "bit_widths", tuple(sorted(set(bits))))
        check_choice("criterion", self.criterion, CRITERIA.names())
        check_range("finetune_epochs", self.finetune_epochs, 0, 10_000, integer=True)
        if self.finetune_lr is not None:
            check_range("finetune_lr", self.finetune_lr, 0, 10, low_open=True)
        if self.baseline_epochs is not None:
            check_range("baseline_epochs", self.baseline_epochs, 1, 10_000, integer=True)
        if not isinstance(self.correct, bool):
            raise CompressError(f"correct must be true or false; got {self.correct!r}")

    baseline_spec = PruneSpec.baseline_spec

    @property
    def budget_kind(self) -> Optional[str]:
        return "size" if self.target_size is not None else "flops" if self.target_flops is not None else None


# --- building a planned model ------------------------------------------------------------------

def quantize_layers(model: nn.Module, bits_by_layer) -> nn.Module:
    """Fake-quantize each layer's weight to its own width (per output channel), in place; 32 leaves it fp32."""
    with torch.no_grad():
        for name, module in prunable_layers(model):
            bits = int(bits_by_layer.get(name, planner.FP32))
            if bits < planner.FP32:
                module.weight.copy_(fake_quantize(module.weight, bits, planner.GRANULARITY))
    return model


def one_shot(base_model: nn.Module, plan: planner.Plan, criterion: str, data, seed: int) -> nn.Module:
    """The plan applied to a copy of the baseline without fine-tuning (same masks as the real run)."""
    model = copy.deepcopy(base_model)
    torch.manual_seed(seed)
    apply_layer_amounts(model, plan.amounts(), criterion, lambda: calibration_batch(data.x_train, seed))
    return quantize_layers(make_permanent(model), plan.bits())


def _quantize_hook(bits: int):
    """A forward pre-hook that rounds the layer's weight to `bits` with a straight-through gradient.

    Registered after the pruning mask's own hook, so it sees the masked weight: fine-tuning then trains
    the weights the quantized model will use (quantization-aware fine-tuning). Hand-written: torch.ao's
    QAT is deprecated and int8-only; this is two lines on top of `quantize.fake_quantize`.
    """
    def hook(module, _inputs):
        w = module.weight
        module.weight = w + (fake_quantize(w, bits, planner.GRANULARITY) - w).detach()
    return hook


def realize(plan: planner.Plan, spec: PlanSpec, base, ctx) -> tuple[nn.Module, list, dict]:
    """(the planned model, fine-tuning history, extra metrics): masks by `prune.apply_layer_amounts` at the
    planned sparsities (the calibration and seed `prune_and_finetune` uses), fine-tuning with the masks fixed
    and each k-bit layer's weights rounded in the forward pass, then the masks folded and the weights rounded
    for good (`quantize_layers`: the same values the last forward used)."""
    data = base.data
    model = copy.deepcopy(base.model)
    torch.manual_seed(spec.seed)
    apply_layer_amounts(model, plan.amounts(), spec.criterion, lambda: calibration_batch(data.x_train, spec.seed))
    layers = dict(prunable_layers(model))
    hooks = [layers[name].register_forward_pre_hook(_quantize_hook(bits))
             for name, bits in plan.bits().items() if bits < planner.FP32]
    extra, history = {}, []
    changed = bool(hooks) or any(r["sparsity"] > 0 for r in plan.rows)
    if changed:
        extra["accuracy_before_finetune"], _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    if changed and spec.finetune_epochs:
        config = finetune_config(spec.finetune_epochs, spec.finetune_lr, data, base.spec.batch_size, spec.seed)
        history = fit(model, data, config, on_progress=ctx.on_progress, stage="finetune", device=ctx.device)
    for handle in hooks:
        handle.remove()
    make_permanent(model)
    return quantize_layers(model, plan.bits()), history, extra


def _cost_of(model: nn.Module, plan: planner.Plan, kind: str, input_shape) -> tuple[float, dict]:
    """(exact cost of the planned model as the run will measure it, its size measures)."""
    sizes = planner.realized_size(model, plan.bits())
    if kind == "flops":
        return float(flops(model, input_shape)["flops_effective"]), sizes
    return planner.predicted_size(sizes), sizes


def _history(ctx) -> list[dict]:
    from compress_core.runs.store import RunStore

    try:
        return RunStore(ctx.home).list_runs(status="finished", kind="plan")
    except CompressError:  # an unusable store: plan without correction (said in the notes)
        return []


def _unreachable(spec: PlanSpec, kind: str, smallest: float, extra: str) -> CompressError:
    what = (f"target size {fmt.size(spec.target_size)} ({spec.target_size:,} bytes)" if kind == "size"
            else f"target {spec.target_flops:,} FLOPs")
    least = f"{fmt.size(smallest)} ({smallest:,.0f} bytes)" if kind == "size" else f"{smallest:,.0f} FLOPs"
    return CompressError(f"{what} cannot be met for {spec.model} on {spec.dataset} with {'+'.join(spec.allow)}: "
                         f"the smallest reachable is {least}{extra}")


def make_plan(spec: PlanSpec, base, curves, ctx) -> tuple[planner.Plan, float, dict, nn.Module] | None:
    """(plan, its exact predicted cost, its size measures, the one-shot planned model) for `spec`'s budget.

    With `curves` None it only checks that the budget is reachable (CompressError naming the smallest)."""
    data = base.data
    kind = spec.budget_kind
    quantized = "quantize" in spec.allow
    per_layer = flops(base.model, data.input_shape)["flops_per_layer"] if kind == "flops" else None
    infos = planner.layer_infos(base.model, per_layer)
    if kind == "size":
        budget, fixed = float(spec.target_size), float(planner.fixed_bytes(base.model, quantized))
    else:
        dense = flops(base.model, data.input_shape)
        budget, fixed = float(spec.target_flops), float(dense["flops_dense"] - sum(per_layer.values()))
    parts = [f"every layer at the largest scanned sparsity {max(spec.amounts):g}"] if "prune" in spec.allow else []
    parts += [f"{min(spec.bit_widths)} bits"] if quantized else []
    ceiling = f", with {' and '.join(parts)}"
    largest = max(spec.amounts) if "prune" in spec.allow else 0.0
    smallest = planner.smallest_cost(infos, largest_amount=largest, bits=spec.bit_widths if quantized else (),
                                     target=kind, fixed=fixed)
    if curves is None:  # the cheap check before any scan
        if smallest > budget:
            raise _unreachable(spec, kind, smallest, ceiling)
        return None
    room = budget
    for _ in range(MAX_VERIFY):
        try:
            plan = planner.allocate(curves, infos, room, target=kind, fixed=fixed, prune="prune" in spec.allow)
        except planner.Unreachable as exc:
            smallest = exc.smallest if room == budget else exc.smallest + (budget - room)
            raise _unreachable(spec, kind, smallest, ceiling) from None
        model = one_shot(base.model, plan, spec.criterion, data, spec.seed)
        cost, sizes = _cost_of(model, plan, kind, data.input_shape)
        if cost <= budget:
            return plan, cost, sizes, model
        room -= (cost - budget) + 1  # the exact count exceeds the model's estimate: plan to a tighter budget
    raise _unreachable(spec, kind, cost, ceiling)


# --- the run -----------------------------------------------------------------------------------

def _latency_check(spec: PlanSpec, base, ctx) -> dict:
    """Baseline latency at the target batch; CompressError when it misses the target (masks do not speed up)."""
    if spec.target_latency_ms is None:
        return {}
    emit(ctx.on_progress, "measure", 0, 1, f"timing the baseline at batch {spec.batch}")
    measured = latency_ms(base.model, base.data.input_shape, spec.batch, repeats=ctx.latency_repeats)
    if measured > spec.target_latency_ms:
        raise CompressError(
            f"target latency {spec.target_latency_ms:g} ms at batch {spec.batch} cannot be met with "
            f"{'+'.join(spec.allow)}: masks and fake k-bit weights run the same dense fp32 kernels, so the smallest "
            f"reachable latency is the baseline's {measured:.3g} ms (median of timed calls, {torch.get_num_threads()} "
            "threads); structured pruning (prune --method structured) shrinks latency")
    return {"baseline_latency_ms_at_batch": measured}


@dataclass
class Prediction:
    """What the planner expects before anything is trained: the plan and its predicted figures."""

    plan: planner.Plan
    cost: Optional[float]  # exact cost of the one-shot planned model (bytes or FLOPs); None without a budget
    sizes: dict  # size measures of the one-shot planned model (`planner.realized_size`)
    accuracy: float  # predicted test accuracy (corrected)
    uncorrected: float  # baseline accuracy - summed one-shot drops
    shift: float  # correction from earlier plans (mean gap), a share
    history_runs: int
    notes: list

    @property
    def size(self) -> float:
        return planner.predicted_size(self.sizes)

    def rows(self) -> list[dict]:
        return [{"layer": r["layer"], "sparsity": r["sparsity"], "bits": r["bits"], "params": r["params"],
                 "predicted_drop": r["predicted_drop"]} for r in self.plan.rows]


def predict(spec: PlanSpec, base, ctx, history: Optional[list] = None) -> Prediction:
    """Check the targets, scan, allocate and predict for `spec` on the baseline `base` (which is left as it was).

    `history` (finished runs) feeds the correction; None reads the run store of `ctx.home`."""
    data = base.data
    _latency_check(spec, base, ctx)
    notes = []
    if spec.budget_kind is None:  # a latency target alone, met by the baseline: nothing to compress
        plan = planner.Plan(tuple({"layer": n, "params": m.weight.numel(), "sparsity": 0.0, "bits": planner.FP32,
                                   "cost": 0.0, "predicted_drop": 0.0} for n, m in prunable_layers(base.model)), 0, 0)
        cost, sizes = None, planner.realized_size(base.model, {})
        notes.append("the baseline already meets the latency target, so the plan compresses nothing")
    else:
        make_plan(spec, base, None, ctx)  # an unreachable budget is refused before the scan
        emit(ctx.on_progress, "sensitivity", 0, 1, "measuring per-layer curves")
        curves = planner.measure_curves(base.model, data, spec.amounts if "prune" in spec.allow else (),
                                        spec.bit_widths if "quantize" in spec.allow else (), criterion=spec.criterion,
                                        seed=spec.seed, device=ctx.device, on_progress=ctx.on_progress)
        emit(ctx.on_progress, "plan", 0, 1, "allocating sparsity and bits per layer")
        plan, cost, sizes, _ = make_plan(spec, base, curves, ctx)
    if spec.correct:
        runs = _history(ctx) if history is None else history
        shift, used = planner.correction_from_history(runs, spec.model, spec.dataset, spec.hidden)
    else:
        shift, used = 0.0, 0
    base_accuracy = base.info["accuracy"]
    uncorrected = base_accuracy - plan.drop
    return Prediction(plan, cost, sizes, min(1.0, max(0.0, uncorrected + shift)), uncorrected, shift, used, notes)


def run_plan(spec: PlanSpec, ctx) -> RunResult:
    """Scan, allocate, predict; then prune, fine-tune, quantize and measure the planned model."""
    base = get_baseline(spec.baseline_spec(), ctx)
    data = base.data
    extra = ({"target_latency_ms": spec.target_latency_ms, "target_batch": spec.batch}
             if spec.target_latency_ms is not None else {})
    p = predict(spec, base, ctx)
    plan, predicted_cost, sizes, shift, used = p.plan, p.cost, p.sizes, p.shift, p.history_runs
    notes = list(p.notes)
    predicted = p.accuracy
    model, history, realize_extra = realize(plan, spec, base, ctx)
    extra.update(realize_extra)
    emit(ctx.on_progress, "measure", 0, 1, "measuring accuracy, size, FLOPs and latency")
    metrics, base_metrics, layers = assess_against(model, base.model, data, ctx)
    metrics.update(planner.realized_size(model, plan.bits()))
    metrics.update(extra)
    if spec.target_latency_ms is not None:
        base_ms, ms = paired_latency_ms(base.model, model, data.input_shape, spec.batch, repeats=ctx.latency_repeats)
        metrics.update(latency_ms_at_batch=ms, baseline_latency_ms_at_batch=base_ms,
                       meets_latency=bool(ms <= spec.target_latency_ms))
    rows = p.rows()
    by_layer = {r["layer"]: r for r in rows}
    for row in layers:
        planned = by_layer.get(row["name"], {})
        row.update(planned_sparsity=planned.get("sparsity"), planned_bits=planned.get("bits"),
                   predicted_drop=planned.get("predicted_drop"))
    metrics.update(plan=rows, predicted_accuracy=predicted, predicted_accuracy_uncorrected=p.uncorrected,
                   predicted_drop_uncorrected=plan.drop, prediction_correction=shift, prediction_history_runs=used,
                   prediction_gap=metrics["accuracy"] - predicted)
    realized_size = planner.predicted_size(metrics)
    if spec.budget_kind == "size":
        metrics.update(target_size=spec.target_size, predicted_size=predicted_cost,
                       meets_budget=bool(realized_size <= spec.target_size))
    elif spec.budget_kind == "flops":
        metrics.update(target_flops=spec.target_flops, predicted_flops=predicted_cost,
                       predicted_size=planner.predicted_size(sizes),
                       meets_budget=bool(metrics["flops_effective"] <= spec.target_flops))
    else:
        metrics.update(predicted_size=planner.predicted_size(sizes))
    notes += _notes(spec, plan, shift, used, metrics, realized_size)
    return RunResult(id="", kind="plan", status="finished", spec=spec.to_dict(), metrics=metrics, layers=layers,
                     history=base.info["history"] + history, baseline=base_metrics,
                     artifacts=ctx.save_weights(model), notes=notes)


def _notes(spec: PlanSpec, plan, shift: float, used: int, metrics: dict, realized_size: float) -> list[str]:
    notes = ["plan: per-layer (sparsity, bits) chosen by a knapsack DP over measured one-shot per-layer curves "
             "(the sensitivity scan, and k-bit on top), least summed predicted drop within the budget; curves and "
             "accuracy use the test split, like the Sensitivity page"]
    if used:
        notes.append(f"predicted_accuracy is corrected by {used} earlier plan run(s) of {spec.model} on "
                     f"{spec.dataset}: shifted by their mean gap (realized - predicted) of {fmt.pp(shift, 2)}")
    else:
        notes.append("predicted_accuracy is uncorrected (no earlier plan run of this model and data set): the sum "
                     "of one-shot per-layer drops, before fine-tuning recovers part of them; this run's gap "
                     "(prediction_gap) corrects the next plan")
    if any(r["bits"] < planner.FP32 for r in plan.rows):
        notes.append("sizes with k-bit layers are counted, not serialized: per weight tensor the smaller of packed "
                     "codes and a bitmap plus packed non-zero codes, one fp32 scale per output channel; fake "
                     "quantization computes in fp32, so latency is unchanged")
    if spec.budget_kind == "size" and not metrics.get("meets_budget"):
        notes.append(f"the realized model is {realized_size:,.0f} bytes, over the {spec.target_size:,}-byte budget")
    return notes


# --- command line -------------------------------------------------------------------------------

def _plan_args(p) -> None:
    add_common(p)
    p.add_argument("--target-size", type=integer, help="budget: deployed size in bytes (the run's size_bytes)")
    p.add_argument("--target-flops", type=integer, help="budget: effective FLOPs per sample (density-scaled)")
    p.add_argument("--target-latency-ms", type=ratio, help="latency target in ms at --batch (checked on this machine)")
    p.add_argument("--batch", type=integer, default=1, help="batch size of the latency target (default: 1)")
    p.add_argument("--allow", default="prune,quantize",
                   help="methods the plan may combine: prune (per-layer sparsity), quantize (k bits per layer); "
                        "default: prune,quantize")
    p.add_argument("--amounts", default=",".join(f"{a:g}" for a in planner.DEFAULT_AMOUNTS),
                   help="sparsities the per-layer scan measures (default: %(default)s)")
    p.add_argument("--bit-widths", default=",".join(map(str, planner.DEFAULT_BITS)),
                   help="bit widths a layer may take besides fp32 (default: %(default)s)")
    p.add_argument("--criterion", default="l1", help="pruning criterion (default: l1)")
    p.add_argument("--finetune-epochs", type=integer, default=3, help="fine-tuning epochs (default: 3)")
    p.add_argument("--finetune-lr", type=ratio, help="fine-tuning learning rate (default: the data set's)")
    p.add_argument("--baseline-epochs", type=integer, help="epochs of the baseline (default: the data set's default)")
    p.add_argument("--no-correction", action="store_true",
                   help="do not correct predictions by earlier plan runs of this model and data set")


def _numbers(text: str, convert, name: str) -> tuple:
    try:
        return tuple(convert(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise CompressError(f"{name} must be numbers separated by commas; got {text!r}") from None


def _plan_spec(args) -> PlanSpec:
    return PlanSpec(**base_fields(args), target_size=args.target_size, target_flops=args.target_flops,
                    target_latency_ms=args.target_latency_ms, batch=args.batch, allow=_tuple(args.allow, "allow"),
                    amounts=_numbers(args.amounts, float, "amounts"),
                    bit_widths=_numbers(args.bit_widths, int, "bit widths"),
                    criterion=args.criterion, finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
                    baseline_epochs=args.baseline_epochs, correct=not args.no_correction)


_describe = describe_plan  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="plan", spec=PlanSpec, run=run_plan, label="plan to a budget", colour="#17becf",
    help="plan per-layer sparsity and bits to meet a size, FLOPs or latency budget, run the plan and measure it",
    add_arguments=_plan_args, spec_from_args=_plan_spec,
    report_settings=("target_size", "target_flops", "target_latency_ms", "allow", "finetune_epochs"),
    describe=_describe, page="pages/planner.py", order=60))
