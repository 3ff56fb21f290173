"""The one entry point: `run(spec, on_progress) -> RunResult`.

The CLI, the UI's background workers and the tests all call it, so a run made in the
browser can be replayed exactly from the command line.
"""
from __future__ import annotations

import importlib
import secrets
import time
from pathlib import Path

from compress_core.context import RunContext, environment
from compress_core.data.limits import memory_errors_as_compress_errors
from compress_core.errors import CompressError
from compress_core.methods.registry import METHODS
from compress_core.results import RunResult
from compress_core.specs import BaseSpec, spec_from_dict

# Modules that register run kinds (kept lazy to avoid import cycles).
_METHOD_MODULES = {"train": "compress_core.methods.train", "prune": "compress_core.methods.prune",
                   "distill": "compress_core.methods.distill", "quantize": "compress_core.methods.quantize",
                   "pipeline": "compress_core.methods.pipeline"}
_RUNNERS = {"train": "run_train", "prune": "run_prune", "distill": "run_distill",
            "quantize": "run_quantize", "pipeline": "run_pipeline"}


def runner_for(kind: str):
    """The function that runs `kind` (imported on first use)."""
    if kind not in METHODS:
        if kind not in _METHOD_MODULES:
            raise CompressError(f"unknown run kind {kind!r}; allowed: {', '.join(_METHOD_MODULES)}")
        module = importlib.import_module(_METHOD_MODULES[kind])
        METHODS.add(kind, getattr(module, _RUNNERS[kind]))
    return METHODS.get(kind)


def new_run_id() -> str:
    return time.strftime("r%Y%m%d%H%M%S") + secrets.token_hex(3)


def run(spec: BaseSpec | dict, on_progress=None, *, home=None, data_dir=None, artifacts_dir=None,
        run_id: str | None = None) -> RunResult:
    """Run `spec` to completion and return its result (raises CompressError on bad input)."""
    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    ctx = RunContext.create(home=home, data_dir=data_dir, artifacts_dir=artifacts_dir, on_progress=on_progress)
    began = time.perf_counter()
    with memory_errors_as_compress_errors(f"the {spec.kind} run"):  # one clear line, not a MemoryError
        result: RunResult = runner_for(spec.kind)(spec, ctx)
    result.id = run_id or new_run_id()
    result.status = "finished"
    result.metrics["duration_s"] = time.perf_counter() - began
    result.environment = environment(ctx)
    return result


def execute(spec: dict, on_progress=None, artifacts_dir: Path | None = None, home=None, run_id: str | None = None,
            data_dir=None) -> dict:
    """`run` for job workers and the CLI: a spec dict in, a result dict out."""
    return run(spec_from_dict(spec), on_progress, home=home, data_dir=data_dir, artifacts_dir=artifacts_dir,
               run_id=run_id).to_dict()
