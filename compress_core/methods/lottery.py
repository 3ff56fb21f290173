"""Lottery tickets: iterative magnitude pruning with rewinding, beside the two controls that test it.

Frankle & Carbin (2019), "The Lottery Ticket Hypothesis": train the dense network, remove the
`rate` share of the smallest-magnitude weights that are still alive, reset the survivors to their
initial values and train again; repeat for `rounds` rounds. Frankle et al. (2019), "Stabilizing the
Lottery Ticket Hypothesis", rewind to the weights after `rewind_iteration` optimiser steps instead
of to initialisation (k = 0 is the original procedure).

The claim is about the *initialisation*, so every round also trains, on the same mask and with the
same optimiser, batch order and epochs:
- `reinit`: the same mask with freshly drawn initial weights (the paper's random re-initialisation);
- `random mask`: a random mask with the same number of weights per layer, on the rewound weights.

Round 0 is the dense network: the cached baseline, which is exactly the dense network trained from
the initialisation rebuilt here (same seed, same settings), so the dense accuracy the tickets are
compared with had the same training budget as each ticket. Masks are `torch.nn.utils.prune` masks:
weights are zeroed, not removed, so nothing runs faster (the metrics say so).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Mapping, Optional

import torch
from torch import nn
from torch.nn.utils import prune

from compress_core.errors import CompressError
from compress_core.measure.assess import assess_against
from compress_core.methods.prune import MASK_NOTE, make_permanent
from compress_core.methods.labels import describe_lottery
from compress_core.methods.registry import Method, SweepParam, register_method
from compress_core.models.fit import model_and_data
from compress_core.models.zoo import prunable_layers
from compress_core.options import add_common, base_fields, integer, ratio
from compress_core.progress import emit
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, TrainSpec, check_choice, check_range, source_fields
from compress_core.training.baseline import get_baseline, load_baseline_data
from compress_core.training.loop import FitConfig, evaluate, fit, seeded

MAX_ROUNDS = 30
SCOPES = ("layer", "global")
VARIANTS = ("ticket", "reinit", "random_mask")


@dataclass(frozen=True)
class LotterySpec(BaseSpec):
    """Iterative magnitude pruning with rewinding, `rounds` rounds of `rate` each, plus its controls."""

    KIND: ClassVar[str] = "lottery"
    rounds: int = 5  # pruning rounds; after round r, (1 - rate)^r of the prunable weights remain
    rate: float = 0.2  # share of the *remaining* weights removed per round (the paper: 0.2 for LeNet's layers)
    rewind_iteration: int = 0  # k: survivors restart from the weights after k optimiser steps (0: initialisation)
    scope: str = "layer"  # layer: each layer loses `rate` of its weights (as the paper); global: one threshold
    epochs: Optional[int] = None  # training epochs of the dense network and of every round; None: data set default
    controls: bool = True  # also train the random re-initialisation and random-mask controls each round

    def __post_init__(self):
        super().__post_init__()
        check_range("rounds", self.rounds, 1, MAX_ROUNDS, integer=True)
        check_range("rate", self.rate, 0, 0.95, low_open=True)
        check_range("rewind_iteration", self.rewind_iteration, 0, 10_000_000, integer=True)
        check_choice("scope", self.scope, SCOPES)
        if self.epochs is not None:
            check_range("epochs", self.epochs, 1, 10_000, integer=True)
        if not isinstance(self.controls, bool):
            raise CompressError(f"controls must be true or false; got {self.controls!r}")

    def baseline_spec(self) -> TrainSpec:
        """The dense network: trained with the same settings as every round (its epochs are the rounds' epochs)."""
        return TrainSpec(model=self.model, dataset=self.dataset, hidden=self.hidden, seed=self.seed,
                         label_column=self.label_column, lr=self.lr, batch_size=self.batch_size, epochs=self.epochs,
                         text_column=self.text_column, max_length=self.max_length, **source_fields(self))


# --- the procedure, one small function per step (tests call them directly) -------------------------

Masks = dict  # layer name -> bool tensor of the weight's shape (True: the weight survives)


def remaining_fraction(masks: Mapping[str, torch.Tensor]) -> float:
    """Share of the prunable weights still alive under `masks`."""
    total = sum(m.numel() for m in masks.values())
    return sum(int(m.sum()) for m in masks.values()) / max(total, 1)


def dense_masks(model: nn.Module) -> Masks:
    layers = prunable_layers(model)
    if not layers:
        raise CompressError(f"the lottery ticket prunes Linear/Conv2d weights; model {type(model).__name__} "
                            "has no prunable layer")
    return {name: torch.ones_like(m.weight, dtype=torch.bool) for name, m in layers}


def plain_copy(model: nn.Module) -> nn.Module:
    """A copy with every mask folded into its weights (the original keeps its masks).

    A masked module's `weight` is computed from `weight_orig * weight_mask` and cannot be deep-copied
    while it carries a gradient graph; it is recomputed without one first (the next forward pass
    recomputes it anyway).
    """
    with torch.no_grad():
        for _, module in prunable_layers(model):
            if prune.is_pruned(module):
                module.weight = module.weight_orig * module.weight_mask
    return make_permanent(copy.deepcopy(model))


def next_masks(trained: nn.Module, masks: Masks, rate: float, scope: str = "layer") -> Masks:
    """The masks of the next round: drop the `rate` share of the surviving weights with the smallest |w|.

    Uses `torch.nn.utils.prune` on a copy: re-pruning a pruned tensor applies the amount to the
    weights still alive (its PruningContainer), which is the paper's "p % of the remaining weights".
    `scope` "layer" removes `rate` of each layer's survivors; "global" ranks all layers together.
    """
    model = plain_copy(trained)
    layers = dict(prunable_layers(model))
    for name, module in layers.items():
        prune.custom_from_mask(module, "weight", masks[name].to(module.weight.device))
    if scope == "layer":
        for module in layers.values():
            prune.l1_unstructured(module, "weight", amount=rate)
    elif scope == "global":
        alive = sum(int(m.sum()) for m in masks.values())
        prune.global_unstructured([(m, "weight") for m in layers.values()], pruning_method=prune.L1Unstructured,
                                  amount=int(round(rate * alive)))
    else:
        raise CompressError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    return {name: module.weight_mask.detach().bool().cpu() for name, module in layers.items()}


def random_masks(masks: Masks, seed: int) -> Masks:
    """The control: as many surviving weights per layer as `masks`, at random positions (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, mask in masks.items():
        keep = torch.zeros(mask.numel(), dtype=torch.bool)
        keep[torch.randperm(mask.numel(), generator=gen)[:int(mask.sum())]] = True
        out[name] = keep.view_as(mask)
    return out


def masked_copy(template: nn.Module, state: Mapping[str, torch.Tensor], masks: Masks) -> nn.Module:
    """A copy of `template` holding `state` (the rewind point), with `masks` applied as pruning masks.

    The survivors keep exactly their stored values; the pruned weights read as zero and get no update
    (their gradient through the mask is zero).
    """
    model = plain_copy(template)
    model.load_state_dict(state)
    for name, module in prunable_layers(model):
        prune.custom_from_mask(module, "weight", masks[name].to(module.weight.device))
    return model


def reinitialised(template: nn.Module, seed: int) -> dict:
    """A fresh draw of the model's initial weights (each layer's own `reset_parameters`, seeded)."""
    model = plain_copy(template)
    with seeded(seed):
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Reached(Exception):
    """Stops the rewind training once the k-th optimiser step is reached."""


def rewind_state(init: nn.Module, data, config: FitConfig, k: int, device) -> dict:
    """The weights after `k` optimiser steps of the dense training (k = 0: the initial weights).

    Replays the dense training from `init` with the same settings and seed, so the weights are the
    ones the baseline passed through at step k.
    """
    state = {key: v.detach().clone() for key, v in init.state_dict().items()}
    if k == 0:
        return state
    total = max(1, -(-len(data.x_train) // config.batch_size)) * config.epochs
    if k >= total:
        raise CompressError(f"rewind_iteration must be below the {total} optimiser steps of one training; got {k}")
    model = plain_copy(init)

    def stop_at_k(step: int, _total: int) -> None:
        if step == k:
            raise _Reached

    try:
        fit(model, data, config, device=device, stage="rewind", before_step=stop_at_k)
    except _Reached:
        pass
    return {key: v.detach().cpu().clone() for key, v in model.state_dict().items()}


def train_masked(template, state, masks, data, config, ctx, stage) -> tuple[nn.Module, float, list]:
    """Train a masked copy (the rewind state under `masks`) with `config`; (model, test accuracy, history)."""
    model = masked_copy(template, state, masks)
    history = fit(model, data, config, on_progress=ctx.on_progress, stage=stage, device=ctx.device)
    accuracy, _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    return model, accuracy, history


# --- the run ------------------------------------------------------------------------------------------

def _initial_model(base, ctx) -> nn.Module:
    """The baseline's initial weights, rebuilt the way `get_baseline` built them (same seed, same source)."""
    if base.info.get("as_given"):
        raise CompressError(f"the lottery ticket needs a model trained here from its initialisation; "
                            f"{base.spec.model!r} comes trained (weights given)")
    raw = load_baseline_data(base.spec, ctx)
    with seeded(base.spec.seed):
        source, _ = model_and_data(base.spec, raw)
    return source.module.to(ctx.device)


