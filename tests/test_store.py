"""The run store on its own: records, states, reaping, bad files, schema versions, concurrency."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from compress_core.runs import store as store_mod
from compress_core.errors import CompressError
from compress_core.runs.store import RunStore

from concurrency_helpers import run_threads, script_outputs, start_scripts

SPEC = {"kind": "train", "model": "mlp", "dataset": "digits", "hidden": [16], "epochs": 1, "seed": 0}


def raw_row(home: Path, run_id: str) -> tuple:
    """The row exactly as stored, to compare byte for byte."""
    conn = sqlite3.connect(home / "runs.sqlite")
    try:
        return tuple(conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())
    finally:
        conn.close()


def test_new_store_is_versioned_wal_and_marked(tmp_path):
    RunStore(tmp_path)
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()[0] == store_mod.APP_MARKER
    conn.close()
    RunStore(tmp_path)  # reopening an existing store is fine


def test_lifecycle_fifo_and_decoded_records(tmp_path):
    st = RunStore(tmp_path)
    a = st.create_run("train", SPEC)
    b = st.create_run("prune", {**SPEC, "kind": "prune"}, parent_id=a)
    assert store_mod.RUN_ID_RE.match(a) and a != b
    first = st.claim_next(os.getpid())
    assert first["id"] == a and first["status"] == "running" and first["owner_pid"] == os.getpid()
    st.update_progress(a, {"stage": "baseline", "step": 1, "total": 2, "message": "", "metrics": {"loss": 0.5}})
    assert st.get(a)["progress"]["metrics"] == {"loss": 0.5}
    result = {"id": "engine-id", "metrics": {"accuracy": 0.9}, "layers": [{"name": "fc1", "sparsity": 0.0}],
              "history": [{"epoch": 1}], "environment": {"torch": "x", "device": "cpu", "threads": 1},
              "baseline": {"accuracy": 0.8}, "notes": ["n"]}
    assert st.finish(a, result)
    run = st.get(a)
    assert run["status"] == "finished" and run["id"] == a
    assert run["metrics"] == {"accuracy": 0.9} and run["layers"][0]["name"] == "fc1"
    assert run["baseline"] == {"accuracy": 0.8} and run["notes"] == ["n"]  # extra result keys kept
    assert run["finished_at"] >= run["started_at"] >= run["created_at"]
    assert not st.fail(a, "too late")  # a finished run stays finished
    assert st.claim_next(os.getpid())["id"] == b
    st.fail(b, "ValueError: boom")
    assert st.get(b)["error"] == "ValueError: boom" and st.get(b)["parent_id"] == a
    assert [r["id"] for r in st.list_runs()] == [b, a]  # newest first
    assert [r["id"] for r in st.list_runs(status="failed")] == [b]
    assert [r["id"] for r in st.list_runs(kind="train")] == [a]
    assert [r["id"] for r in st.list_runs(limit=1)] == [b] and st.list_runs(limit=0) == []  # the newest only
    assert [r["id"] for r in st.list_runs(kind="train", limit=5)] == [a]
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(CompressError, match="limit must be a whole number"):
            st.list_runs(limit=bad)
    assert st.claim_next(os.getpid()) is None
    with pytest.raises(CompressError, match="unknown run status"):
        st.list_runs(status="done")


def test_unknown_and_bad_ids(tmp_path):
    st = RunStore(tmp_path)
    with pytest.raises(CompressError, match="no run with id"):
        st.get("r20200101-000000-00000000")
    for bad in ("../etc", "r1/../../x", "", "R20200101-000000-00000000"):
        with pytest.raises(CompressError, match="invalid run id"):
            st.artifacts_dir(bad)
    with pytest.raises(CompressError):
        st.create_run("train", SPEC, status="finished")


def test_cancel_delete_and_artifacts(tmp_path):
    st = RunStore(tmp_path)
    queued = st.create_run("train", SPEC)
    assert st.cancel(queued) == "cancelled"
    assert st.get(queued)["status"] == "cancelled" and st.claim_next() is None

    running = st.create_run("train", SPEC, status="running")
    assert not st.is_cancel_requested(running)
    assert st.cancel(running) == "running"
    assert st.is_cancel_requested(running) and st.get(running)["cancel_requested"] is True
    folder = st.artifacts_dir(running)
    (folder / "model.pt").write_bytes(b"x")
    assert folder == tmp_path / "artifacts" / running
    with pytest.raises(CompressError, match="still running"):
        st.delete(running)
    st.mark_cancelled(running)
    assert st.get(running)["status"] == "cancelled"
    st.delete(running)
    assert not folder.exists()
    with pytest.raises(CompressError, match="no run with id"):
        st.get(running)
    assert [r["id"] for r in st.list_runs()] == [queued]


def test_reap_dead_owner_and_stale_heartbeat(tmp_path):
    st = RunStore(tmp_path, stale_after=30)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = st.create_run("train", SPEC, status="running", owner_pid=dead.pid)
    alive = st.create_run("train", SPEC, status="running")  # owned by this test process
    stale = st.create_run("train", SPEC, status="running")
    elsewhere = st.create_run("train", SPEC, status="running", owner_pid=1)
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    with conn:
        conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - 300 WHERE id = ?", (stale,))
        conn.execute("UPDATE runs SET owner_host = 'other-machine#x' WHERE id = ?", (elsewhere,))
    conn.close()
    assert st.get(gone)["status"] == "interrupted"  # get reaps: never shown as running
    assert "died" in st.get(gone)["error"]
    assert st.get(stale)["status"] == "interrupted" and "heartbeat" in st.get(stale)["error"]
    assert st.get(alive)["status"] == "running"
    assert st.get(elsewhere)["status"] == "running"  # another machine's pid can't be checked; heartbeat is fresh
    assert st.reap_dead() == []
    # a run declared dead after a stall may still deliver its result
    assert st.finish(stale, {"metrics": {"accuracy": 1.0}})
    assert st.get(stale)["status"] == "finished"


def _write_random(path: Path) -> bytes:
    data = b"not a database\n" + os.urandom(4096)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("make", ["random", "foreign", "foreign-wal", "damaged"])
def test_bad_files_are_refused_and_left_untouched(tmp_path, make):
    path = tmp_path / "runs.sqlite"
    if make == "random":
        _write_random(path)
        expected = "not an SQLite database"
    elif make == "damaged":
        path.write_bytes(store_mod.SQLITE_HEADER + os.urandom(8192))
        expected = "damaged|other application"
    else:
        conn = sqlite3.connect(path)
        if make == "foreign-wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
        conn.commit()
        conn.close()
        expected = "other application"
    before = path.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CompressError, match=expected) as info:
        RunStore(tmp_path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no -wal/-shm litter either


def test_newer_schema_is_refused(tmp_path):
    RunStore(tmp_path).create_run("train", SPEC)
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    conn.execute(f"PRAGMA user_version = {store_mod.SCHEMA_VERSION + 5}")
    conn.close()
    before = (tmp_path / "runs.sqlite").read_bytes()
    with pytest.raises(CompressError, match="newer"):
        RunStore(tmp_path)
    assert (tmp_path / "runs.sqlite").read_bytes() == before


def test_migration_path(tmp_path, monkeypatch):
    old = RunStore(tmp_path)
    run_id = old.create_run("train", SPEC)
    before = old.get(run_id)
    old.close()

    def add_note(conn):
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT 'migrated'")

    def broken(conn):
        conn.execute("ALTER TABLE runs ADD COLUMN half_done TEXT")
        raise RuntimeError("migration bug")

    # a failing migration rolls back completely: the store stays at the old version
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS + [broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        RunStore(tmp_path)
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
    assert "half_done" not in [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    conn.close()

    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1] + [add_note])
    new = RunStore(tmp_path)
    conn = sqlite3.connect(tmp_path / "runs.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    after = new.get(run_id)
    assert after.pop("note") == "migrated"
    assert after == before
    RunStore(tmp_path)  # already migrated: opens as is


def test_export_and_dataframe(tmp_path):
    st = RunStore(tmp_path)
    a = st.create_run("train", SPEC, status="running")
    st.finish(a, {"metrics": {"accuracy": 0.75, "sparsity": 0.5}, "environment": {"torch": "x"}})
    st.create_run("prune", {**SPEC, "kind": "prune", "amount": 0.5})
    df = st.to_dataframe()
    assert list(df["id"])[1] == a
    assert {"metric.accuracy", "metric.sparsity", "spec.model", "spec.hidden", "created_at"} <= set(df.columns)
    assert df.loc[df["id"] == a, "metric.accuracy"].item() == 0.75
    assert df.loc[df["id"] == a, "spec.hidden"].item() == "[16]"
    csv = st.export("csv")
    assert csv.splitlines()[0].startswith("id,kind,status") and "metric.accuracy" in csv.splitlines()[0]
    runs = json.loads(st.export("json"))
    assert [r["id"] for r in runs][1] == a and runs[1]["metrics"]["accuracy"] == 0.75
    with pytest.raises(CompressError, match="csv, json"):
        st.export("xlsx")
    assert list(st.to_dataframe([]).columns)[:3] == ["id", "kind", "status"]


CLAIMER = r"""
import json, os, sys
from compress_core.runs.store import RunStore
home, n = sys.argv[1], int(sys.argv[2])
st = RunStore(home)
made = [st.create_run("train", {"kind": "train", "i": i}) for i in range(n)]
claimed = []
while True:
    run = st.claim_next(os.getpid())
    if run is None:
        break
    st.update_progress(run["id"], {"stage": "train", "step": 1, "total": 1})
    st.heartbeat(run["id"])
    st.finish(run["id"], {"metrics": {"by": os.getpid()}})
    claimed.append(run["id"])
    st.list_runs()
print(json.dumps({"made": made, "claimed": claimed}))
"""


def test_concurrent_processes_and_threads_claim_each_run_once(tmp_path):
    """Several processes and threads open a fresh store at once, create and claim runs: none lost or doubled."""
    procs = start_scripts(CLAIMER, str(tmp_path), "25")
    made, claimed = [], []

    def thread_work():
        st = RunStore(tmp_path)
        mine = [st.create_run("train", SPEC) for _ in range(10)]
        made.extend(mine)
        while (run := st.claim_next()) is not None:
            claimed.append(run["id"])
            st.finish(run["id"], {"metrics": {"by": "thread"}})

    errors = run_threads(thread_work)
    for data in script_outputs(procs, timeout=120):
        made += data["made"]
        claimed += data["claimed"]
    assert not errors
    assert len(made) == len(set(made)) == 95
    assert sorted(claimed) == sorted(made)  # each run claimed exactly once
    runs = RunStore(tmp_path).list_runs()
    assert len(runs) == 95 and {r["status"] for r in runs} == {"finished"}
