"""Job backends: where background runs execute. `local` (worker processes, the default) or `ray`.

Both keep the same run store as the one truth: a run is created there, its progress and
result land there, and a cancel is a flag there (`jobs.cancel`), which the local worker or
the Ray driver acts on. A backend therefore only answers three questions: how a run's
record is created (`create`), how the created runs start (`start`), and what resources it
has (`info`). Ray is optional: choosing it without Ray installed is one CompressError line
saying how to install it; nothing else imports Ray.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from compress_core.errors import CompressError
from compress_core.runs import jobs, ray_backend

BACKENDS = ("local", "ray")


def check_backend(name: str | None) -> str:
    """'local' (also for None) or 'ray'; anything else is a CompressError naming both."""
    name = name or "local"
    if name not in BACKENDS:
        raise CompressError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


@dataclass(frozen=True)
class LocalBackend:
    """Today's detached worker processes (`runs.jobs`), wrapped, not rewritten."""

    name: str = "local"

    def create(self, spec: dict, home=None, parent_id: str | None = None) -> str:
        return jobs.submit(spec, home, parent_id=parent_id, start_workers=False)

    def start(self, run_ids: Sequence[str], home=None, *, max_workers: int | None = None, data_dir=None) -> None:
        jobs.ensure_workers(home, max_workers=max_workers)

    def info(self) -> dict:
        return {"backend": "local", "nodes": [{"node": "this machine", "cpus": float(os.cpu_count() or 1),
                                               "gpus": 0.0}],
                "cpus": float(os.cpu_count() or 1), "gpus": 0.0, "workers": jobs.default_max_workers()}


@dataclass(frozen=True)
class RayBackend:
    """Each run one Ray task; a driver process of ours writes the store (see `runs.ray_backend`).

    `start` hands the runs to a detached driver process (it outlives a page rerun); the CLI
    drives in the foreground instead, with `ray_backend.drive`.
    """

    address: str | None = None
    name: str = "ray"

    def create(self, spec: dict, home=None, parent_id: str | None = None) -> str:
        return ray_backend.create_run(spec, home, parent_id=parent_id)

    def start(self, run_ids: Sequence[str], home=None, *, max_workers: int | None = None, data_dir=None) -> None:
        ray_backend.start_detached(list(run_ids), home, self.address, data_dir=data_dir)

    def info(self) -> dict:
        return ray_backend.cluster_info(self.address)


def get_backend(name: str | None = None, address: str | None = None):
    """The backend called `name`; for `ray`, Ray must import (else one line on how to install it)."""
    name = check_backend(name)
    if name == "local":
        if address:
            raise CompressError("--ray-address applies to --backend ray only")
        return LocalBackend()
    if not ray_backend.available():
        raise CompressError(ray_backend.INSTALL_HINT)
    return RayBackend(ray_backend.resolve_address(address))


def add_backend_options(parser) -> None:
    """`--backend local|ray` and `--ray-address` for the CLI commands that run things."""
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="where runs execute: local worker processes (default) or a Ray cluster "
                             f"({ray_backend.INSTALL_HINT.split(': ', 1)[1]})")
    parser.add_argument("--ray-address", help="Ray cluster: auto, ray://host:port or host:port "
                                              "(default: $RAY_ADDRESS, else a local Ray with this machine's CPUs)")
