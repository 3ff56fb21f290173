"""The result of a run, as stored, printed with `--json` and drawn by the UI."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RunResult:
    """`metrics` holds the figures of the compressed model (and comparisons); `baseline`
    the same figures for the model it started from, measured in the same run."""

    id: str
    kind: str
    status: str
    spec: dict
    metrics: dict = field(default_factory=dict)
    layers: list = field(default_factory=list)
    history: list = field(default_factory=list)
    baseline: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    steps: list = field(default_factory=list)  # intermediate results of a pipeline

    def to_dict(self) -> dict:
        return asdict(self)
