"""Compression Lab's engine: data, models, training, compression methods, metrics, run store.

Python API: `compress_core.run(spec, on_progress=None) -> RunResult`, where `spec` is a
spec dataclass (`TrainSpec`, `PruneSpec`, ...) or its dict form.
"""
from compress_core.errors import CompressError, RunCancelled

__all__ = ["run", "spec_from_dict", "CompressError", "RunCancelled"]


def run(spec, on_progress=None, **kwargs):
    """Run a spec to completion; see `compress_core.api.run`."""
    from compress_core.api import run as _run

    return _run(spec, on_progress, **kwargs)


def spec_from_dict(d):
    from compress_core.methods.registry import spec_from_dict as _from

    return _from(d)
