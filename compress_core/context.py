"""What a run needs besides its spec: folders, the progress callback, the device."""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from compress_core.paths import data_dir as resolve_data_dir
from compress_core.paths import home_dir
from compress_core.progress import ProgressCallback
from compress_core.training.loop import pick_device


@dataclass
class RunContext:
    """Where to read data and write outputs, and whom to tell about progress."""

    home: Path
    data_dir: Path
    artifacts_dir: Optional[Path] = None
    on_progress: ProgressCallback = None
    device: torch.device = field(default_factory=pick_device)
    notes: list = field(default_factory=list)  # what loading changed (e.g. truncated texts), added to the result
    latency_repeats: int = field(default_factory=lambda: int(os.environ.get("COMPRESS_LAB_LATENCY_REPEATS", "30")))

    def save_weights(self, model: torch.nn.Module, name: str = "model.pt") -> dict:
        """Save the model's state dict (on CPU) as an artifact; `{"weights": path}`, or {} without a folder."""
        if self.artifacts_dir is None:
            return {}
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        path = self.artifacts_dir / name
        from compress_core.runs.artifacts import save_torch  # atomic: a full disk leaves no half file

        save_torch({k: v.cpu() for k, v in model.state_dict().items()}, path)
        return {"weights": str(path)}

    @classmethod
    def create(cls, home=None, data_dir=None, artifacts_dir=None, on_progress=None,
               device: Optional[torch.device] = None) -> "RunContext":
        home_path = home_dir(home)
        return cls(home=home_path, data_dir=resolve_data_dir(home_path, data_dir),
                   artifacts_dir=Path(artifacts_dir) if artifacts_dir else None, on_progress=on_progress,
                   device=device if device is not None else pick_device())


def environment(ctx: "RunContext") -> dict:
    """The machine facts every figure depends on (stored with each run)."""
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "device": str(ctx.device),
        **({"gpu": torch.cuda.get_device_name(ctx.device)} if ctx.device.type == "cuda" else {}),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
