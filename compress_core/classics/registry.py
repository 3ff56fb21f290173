"""The registry of classics: a published result, the lab's run that reproduces it, and the comparison.

A classic is not a run kind of its own. It is a preset: the paper's settings scaled to this
machine, expressed as a spec of an ordinary run kind (so progress, cancel, the run store, Compare,
Pareto and the report treat it like any run), plus the paper's table rows and a function that
reads the same rows out of a finished run. The Classics page and `python -m compress_core classic
NAME` list and run whatever is registered here; a classic module in this package registers itself
with `register_classic` and is found by `load_classics`.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from compress_core.errors import CompressError
from compress_core.registry import Registry


@dataclass(frozen=True)
class Classic:
    """One published result and how the lab reproduces it.

    make_spec(model=None, dataset=None, seed=0, quick=False) -> spec of a registered run kind with
        the paper's settings scaled to this machine (`quick` shortens it further for tests);
        `model`/`dataset` None mean `default_model` / `default_dataset`.
    paper_rows(model) -> the paper's table rows for that model: dicts with the same keys as
        `our_rows` returns (e.g. {"stage": "pruning", "compression": 9.0, "error_pct": 1.59}).
    our_rows(result) -> the same rows measured in a finished run (`result` is RunResult.to_dict()).
    differs: what differs from the paper here (data, epochs, architecture), in one or two sentences.
    """

    name: str  # e.g. "deep-compression" (the CLI argument)
    label: str  # e.g. "Deep Compression (Han et al. 2016)"
    citation: str  # author, year, title, section/table the rows come from
    make_spec: Callable[..., object]
    paper_rows: Callable[[str], Sequence[Mapping]]
    our_rows: Callable[[Mapping], Sequence[Mapping]]
    differs: str
    default_model: str = "lenet300"
    models: tuple[str, ...] = ("lenet300",)  # models the paper reports (others are refused)
    default_dataset: str = "digits"
    order: int = 50


CLASSICS: Registry[Classic] = Registry("classic")
_loaded = False


def register_classic(classic: Classic) -> Classic:
    """Add a classic; called once at import by the module of this package that defines it."""
    CLASSICS.add(classic.name, classic)
    return classic


def load_classics() -> None:
    """Import every module of this package so each registers its classic (once per process)."""
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg and info.name != "registry":
            importlib.import_module(f"{__package__}.{info.name}")
    _loaded = True


def all_classics() -> list[Classic]:
    """Every registered classic, in display order."""
    load_classics()
    return sorted((CLASSICS.get(n) for n in CLASSICS.names()), key=lambda c: (c.order, c.name))


def get_classic(name: str) -> Classic:
    """The classic `name`, or one line listing the classics that exist."""
    load_classics()
    return CLASSICS.get(name)


def classic_spec(name: str, model: Optional[str] = None, dataset: Optional[str] = None,
                 seed: int = 0, quick: bool = False):
    """The spec that reproduces classic `name` on `model`/`dataset` (paper models only)."""
    classic = get_classic(name)
    model = model or classic.default_model
    if model not in classic.models:
        raise CompressError(f"classic {name!r} reproduces the paper's models only: {', '.join(classic.models)}; "
                            f"got {model!r}")
    return classic.make_spec(model=model, dataset=dataset or classic.default_dataset, seed=seed, quick=quick)
