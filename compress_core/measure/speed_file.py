"""The stored speed table of a run (`speed.json`), readable without torch.

`measure.speed` times models (torch, ONNX Runtime); the Speed page, the report and the CLI only
read back what it stored. Keeping the file's name, the batch sizes and the reader here lets those
readers draw without importing torch (issue 19: the Speed and Report pages' first visit);
`measure.speed` re-exports all three, so its callers are unchanged.
"""
from __future__ import annotations

import json
from typing import Optional

from compress_core.runs import jobs

BATCHES = (1, 8, 64, 256)
SPEED_FILE = "speed.json"


def load_speed(run: dict, home=None) -> Optional[dict]:
    """The stored speed table of a run (`speed.json` in its artifacts folder), or None."""
    path = jobs.open_store(home).artifacts_dir(run["id"]) / SPEED_FILE
    return json.loads(path.read_text()) if path.exists() else None
