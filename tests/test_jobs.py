"""Background jobs with real worker processes and the real engine (small `train` runs on digits)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from compress_core.runs import jobs
from compress_core.errors import CompressError
from compress_core.runs.store import RunStore

from concurrency_helpers import repo_env, run_threads, script_outputs, start_scripts

FAST = {"kind": "train", "model": "mlp", "dataset": "digits", "hidden": [16], "epochs": 1, "seed": 0}
LONG = {**FAST, "hidden": [256], "epochs": 2000}  # minutes of work: only ever killed or cancelled


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home with one short-lived worker at most; every worker is stopped afterwards."""
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "1")
    monkeypatch.setenv(jobs.ENV_WORKERS, "1")
    monkeypatch.setenv(jobs.ENV_IDLE, "15")
    monkeypatch.delenv("COMPRESS_LAB_HOME", raising=False)
    monkeypatch.delenv("COMPRESS_LAB_DATA_DIR", raising=False)
    yield tmp_path
    jobs.stop_workers(tmp_path)
    assert jobs.live_workers(tmp_path) == []


def raw_row(home: Path, run_id: str) -> tuple:
    conn = sqlite3.connect(home / "runs.sqlite")
    try:
        return tuple(conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())
    finally:
        conn.close()


def wait_until(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def started_training(home, run_id):
    run = jobs.get(run_id, home)
    assert run["status"] in ("queued", "running"), run
    return run if (run["progress"] or {}).get("step", 0) >= 1 else None


def worker_log(home) -> str:
    path = home / "workers" / "workers.log"
    return path.read_text() if path.exists() else ""


def test_kill9_interrupts_only_that_run(home):
    done = jobs.submit(FAST, home)
    assert jobs.wait(done, home, timeout=60)["status"] == "finished"
    done_row = raw_row(home, done)
    long = jobs.submit(LONG, home)
    run = wait_until(lambda: started_training(home, long), what="the long run to train")
    queued = jobs.submit(FAST, home)  # the only worker is busy: stays queued
    assert jobs.get(queued, home)["status"] == "queued"
    assert jobs.live_workers(home) == [run["owner_pid"]]

    os.kill(run["owner_pid"], signal.SIGKILL)
    run = wait_until(lambda: (r := jobs.get(long, home))["status"] != "running" and r, timeout=10,
                     what="the killed run to be reaped")
    assert run["status"] == "interrupted" and "died" in run["error"]
    assert jobs.get(queued, home)["status"] == "queued"
    assert raw_row(home, done) == done_row

    jobs.ensure_workers(home)  # e.g. the next UI rerun
    assert jobs.wait(queued, home, timeout=60)["status"] == "finished"
    assert raw_row(home, done) == done_row
    assert jobs.get(long, home)["status"] == "interrupted"


def test_exception_in_a_run_fails_only_that_run(home):
    bad = jobs.submit({**FAST, "model": "no-such-model"}, home)
    good = jobs.submit(FAST, home)
    failed = jobs.wait(bad, home, timeout=60)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("CompressError: ") and "no-such-model" in failed["error"]
    ok = jobs.wait(good, home, timeout=60)
    assert ok["status"] == "finished" and ok["error"] is None
    assert 0 <= ok["metrics"]["accuracy"] <= 1
    assert ok["environment"]["torch"] and ok["history"] and ok["layers"]
    assert ok["owner_pid"] == failed["owner_pid"]  # the same worker carried on


SUBMITTER = r"""
import json, sys
from compress_core.runs import jobs
home, n = sys.argv[1], int(sys.argv[2])
spec = json.loads(sys.argv[3])
print(json.dumps([jobs.submit(dict(spec, seed=0), home) for i in range(n)]))
"""


def test_twenty_runs_from_threads_and_processes(home, monkeypatch):
    monkeypatch.setenv(jobs.ENV_WORKERS, "2")
    procs = start_scripts(SUBMITTER, str(home), "4", json.dumps(FAST))
    ids = []
    errors = run_threads(lambda: ids.extend(jobs.submit(dict(FAST), home) for _ in range(4)))
    for submitted in script_outputs(procs, timeout=60):
        ids += submitted
    assert not errors
    assert len(ids) == len(set(ids)) == 20
    assert len(jobs.live_workers(home)) <= 2
    for run_id in ids:
        run = jobs.wait(run_id, home, timeout=90)
        assert run["status"] == "finished", run["error"]
    table = jobs.list_runs(home)
    assert sorted(table["id"]) == sorted(ids) and set(table["status"]) == {"finished"}
    log = worker_log(home)
    assert "locked" not in log
    for run_id in ids:  # each run executed exactly once
        assert log.count(f"run {run_id} (train)") == 1


def test_queued_runs_survive_a_restart(home):
    # a CLI run, recorded in the foreground by this process
    result = jobs.record_foreground(FAST, home=home)
    finished = result["id"]
    row = raw_row(home, finished)
    record = jobs.get(finished, home)
    assert record["status"] == "finished" and record["owner_pid"] == os.getpid()
    assert record["metrics"] == result["metrics"]

    q1 = jobs.submit(FAST, home, start_workers=False)
    q2 = jobs.submit(FAST, home, start_workers=False, parent_id=finished)
    assert jobs.live_workers(home) == []

    reopened = RunStore(home)  # "restart": a fresh store object on the same file
    assert [r["status"] for r in reopened.list_runs(status="queued")] == ["queued", "queued"]
    assert reopened.get(finished) == record and raw_row(home, finished) == row

    assert len(jobs.ensure_workers(home)) == 1
    assert jobs.wait(q1, home, timeout=60)["status"] == "finished"
    second = jobs.wait(q2, home, timeout=60)
    assert second["status"] == "finished" and second["parent_id"] == finished
    assert raw_row(home, finished) == row


def test_record_foreground_records_failures(home):
    with pytest.raises(CompressError, match="no-such-model"):
        jobs.record_foreground({**FAST, "model": "no-such-model"}, home=home)
    (run,) = RunStore(home).list_runs()
    assert run["status"] == "failed" and "no-such-model" in run["error"]


def test_cancel_queued_and_running(home):
    queued = jobs.submit(FAST, home, start_workers=False)
    assert jobs.cancel(queued, home) == "cancelled"
    assert jobs.get(queued, home)["status"] == "cancelled"

    long = jobs.submit(LONG, home)
    wait_until(lambda: started_training(home, long), what="the long run to train")
    events = jobs.watch(long, home, interval=0.05)
    assert next(events)["status"] == "running"
    asked = time.monotonic()
    assert jobs.cancel(long, home) == "running"
    final = list(events)[-1]
    assert final["status"] == "cancelled"
    assert time.monotonic() - asked < 5
    run = jobs.get(long, home)
    assert run["status"] == "cancelled" and run["progress"]["stage"]
    assert jobs.get(queued, home)["started_at"] is None  # never ran
    after = jobs.submit(FAST, home)  # the worker is still fine
    assert jobs.wait(after, home, timeout=60)["status"] == "finished"


SILENT_WORKER = r"""
import sys, time
from compress_core.runs import jobs

def silent(spec, on_progress, artifacts_dir, home, run_id=None, data_dir=None):
    end = time.time() + 60  # busy for a minute and never calls on_progress
    while time.time() < end:
        sum(range(10000))
    return {}

jobs.execute = silent
jobs.worker_main(sys.argv[1], idle_timeout=5)
"""


def test_cancel_and_stop_reach_a_run_that_reports_no_progress(home):
    """A cancel must not depend on the engine calling back often; SIGTERM leaves an honest `interrupted`."""
    first = jobs.submit({"kind": "train"}, home, start_workers=False)
    second = jobs.submit({"kind": "train"}, home, start_workers=False)
    worker = subprocess.Popen([sys.executable, "-c", SILENT_WORKER, str(home)], env=repo_env())
    try:
        wait_until(lambda: jobs.get(first, home)["status"] == "running", what="the silent run to start")
        asked = time.monotonic()
        assert jobs.cancel(first, home) == "running"
        assert jobs.wait(first, home, timeout=15)["status"] == "cancelled"
        assert time.monotonic() - asked < 8
        wait_until(lambda: jobs.get(second, home)["status"] == "running", what="the next run to start")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    run = jobs.get(second, home)
    assert run["status"] == "interrupted" and "stopped" in run["error"]



STOPPABLE_WORKER = r"""
import sys, time
from compress_core.runs import jobs

def execute(spec, on_progress, artifacts_dir, home, run_id=None, data_dir=None):
    end = time.time() + 60
    if spec.get("swallows"):  # silent, inside a library whose bare `except:` loses the stop's interrupt
        try:
            while time.time() < end:
                sum(range(10000))
        except BaseException:
            pass
        raise AttributeError("module 'numpy' has no attribute 'multiply'")  # what a half-imported module gives
    step = 0
    while time.time() < end:  # a run that reports progress often, as the engine's training loops do
        step += 1
        on_progress({"step": step, "total": 10 ** 9})
        time.sleep(0.01)
    return {}

jobs.execute = execute
jobs.worker_main(sys.argv[1], idle_timeout=30)
"""


@pytest.mark.parametrize("swallows", [False, True], ids=["at-its-progress-callback", "interrupt-swallowed"])
def test_a_stopped_worker_ends_its_run_as_interrupted_and_exits(home, swallows):
    """SIGTERM stops the run at its next progress callback, not wherever the signal lands (seen: inside numpy's
    first import, where a bare `except:` swallowed it; the run then failed on the half-imported numpy and the
    worker went on until SIGKILL). A run that never calls back is interrupted after CANCEL_GRACE_S, and if that
    interrupt is lost too, the worker still leaves once the run ends, which is then recorded as interrupted."""
    run_id = jobs.submit({"kind": "train", "swallows": swallows}, home, start_workers=False)
    queued = jobs.submit({"kind": "train"}, home, start_workers=False)
    worker = subprocess.Popen([sys.executable, "-c", STOPPABLE_WORKER, str(home)], env=repo_env())
    try:
        wait_until(lambda: jobs.get(run_id, home)["status"] == "running", what="the run to start")
        time.sleep(0.5)
        asked = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        assert time.monotonic() - asked < (9 if swallows else 5)  # stop_workers would SIGKILL after 10 s
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    run = jobs.get(run_id, home)
    assert run["status"] == "interrupted" and run["error"] == "interrupted: the worker was stopped before the run ended"
    assert jobs.get(queued, home)["status"] == "queued"  # the stopping worker took nothing else


TAINTABLE_WORKER = r"""
import os, sys, time
from compress_core.runs import jobs

left_over = {}  # lives as long as this interpreter, like a module an interrupt left half imported

def execute(spec, on_progress, artifacts_dir, home, run_id=None, data_dir=None):
    if spec.get("busy"):
        left_over["half done"] = True
        end = time.time() + 60  # never calls on_progress: only the interrupt can stop it
        while time.time() < end:
            sum(range(10000))
    return {"metrics": {"pid": os.getpid(), "fresh_interpreter": not left_over}}

jobs.execute = execute
jobs.worker_main(sys.argv[1], idle_timeout=5)
"""


def test_a_worker_whose_run_was_interrupted_by_a_cancel_runs_the_next_one_in_a_fresh_interpreter(home):
    """The cancel fallback's interrupt can land inside an import (seen: torch's lazy sympy import, after which the
    same worker's next run failed with RecursionError): the worker replaces its interpreter before the next run."""
    busy = jobs.submit({"kind": "train", "busy": True}, home, start_workers=False)
    after = jobs.submit({"kind": "train"}, home, start_workers=False)
    worker = subprocess.Popen([sys.executable, "-c", TAINTABLE_WORKER, str(home)], env=repo_env())
    try:
        wait_until(lambda: jobs.get(busy, home)["status"] == "running", what="the busy run to start")
        jobs.cancel(busy, home)
        assert jobs.wait(busy, home, timeout=15)["status"] == "cancelled"
        run = jobs.wait(after, home, timeout=30)
        assert run["status"] == "finished", run
        assert run["metrics"] == {"pid": worker.pid, "fresh_interpreter": True}  # same process, new interpreter
        assert (home / "workers" / f"{worker.pid}.pid").exists()  # still registered: no second worker is started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=15)


def test_a_worker_registering_itself_is_never_mistaken_for_a_stale_pid_file(tmp_path, monkeypatch):
    # A worker rewrites its pid file when it starts. A page or `submit` reading the file while it was
    # half written took it for garbage and removed it: the pool then started a second worker beside
    # the first (CI saw two runs of a one-worker home taken by two pids).
    monkeypatch.setattr(jobs, "_is_worker", lambda pid: True)
    stop = threading.Event()

    def keep_registering():
        while not stop.is_set():
            jobs._register(tmp_path, 4242)

    writer = threading.Thread(target=keep_registering)
    jobs._register(tmp_path, 4242)
    writer.start()
    try:
        seen = [jobs.live_workers(tmp_path) for _ in range(3000)]
    finally:
        stop.set()
        writer.join()
    assert all(pids == [4242] for pids in seen), [pids for pids in seen if pids != [4242]][:3]
    assert [p.name for p in (tmp_path / "workers").iterdir()] == ["4242.pid"]  # no temporary files left