def run_lottery(spec: LotterySpec, ctx) -> RunResult:
    """Train dense (the cached baseline), then `rounds` rounds of prune, rewind, retrain, with the controls."""
    base = get_baseline(spec.baseline_spec(), ctx)
    data = base.data
    masks = dense_masks(base.model)  # raises for a model without Linear/Conv2d layers
    init = _initial_model(base, ctx)
    config = FitConfig(base.spec.epochs, base.spec.lr, base.spec.batch_size, base.spec.seed)
    rewind = rewind_state(init, data, config, spec.rewind_iteration, ctx.device)
    trained, rows, history = base.model, [], []
    notes = [MASK_NOTE, f"rewinding to iteration {spec.rewind_iteration}" +
             (" (initialisation, Frankle & Carbin 2019)" if spec.rewind_iteration == 0 else
              " (Frankle et al. 2019)") + f"; {spec.rate:.0%} of the remaining weights per round, scope {spec.scope}"]
    for r in range(1, spec.rounds + 1):
        masks = next_masks(trained, masks, spec.rate, spec.scope)
        left = remaining_fraction(masks)
        emit(ctx.on_progress, "lottery", r - 1, spec.rounds, f"round {r}/{spec.rounds}: training the ticket at "
             f"{left:.1%} of the weights")
        trained, accuracy, h = train_masked(init, rewind, masks, data, config, ctx, f"round {r} ticket")
        history += h
        row = {"round": r, "remaining_fraction": left, "accuracy": accuracy,
               "reinit_accuracy": None, "random_mask_accuracy": None}
        if spec.controls:
            reinit = reinitialised(init, spec.seed * 1000 + r + 1)
            _, row["reinit_accuracy"], h = train_masked(init, reinit, masks, data, config, ctx, f"round {r} reinit")
            history += h
            shuffled = random_masks(masks, spec.seed * 1000 + r)
            _, row["random_mask_accuracy"], h = train_masked(init, rewind, shuffled, data, config, ctx,
                                                             f"round {r} random mask")
            history += h
        rows.append(row)
        emit(ctx.on_progress, "lottery", r, spec.rounds, f"round {r}/{spec.rounds}: ticket at {left:.1%} of the "
             f"weights: {accuracy:.2%}", **{k: v for k, v in row.items() if v is not None})
    make_permanent(trained)
    emit(ctx.on_progress, "measure", 0, 1, "measuring accuracy, size, FLOPs and latency")
    metrics, base_metrics, layers = assess_against(trained, base.model, data, ctx)
    last = rows[-1]
    metrics.update(rounds=rows, remaining_fraction=last["remaining_fraction"],
                   **({"reinit_accuracy": last["reinit_accuracy"], "random_mask_accuracy": last["random_mask_accuracy"]}
                      if spec.controls else {}))
    artifacts = ctx.save_weights(trained)
    if ctx.artifacts_dir is not None:  # the rewind point, so the ticket (its mask from the weights) is reproducible
        start = plain_copy(init)
        start.load_state_dict(rewind)
        artifacts["rewind_weights"] = ctx.save_weights(start, "rewind.pt")["weights"]
    return RunResult(id="", kind="lottery", status="finished", spec=spec.to_dict(), metrics=metrics, layers=layers,
                     history=base.info["history"] + history, baseline=base_metrics, artifacts=artifacts, notes=notes)


