"""Settings of a lab shared with a room: shared mode and the caps on queued work and uploads.

The caps live in the engine so every way in (dashboard, CLI, Python API) meets the same
global bound: `jobs.submit` refuses a run when the queue is full. The per-session caps
(runs and upload bytes of one browser session) are applied by the dashboard, which is
the only place that knows sessions. A refusal names the limit, its value and the
environment variable that changes it.

| Variable | Default | What it bounds |
|---|---|---|
| `COMPRESS_LAB_SHARED` | off | `1` turns shared mode on: visitors are viewers until an operator signs in |
| `COMPRESS_LAB_MAX_QUEUED` | 200 | runs waiting in the queue, all sessions, CLI and API together |
| `COMPRESS_LAB_MAX_SESSION_RUNS` | 5 | queued + running runs one browser session may have (shared mode) |
| `COMPRESS_LAB_MAX_SESSION_UPLOAD_MB` | 200 | bytes one browser session may upload |
| `COMPRESS_LAB_MAX_UPLOADS_MB` | 2048 | bytes kept in `<home>/uploads` in total |
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from compress_core.env_settings import from_environment
from compress_core.errors import CompressError

ENV_SHARED = "COMPRESS_LAB_SHARED"
ENV_PASSWORD = "COMPRESS_LAB_OPERATOR_PASSWORD"
ENV_OPERATOR_EMAILS = "COMPRESS_LAB_OPERATOR_EMAILS"
_TRUE = {"1", "true", "yes", "on"}


def shared_mode() -> bool:
    """True when `COMPRESS_LAB_SHARED` is set to 1/true/yes/on."""
    return os.environ.get(ENV_SHARED, "").strip().lower() in _TRUE


@dataclass(frozen=True)
class Caps:
    max_queued: int = 200
    max_session_runs: int = 5
    max_session_upload_mb: float = 200.0
    max_uploads_mb: float = 2048.0

    @staticmethod
    def env_name(field: str) -> str:
        return "COMPRESS_LAB_" + field.upper()


def caps() -> Caps:
    """The caps now in force (environment variables over the defaults), read on every call."""
    return from_environment(Caps, Caps.env_name, allow_zero=True)


def refused(what: str, value, limit_field: str, limit) -> CompressError:
    return CompressError(f"refused: {what} ({value:,}); the limit is {limit:,} "
                         f"(set {Caps.env_name(limit_field)} to change it)")


def check_queue(queued: int, adding: int = 1) -> None:
    """Refuse when `adding` more runs would take the queue past `max_queued`."""
    cap = caps().max_queued
    if queued + adding > cap:
        raise refused("the queue is full: runs already waiting", queued, "max_queued", cap)


def check_session_runs(active: int) -> None:
    cap = caps().max_session_runs
    if active + 1 > cap:
        raise refused("this session already has runs queued or running", active, "max_session_runs", cap)


def folder_bytes(folder: Path) -> int:
    total = 0
    if folder.is_dir():
        for p in folder.iterdir():
            try:
                if p.is_file() and not p.is_symlink():
                    total += p.stat().st_size
            except OSError:
                pass
    return total


def check_upload_quota(new_bytes: int, session_bytes: int, uploads_folder: Path) -> None:
    """Refuse an upload that would pass the per-session or the total upload cap."""
    c = caps()
    mb = 1024 * 1024
    if session_bytes + new_bytes > c.max_session_upload_mb * mb:
        raise CompressError(f"refused: this session has uploaded {session_bytes / mb:,.1f} MB and this file is "
                            f"{new_bytes / mb:,.1f} MB; the limit is {c.max_session_upload_mb:,.0f} MB per session "
                            f"(set {Caps.env_name('max_session_upload_mb')} to change it)")
    stored = folder_bytes(uploads_folder)
    if stored + new_bytes > c.max_uploads_mb * mb:
        raise CompressError(f"refused: uploads already take {stored / mb:,.1f} MB and this file is "
                            f"{new_bytes / mb:,.1f} MB; the limit is {c.max_uploads_mb:,.0f} MB in total "
                            f"(set {Caps.env_name('max_uploads_mb')} to change it)")
