"""Progress events: a plain callback receives small event objects."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Optional


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run: `stage` (e.g. "baseline", "finetune"), `step` of `total`, metrics so far."""

    stage: str
    step: int
    total: int
    metrics: dict = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Optional[Callable[[ProgressEvent], None]]


def emit(callback: ProgressCallback, stage: str, step: int, total: int, message: str = "", **metrics) -> None:
    """Send an event if someone listens; the callback may raise RunCancelled to stop the run."""
    if callback is not None:
        callback(ProgressEvent(stage=stage, step=step, total=total, metrics=metrics, message=message))