# --- registration ---------------------------------------------------------------------------------------

def _args(p) -> None:
    add_common(p)
    p.add_argument("--rounds", type=integer, default=5, help=f"pruning rounds, 1..{MAX_ROUNDS} (default: 5)")
    p.add_argument("--rate", type=ratio, default=0.2,
                   help="share of the remaining weights removed per round, in (0, 0.95] (default: 0.2)")
    p.add_argument("--rewind-iteration", type=integer, default=0,
                   help="rewind survivors to the weights after K optimiser steps; 0: to initialisation (default: 0)")
    p.add_argument("--scope", default="layer", help="layer: each layer loses RATE of its weights; global: one "
                                                    "magnitude threshold over all layers (default: layer)")
    p.add_argument("--epochs", type=integer, help="training epochs of the dense network and of every round "
                                                  "(default: the data set's default)")
    p.add_argument("--no-controls", action="store_true",
                   help="skip the random re-initialisation and random-mask controls (a third of the time)")


def _spec(args) -> LotterySpec:
    return LotterySpec(**base_fields(args), rounds=args.rounds, rate=args.rate, rewind_iteration=args.rewind_iteration,
                       scope=args.scope, epochs=args.epochs, controls=not args.no_controls)


_describe = describe_lottery  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="lottery", spec=LotterySpec, run=run_lottery, label="lottery ticket", colour="#637939",
    help="lottery tickets: iterative magnitude pruning with rewinding (Frankle & Carbin 2019), "
         "beside random re-initialisation and random-mask controls",
    add_arguments=_args, spec_from_args=_spec,
    sweep={"rounds": SweepParam("rounds", "1,2,4,6,8", f"pruning rounds (1..{MAX_ROUNDS}); "
                                "(1 - rate)^rounds of the weights remain", integer=True),
           "rate": SweepParam("rate", "0.1,0.2,0.4,0.6", "share of the remaining weights removed per round, in (0, 0.95]")},
    report_settings=("rounds", "rate", "rewind_iteration", "scope", "epochs"), describe=_describe, order=45))
