"""Pruning criteria: how important each weight is, as a tensor that torch's pruning ranks.

A criterion is a `Criterion` whose `scores(module, calibration)` returns one importance
per weight, with `module.weight`'s shape. Unstructured pruning feeds it to
`torch.nn.utils.prune`'s `importance_scores=` with the L1 method, so the weights with the
smallest |score| go: per layer (`prune.l1_unstructured`) or across all layers
(`prune.global_unstructured`). This is Torch-Pruning's `Importance` idea in torch's terms.

Adding a criterion is one file: a module in this package that calls `register(Criterion(...))`.
Every module here is imported the first time `CRITERIA` is read (pkgutil), and the CLI,
specs, pages, sweeps, sensitivity, pipelines, previews, figures and the report all list
criteria from `CRITERIA`.

Criteria that look at activations (`needs_calibration=True`, e.g. Wanda) get a
`Calibration`: per-layer input statistics collected once per pruning call, with forward
hooks, from a few training inputs (`calibration_batch`).
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Union

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.models.zoo import prunable_layers
from compress_core.registry import Registry

CALIBRATION_SAMPLES = 128  # training inputs run through the model (Wanda's paper uses 128 sequences)
_BATCH = 256  # rows per forward pass while collecting statistics


@dataclass(frozen=True)
class Criterion:
    """One pruning criterion and how the lab shows it."""

    name: str  # the spec/CLI value, e.g. "l1"
    label: str  # legend and report name, e.g. "L1 magnitude pruning"
    colour: str  # the same colour on every figure and page
    description: str  # one line for radio captions and CLI help
    scores: Callable[[nn.Module, Optional["Calibration"]], torch.Tensor]  # importance per weight (larger = kept)
    needs_calibration: bool = False  # True: `scores` reads input statistics from a `Calibration`


class _DiscoveringRegistry(Registry):
    """A Registry that imports every module of this package before its first read."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self._loaded = False
        self._lock = threading.RLock()

    def _discover(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            for info in pkgutil.iter_modules(__path__):  # sorted by file name
                if not info.name.startswith("_"):
                    importlib.import_module(f"{__name__}.{info.name}")
            self._loaded = True

    def get(self, name: str):
        self._discover()
        return super().get(name)

    def names(self) -> list[str]:
        self._discover()
        return super().names()

    def __contains__(self, name: object) -> bool:
        self._discover()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self._discover()
        return super().__iter__()


CRITERIA: Registry[Criterion] = _DiscoveringRegistry("pruning criterion")


def register(criterion: Criterion) -> Criterion:
    """Add `criterion` to `CRITERIA` under its name (called at import by each criterion module)."""
    return CRITERIA.add(criterion.name, criterion)


def criteria() -> list[Criterion]:
    """Every registered criterion, in registry order."""
    return [CRITERIA.get(name) for name in CRITERIA.names()]


def get_criterion(name: str) -> Criterion:
    """The criterion `name`; unknown names raise CompressError listing the allowed ones."""
    if name not in CRITERIA:
        raise CompressError(f"unstructured pruning method must be one of {', '.join(CRITERIA.names())}; got {name!r}")
    return CRITERIA.get(name)


# ---------------------------------------------------------------- calibration
class Calibration:
    """Per-layer statistics of the inputs each prunable layer saw on the calibration batch.

    `input_norm(module)` is the L2 norm of each input feature over all calibration rows:
    for Linear, over samples (and any leading dimensions); for Conv2d, per input channel
    over samples and spatial positions.
    """

    def __init__(self, input_norms: dict[nn.Module, torch.Tensor], samples: int):
        self._norms = input_norms
        self.samples = samples

    def input_norm(self, module: nn.Module) -> torch.Tensor:
        try:
            return self._norms[module]
        except KeyError:
            raise CompressError(f"no calibration statistics for layer {type(module).__name__}; "
                                "collect them on the model being pruned") from None


CalibrationSource = Union[torch.Tensor, Callable[[], torch.Tensor], Calibration, None]


def calibration_batch(x_train: torch.Tensor, seed: int, samples: int = CALIBRATION_SAMPLES) -> torch.Tensor:
    """A seeded random subset of `samples` training inputs (its own generator: the global RNG is untouched)."""
    index = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:samples]
    return x_train[index]


@torch.no_grad()
def collect_input_norms(model: nn.Module, inputs: torch.Tensor) -> Calibration:
    """Run `inputs` through `model` (eval mode) once and record every prunable layer's input norms.

    Forward hooks sum the squared inputs per feature; the hooks are removed and the
    model's training mode restored afterwards.
    """
    sums: dict[nn.Module, torch.Tensor] = {}

    def hook(module, args, _output):
        x = args[0].detach().float()
        if isinstance(module, nn.Conv2d):
            squared = x.pow(2).sum(dim=(0, 2, 3)) if x.dim() == 4 else x.pow(2).sum(dim=(1, 2))
        else:
            squared = x.reshape(-1, x.shape[-1]).pow(2).sum(dim=0)
        sums[module] = sums.get(module, 0) + squared

    handles = [m.register_forward_hook(hook) for _, m in prunable_layers(model)]
    was_training = model.training
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        model.eval()
        for start in range(0, len(inputs), _BATCH):
            model(inputs[start:start + _BATCH].to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return Calibration({m: s.sqrt() for m, s in sums.items()}, len(inputs))


def scorer(criterion: Criterion, model: nn.Module,
           calibration: CalibrationSource = None) -> Callable[[nn.Module], torch.Tensor]:
    """module -> importance scores of `criterion` on `model`.

    `calibration` (inputs, a callable returning inputs, or a ready `Calibration`) is used
    only by criteria that need it, and its statistics are collected once, on first use.
    """
    cache: list[Calibration] = []

    def stats() -> Optional[Calibration]:
        if not criterion.needs_calibration:
            return None
        if not cache:
            source = calibration() if callable(calibration) else calibration
            if source is None:
                raise CompressError(f"pruning criterion {criterion.name!r} needs calibration inputs "
                                    "(a few training batches); none were given")
            cache.append(source if isinstance(source, Calibration) else collect_input_norms(model, source))
        return cache[0]

    def scores(module: nn.Module) -> torch.Tensor:
        out = criterion.scores(module, stats()).detach()
        if out.shape != module.weight.shape:
            raise CompressError(f"criterion {criterion.name!r} returned scores of shape {tuple(out.shape)} for a "
                                f"weight of shape {tuple(module.weight.shape)}")
        return out

    return scores
