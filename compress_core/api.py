"""The one entry point: `run(spec, on_progress) -> RunResult`.

The CLI, the UI's background workers and the tests all call it, so a run made in the
browser can be replayed exactly from the command line. Which function runs a spec is
decided by the method registry, dispatching on the spec's class.
"""
from __future__ import annotations

import time
from typing import Mapping

from compress_core.context import RunContext, environment
from compress_core.data.limits import memory_errors_as_compress_errors
from compress_core.devices import check_runnable_here, gpu_peak_memory
from compress_core.measure.core import complete_result
from compress_core.methods.registry import method_for, spec_from_dict
from compress_core.results import RunResult
from compress_core.runs.store import new_run_id
from compress_core.specs import BaseSpec


def run(spec: BaseSpec | Mapping, on_progress=None, *, home=None, data_dir=None, artifacts_dir=None,
        run_id: str | None = None) -> RunResult:
    """Run `spec` (a spec dataclass or its dict form) to completion; CompressError on bad input."""
    if isinstance(spec, Mapping):
        spec = spec_from_dict(spec)
    method = method_for(spec)
    device = check_runnable_here(spec)  # one line when its device (or precision) is not on this machine
    ctx = RunContext.create(home=home, data_dir=data_dir, artifacts_dir=artifacts_dir, on_progress=on_progress,
                            device=device)
    began = time.perf_counter()
    # one clear line, not a MemoryError
    with memory_errors_as_compress_errors(f"the {spec.kind} run"), gpu_peak_memory(device) as peak:
        result: RunResult = method.run(spec, ctx)
    result.metrics.update(peak)  # gpu_peak_memory_bytes on CUDA
    result.id = run_id or new_run_id()
    result.status = "finished"
    result.metrics["duration_s"] = time.perf_counter() - began
    complete_result(result)  # the core metrics every run kind reports (measure/core.py)
    result.environment = environment(ctx)
    result.notes = list(result.notes or []) + [n for n in ctx.notes if n not in (result.notes or [])]
    return result
