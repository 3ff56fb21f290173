"""The run store's SQLite locks survive other opens of the same store in the same process.

The bug this guards against (seen as "disk I/O error" late in full test runs): SQLite's locks
are POSIX `fcntl` locks, and closing *any* file descriptor on the database file drops every
lock this process holds on it, including those of SQLite connections that are still open.
`RunStore` used to read the file's header with `open()` before opening it; afterwards a
long-lived store (jobs.open_store's cache, a dashboard) held no lock, so a worker process that
closed its connection thought it was the last user, checkpointed, and deleted `-wal`/`-shm`.
The long-lived connection then wrote into the deleted WAL (those runs were lost) and new
connections in this process failed with "disk I/O error".
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from compress_core.errors import CompressError
from compress_core.runs import store as store_mod
from compress_core.runs.store import RunStore

from concurrency_helpers import repo_env

SPEC = {"kind": "train", "model": "mlp", "dataset": "digits", "hidden": [16], "epochs": 1, "seed": 0}

# Another process (a worker, a CLI call) opens the store, records a run, lists the ids and exits.
OTHER_PROCESS = """
import json, sys
from compress_core.runs.store import RunStore
st = RunStore(sys.argv[1])
st.create_run("train", json.loads(sys.argv[2]))
print(json.dumps([r["id"] for r in st.list_runs()]))
"""


def _other_process(home) -> list[str]:
    done = subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(home), json.dumps(SPEC)], env=repo_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_second_open_keeps_the_live_stores_locks(tmp_path):
    live = RunStore(tmp_path)  # long-lived, like jobs.open_store's cached store or a dashboard's
    first = live.create_run("train", SPEC)
    RunStore(tmp_path)  # another open in this process: a CLI command, a plan reading its history
    _other_process(tmp_path)  # a worker that exits: it must not take itself for the store's last user
    assert (tmp_path / "runs.sqlite-wal").exists(), "the WAL of a store still open here was deleted"

    second = live.create_run("train", SPEC)  # the live store writes after that process left ...
    seen = _other_process(tmp_path)  # ... and another process sees it (nothing went to a deleted WAL)
    assert first in seen and second in seen and len(seen) == 4

    again = RunStore(tmp_path)  # and this process can still open, write and read the store
    third = again.create_run("train", SPEC)
    assert {r["id"] for r in again.list_runs()} == {*seen, third}
    assert live.get(third)["status"] == "queued"


def test_a_locked_store_is_not_called_damaged(tmp_path, monkeypatch):
    """An open that times out on another program's exclusive lock says so, and leaves the file alone."""
    first = RunStore(tmp_path)
    first.create_run("train", SPEC)
    first.close()
    holder = sqlite3.connect(tmp_path / "runs.sqlite", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.2)
    try:
        with pytest.raises(CompressError, match="could not be read .*locked") as info:
            RunStore(tmp_path)
        assert "damaged" not in str(info.value) and "\n" not in str(info.value)
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert len(RunStore(tmp_path).list_runs()) == 1  # once the lock is gone, the store opens as before
