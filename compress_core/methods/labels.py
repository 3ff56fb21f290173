"""Labels, colours and one-line settings of the built-in run kinds and pruning criteria, without torch.

The method registry (`methods.registry`) is the one source of what a run kind *does*, but finding
its entries imports every method module and so torch (about 1 s on a cold server). A page that only
lists runs (Home's table, the Runs list) needs no more than a label, a colour and a short description
of the settings, so those live here as plain data and pure functions of a spec dict:

- each method module passes its `describe_*` function from here to `register_method`, so there is
  one copy of each;
- the label, colour, page and order below are the ones the method and criteria modules register;
  `tests/test_run_labels.py` checks that both agree for every built-in kind and criterion, so adding
  a kind without its line here fails a test, not a page.

A kind registered at run time (a plugin, a test's "echo") is not listed: callers fall back to the
registry for anything missing here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Optional

from compress_core import fmt

HALF_SCHEMES = ("bf16", "fp16")  # the half-precision quantize schemes (`methods.half_precision.HALF_SCHEMES`)


# ---------------------------------------------------------------- one-line settings per kind
def describe_train(spec: Mapping) -> str:
    return f"{spec.get('epochs') or 'default'} epochs"


def describe_prune(spec: Mapping) -> str:
    if spec.get("method") == "structured":
        return f"{spec.get('amount', 0):.0%} of channels, {spec.get('finetune_epochs')} ep"
    if spec.get("pattern"):
        return f"{spec['pattern']} pattern ({spec.get('method')}), {spec.get('finetune_epochs')} ep"
    if spec.get("layer_amounts"):
        return f"per-layer amounts ({len(spec['layer_amounts'])} layers), {spec.get('finetune_epochs')} ep"
    return f"{spec.get('amount', 0):.0%} {spec.get('scope')} {spec.get('schedule')}, {spec.get('finetune_epochs')} ep"


def describe_distill(spec: Mapping) -> str:
    return (f"from {spec.get('teacher')}, T={spec.get('temperature')}, α={spec.get('alpha')}, "
            f"{spec.get('train_fraction', 1):.0%} labels, "
            + (f"{spec['epochs']} ep" if spec.get("epochs") is not None else "auto epochs"))


def describe_quantize(spec: Mapping) -> str:
    if spec.get("scheme") in HALF_SCHEMES:
        return str(spec["scheme"])
    scheme = "int8" if spec.get("scheme") == "int8" else f"{spec.get('bits')}-bit fake"
    return f"{scheme}, per {spec.get('granularity')}"


def describe_pipeline(spec: Mapping) -> str:
    return " -> ".join(str(step.get("kind")) for step in spec.get("steps") or [])


def describe_deep_compression(spec: Mapping) -> str:
    pruned = "per-layer amounts" if spec.get("layer_amounts") else f"{spec.get('amount', 0):.0%} pruned"
    return f"{pruned}, {spec.get('conv_bits')}-bit conv / {spec.get('fc_bits')}-bit fc, Huffman"


def describe_lottery(spec: Mapping) -> str:
    left = (1 - spec.get("rate", 0.2)) ** spec.get("rounds", 5)
    return (f"{spec.get('rounds')} rounds of {spec.get('rate', 0):.0%} -> {left:.1%} left, "
            f"rewind k={spec.get('rewind_iteration', 0)}")


def describe_plan(spec: Mapping) -> str:
    if spec.get("target_size") is not None:
        target = f"≤ {fmt.size(spec['target_size'])}"
    elif spec.get("target_flops") is not None:
        target = f"≤ {fmt.flops(spec['target_flops'])}"
    else:
        target = f"≤ {spec.get('target_latency_ms')} ms at batch {spec.get('batch')}"
    return f"{target}, {'+'.join(spec.get('allow') or [])}, {spec.get('finetune_epochs')} ep"


# ---------------------------------------------------------------- the tables
@dataclass(frozen=True)
class KindLabel:
    """What a run list shows of one built-in run kind (the same values its `Method` registers)."""

    label: str
    colour: str
    order: int
    page: Optional[str]
    describe: Callable[[Mapping], str]
    has_baseline: bool = True  # its spec names a baseline or teacher to compare with (what Explain needs)


KINDS: dict[str, KindLabel] = {
    "train": KindLabel("baseline (dense)", "#6c757d", 0, None, describe_train, has_baseline=False),
    "prune": KindLabel("pruning", "#1f77b4", 10, "pages/prune.py", describe_prune),
    "distill": KindLabel("distillation", "#9467bd", 20, "pages/distill.py", describe_distill),
    "quantize": KindLabel("quantization", "#d62728", 30, "pages/quantize.py", describe_quantize),
    "pipeline": KindLabel("pipeline", "#8c564b", 40, None, describe_pipeline),
    "deep-compression": KindLabel("deep compression", "#393b79", 45, "pages/deep_compression.py",
                                  describe_deep_compression),
    "lottery": KindLabel("lottery ticket", "#637939", 45, None, describe_lottery),
    "plan": KindLabel("plan to a budget", "#17becf", 60, "pages/planner.py", describe_plan),
}

# Pruning criteria (prune runs are labelled and coloured by criterion), in registry order: (colour, label).
CRITERIA: dict[str, tuple[str, str]] = {
    "l1": ("#1f77b4", "L1 magnitude pruning"),
    "random": ("#ff7f0e", "random pruning (control)"),
    "wanda": ("#e377c2", "Wanda pruning (|W|·‖X‖)"),
    "wanda_row": ("#8c6d31", "Wanda pruning, per output row"),
}
# The figures' other colour keys (`present.plots.STAGE_STYLES`, `STRUCTURED_STYLE`).
BASELINE = ("#6c757d", "baseline (dense)")
STRUCTURED = ("#2ca02c", "structured pruning")
SCRATCH = ("#bcbd22", "student from scratch")


@lru_cache(maxsize=1)
def styles() -> dict[str, tuple[str, str]]:
    """(colour, label) by colour key in display order: what `present.plots` builds from the registries.

    One shared dict (cached): read it, do not change it.
    """
    ordered = sorted(KINDS.items(), key=lambda item: (item[1].order, item[0]))
    return {"baseline": BASELINE, **CRITERIA, "structured": STRUCTURED,
            **{kind: (k.colour, k.label) for kind, k in ordered if kind not in ("train", "prune")},
            "scratch": SCRATCH}


def method_label(key: str) -> Optional[str]:
    """The label of a colour key (a criterion, a stage or a built-in kind); None if it is not built in."""
    style = styles().get(key)
    return style[1] if style else None


def explainable(run: Mapping) -> Optional[bool]:
    """`explore.explain.explainable` for a built-in kind, without torch; None for a kind not built in."""
    known = KINDS.get(run.get("kind"))
    if known is None:
        return None
    return run.get("status") == "finished" and run.get("kind") != "train" and known.has_baseline


def describe(kind: str, spec: Optional[Mapping]) -> Optional[str]:
    """A built-in run's main settings as a short label; None for a kind that is not built in."""
    known = KINDS.get(kind)
    return known.describe(spec or {}) if known else None
