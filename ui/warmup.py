"""Warm the preview pages' heavy imports in the background once Home is on screen.

Cold start stays light (Home imports neither torch nor the engine's methods), but the first
visit to Prune, Quantize or Distill would then pay for importing torch and the preview
modules (about 1.5 s here, see docs/performance.md). One daemon thread per server process
imports them right after the first page has rendered, while the visitor is reading it;
a page that needs them earlier simply waits on Python's import lock.
"""
from __future__ import annotations

import importlib
import os
import threading

# What the preview pages import first; importing them here only moves that cost earlier.
MODULES = ("torch", "compress_core.present.preview", "compress_core.present.plots", "compress_core.methods.registry")

_started = threading.Event()


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # a broken optional import shows up (with its message) on the page that needs it
            return


def start() -> None:
    """Start the warm-up thread once per process (later calls do nothing; `COMPRESS_LAB_WARMUP=0`: never).

    Switching it off lets `benchmarks/profile_cold_start.py` charge every import to the visit that needs it.
    """
    if _started.is_set() or os.environ.get("COMPRESS_LAB_WARMUP") == "0":
        return
    _started.set()
    threading.Thread(target=_import_all, name="compress-lab-warmup", daemon=True).start()
