"""Faults with real processes: killed workers, a full disk, a read-only artifacts folder, a closed
pipe, a run deleted under its worker, damaged artifacts. Each ends with a clear message, and no
finished run is lost or duplicated.

Disk and file-system faults are injected into the child processes through
`tests/fault_inject/sitecustomize.py` (see there), so the code under test runs unchanged.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from compress_core.errors import CompressError
from compress_core.runs import jobs
from compress_core.runs.store import RunStore

from concurrency_helpers import REPO, repo_env
from test_jobs import FAST, LONG, raw_row, started_training, wait_until

INJECT = Path(__file__).resolve().parent / "fault_inject"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "1")
    monkeypatch.setenv(jobs.ENV_WORKERS, "1")
    monkeypatch.setenv(jobs.ENV_IDLE, "15")
    monkeypatch.delenv("COMPRESS_LAB_HOME", raising=False)
    monkeypatch.delenv("COMPRESS_LAB_DATA_DIR", raising=False)
    monkeypatch.delenv("COMPRESS_LAB_TEST_FAULT", raising=False)
    yield tmp_path
    jobs.stop_workers(tmp_path)
    assert jobs.live_workers(tmp_path) == []


def with_fault(monkeypatch, fault: str) -> None:
    """Every process started from now on (workers, CLI runs) carries `fault`."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(INJECT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("COMPRESS_LAB_TEST_FAULT", fault)


def cli(home: Path, *args: str, fault: str | None = None, shell_tail: str = "") -> subprocess.CompletedProcess:
    env = repo_env()
    if fault:
        env["PYTHONPATH"] = os.pathsep.join([str(INJECT), env["PYTHONPATH"]])
        env["COMPRESS_LAB_TEST_FAULT"] = fault
    command = [sys.executable, "-m", "compress_core", *args, "--home", str(home)]
    if shell_tail:
        line = " ".join(f"'{c}'" for c in command) + shell_tail
        return subprocess.run(["bash", "-c", line], capture_output=True, text=True, env=env, cwd=REPO,
                              timeout=300)
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def tmp_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*.tmp")]


def test_killed_worker_is_replaced_when_a_page_polls(home):
    long = jobs.submit(LONG, home)
    run = wait_until(lambda: started_training(home, long), what="the long run to train")
    queued = jobs.submit(FAST, home)
    os.kill(run["owner_pid"], signal.SIGKILL)
    wait_until(lambda: jobs.get(long, home)["status"] == "interrupted", timeout=15, what="the reap")
    assert jobs.live_workers(home) == []
    # No submission and no restart: only a page polling (the Runs page or a progress bar calls this).
    finished = wait_until(lambda: (jobs.keep_workers(home, every=0.5), jobs.get(queued, home))[1]["status"]
                          == "finished", timeout=90, what="the queued run to be taken by a new worker")
    assert finished
    assert jobs.get(queued, home)["owner_pid"] != run["owner_pid"]


def test_disk_full_during_an_artifact_write_fails_the_run_clearly(home, monkeypatch):
    with_fault(monkeypatch, "enospc")
    first = jobs.submit(FAST, home)
    second = jobs.submit({**FAST, "seed": 1}, home)
    a = jobs.wait(first, home, timeout=120)
    b = jobs.wait(second, home, timeout=120)  # the queue goes on: not stuck behind the failure
    for run in (a, b):
        assert run["status"] == "failed"
        assert "the disk is full" in run["error"] and "\n" not in run["error"], run["error"]
    assert a["owner_pid"] == b["owner_pid"]  # recording the failure did not kill the worker
    assert tmp_files(home) == []  # no weights.tmp / model.pt.tmp left behind
    assert not any(p.name == "weights.pt" for p in home.rglob("weights.pt"))  # no half-written files either

    jobs.stop_workers(home)  # space freed: the next run works
    monkeypatch.delenv("COMPRESS_LAB_TEST_FAULT")
    again = jobs.wait(jobs.submit(FAST, home), home, timeout=120)
    assert again["status"] == "finished", again["error"]
    assert [r["status"] for r in RunStore(home).list_runs()].count("finished") == 1


def test_cli_run_into_a_read_only_artifacts_folder_ends_failed(home):
    done = cli(home, "train", "--model", "mlp", "--hidden", "16", "--epochs", "1", fault="erofs")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not write") and "read-only file system" in last
    runs = RunStore(home).list_runs()
    assert [r["status"] for r in runs] == ["failed"]  # not stuck "running"
    assert "read-only" in runs[0]["error"]


def test_closed_pipe_does_not_fail_the_run(home):
    # progress goes to stderr, the result to stdout: both into a reader that leaves after one line
    done = cli(home, "train", "--model", "mlp", "--hidden", "16", "--epochs", "3",
               shell_tail=" 2>&1 | head -1")
    assert done.returncode == 0
    assert len(done.stdout.strip().splitlines()) == 1
    runs = RunStore(home).list_runs()
    assert [r["status"] for r in runs] == ["finished"], runs[0]["error"]


def test_deleting_a_run_its_worker_still_holds_does_not_kill_the_worker(home):
    long = jobs.submit(LONG, home)
    run = wait_until(lambda: started_training(home, long), what="the long run to train")
    queued = jobs.submit(FAST, home)
    # The reaper declared the run dead (e.g. a stalled heartbeat under load) while its worker
    # still computes; then someone deletes it.
    conn = sqlite3.connect(home / "runs.sqlite")
    with conn:
        conn.execute("UPDATE runs SET status='interrupted', error='interrupted: stalled' WHERE id=?", (long,))
    conn.close()
    jobs.delete(long, home)
    after = jobs.wait(queued, home, timeout=120)
    assert after["status"] == "finished", after["error"]
    assert after["owner_pid"] == run["owner_pid"]  # the same worker, alive, went on with the queue
    assert run["owner_pid"] in jobs.live_workers(home)
    with pytest.raises(CompressError, match="unknown run|not found|no run"):
        jobs.get(long, home)


def test_recording_a_failure_never_raises(home, monkeypatch):
    """Even when the store refuses every write, `run_claimed` returns instead of killing its worker."""
    store = RunStore(home)
    run_id = store.create_run("train", {**FAST, "model": "no-such-model"})
    run = store.claim_next(os.getpid())

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(jobs, "RECORD_TRIES", 2)
    monkeypatch.setattr(store, "fail", locked)
    assert jobs.run_claimed(store, run, home) == "failed"
    assert store.get(run_id)["status"] == "running"  # left for the reaper; the worker lives on


def test_deleted_or_corrupted_artifact_gives_one_line(home):
    from compress_core.runs.export import load_run_model

    result = jobs.record_foreground(FAST, home=home)
    run = jobs.get(result["id"], home)
    weights = Path(run["artifacts"]["weights"]) if "artifacts" in run else None
    if weights is None:
        weights = Path((run.get("extra") or {}).get("artifacts", {})["weights"])
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CompressError, match="are corrupted and cannot be read") as info:
        load_run_model(result["id"], home)
    assert "\n" not in str(info.value)
    weights.unlink()
    with pytest.raises(CompressError, match="are missing"):
        load_run_model(result["id"], home)
    assert raw_row(home, result["id"])  # the finished run itself is still there
