"""Where Compression Lab keeps data sets, cached baselines and runs.

One "home" folder holds everything: `<home>/data` (data sets), `<home>/baselines`
(cached trained baselines), `<home>/runs.sqlite` and `<home>/artifacts/<run id>/`.
It is `--home DIR`, else `$COMPRESS_LAB_HOME`, else `~/.compress_lab`.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "COMPRESS_LAB_HOME"
ENV_DATA_DIR = "COMPRESS_LAB_DATA_DIR"


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """The home folder (created if missing)."""
    path = Path(home or os.environ.get(ENV_HOME) or Path.home() / ".compress_lab").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(home: str | os.PathLike | None = None, data: str | os.PathLike | None = None) -> Path:
    """The data folder: `data` if given, else `$COMPRESS_LAB_DATA_DIR`, else `<home>/data`."""
    chosen = data or os.environ.get(ENV_DATA_DIR)
    path = Path(chosen).expanduser() if chosen else home_dir(home) / "data"
    return path
