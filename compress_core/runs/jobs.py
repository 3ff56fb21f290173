"""Background runs: a queue in the run store, drained by detached worker processes.

Why processes and not threads: a Streamlit script reruns (and its threads die)
on every click, training holds the CPU for minutes, and a crash inside torch
must not take the UI down. Workers are `python -m compress_core.jobs worker
--home H` processes in their own session, so they outlive reruns and even the
app; the queue lives in SQLite, so queued runs survive a restart and are picked
up by the next `ensure_workers`.

Workers register in `<home>/workers/<pid>.pid` (guarded by a file lock), which
lets repeated `ensure_workers` calls from any process keep at most
`max_workers` alive. Idle workers exit on their own after `idle_timeout`
seconds; `stop_workers` ends them at once (tests, shutdown).
"""
from __future__ import annotations

import _thread
import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

from compress_core import paths
from compress_core.errors import CompressError, RunCancelled
from compress_core.runs.artifacts import atomic_write, write_error
from compress_core.runs.store import FINISHED, RUNNING, TERMINAL_STATES, RunStore, host_id, pid_alive

ENV_WORKERS = "COMPRESS_LAB_WORKERS"
ENV_IDLE = "COMPRESS_LAB_WORKER_IDLE"
DEFAULT_IDLE_S = 60.0
POLL_S = 0.25            # how often an idle worker looks for queued runs
PROGRESS_EVERY_S = 0.2   # progress writes are throttled to this; the last event is always written
HEARTBEAT_S = 2.0        # well below store.STALE_AFTER_S
CANCEL_GRACE_S = 2.0     # after this, a cancel that the run's callback has not acted on interrupts it
WORKERS_DIR = "workers"
LOG_MAX_BYTES = 5_000_000

_PKG_ROOT = Path(__file__).resolve().parents[2]  # the folder holding compress_core
_children: dict[int, subprocess.Popen] = {}  # workers this process started; polled so they don't stay zombies
_stores: dict[Path, RunStore] = {}
_stores_lock = threading.Lock()
_pool_thread_lock = threading.Lock()


class WorkerStopped(BaseException):
    """Raised in a worker asked to stop (SIGTERM); a BaseException so a run's `except Exception` cannot swallow it."""


# Set by a worker's SIGTERM during a run. The run stops at its next progress callback, a point where the engine is
# between steps. Raising from the signal handler instead lands wherever the run is: seen inside numpy's first import,
# where a handler of BaseException (a bare `except:`) caught it; the run then failed on the half-imported numpy
# ("module 'numpy' has no attribute 'multiply'") and the worker went on as if never asked to stop, until SIGKILL.
_STOP = threading.Event()
STOPPED = "interrupted: the worker was stopped before the run ended"


class WorkerTainted(BaseException):
    """A run was stopped by the cancel fallback's interrupt, which lands wherever the run happened to be.

    That may be inside an import or a library's lock, leaving half-initialised modules behind: a cancel that hit
    torch's lazy import of sympy (the optimizer's first `torch._dynamo` import) made the next run in the same worker
    fail with `RecursionError` in sympy. The run is recorded as cancelled; the worker then starts afresh
    (`_restart`) instead of running the queue in a process it can no longer trust.
    """


# ---------------------------------------------------------------- helpers
def open_store(home=None) -> RunStore:
    """A RunStore per home, reused so polling (`wait`, `watch`, the UI) does not re-validate the file each time."""
    key = paths.home_dir(home).resolve()
    with _stores_lock:
        store = _stores.get(key)
        if store is None or not store.path.exists():
            store = _stores[key] = RunStore(key)
        return store


def default_max_workers() -> int:
    """`$COMPRESS_LAB_WORKERS`, else half the cores (training already uses several threads each)."""
    env = os.environ.get(ENV_WORKERS)
    if env:
        try:
            value = int(env)
        except ValueError:
            raise CompressError(f"{ENV_WORKERS}={env!r} must be a whole number of workers, e.g. 2") from None
        if value < 1:
            raise CompressError(f"{ENV_WORKERS}={env!r} must be at least 1")
        return min(value, os.cpu_count() or value)  # more workers than cores only thrash
    return max(1, (os.cpu_count() or 2) // 2)


def _default_idle() -> float:
    try:
        return float(os.environ.get(ENV_IDLE) or DEFAULT_IDLE_S)
    except ValueError:
        raise CompressError(f"{ENV_IDLE}={os.environ[ENV_IDLE]!r} must be a number of seconds") from None


def _workers_dir(home: Path) -> Path:
    path = home / WORKERS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _pool_lock(home: Path):
    """Serialise counting/starting/retiring workers across threads and processes."""
    with _pool_thread_lock:
        try:
            import fcntl
        except ImportError:  # Windows: the thread lock is all we have
            yield
            return
        with open(_workers_dir(home) / "pool.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _register(home: Path, pid: int) -> None:
    """Write the pid file whole (temporary file, then rename): a reader that caught a worker rewriting
    its file half written took it for garbage and removed it, and the pool started a second worker."""
    info = json.dumps({"pid": pid, "host": host_id(), "started_at": time.time()})
    atomic_write(_workers_dir(home) / f"{pid}.pid", lambda tmp: tmp.write_text(info))


def _unregister(home: Path, pid: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (_workers_dir(home) / f"{pid}.pid").unlink()


def _is_worker(pid: int) -> bool:
    """Alive and still our worker (a recycled pid belongs to some other program)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
        return False
    if not pid_alive(pid):
        return False
    try:
        return b"compress_core.runs.jobs" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True


def live_workers(home=None) -> list[int]:
    """Pids of this machine's live workers for `home`; stale pid files are removed."""
    home = paths.home_dir(home)
    for pid, child in list(_children.items()):  # reap exited children
        if child.poll() is not None:
            _children.pop(pid, None)
    pids = []
    for file in sorted(_workers_dir(home).glob("*.pid")):
        try:
            info = json.loads(file.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                file.unlink()
            continue
        if info.get("host") != host_id():
            continue  # a shared home on another machine: not ours to judge
        if _is_worker(pid):
            pids.append(pid)
        else:
            with contextlib.suppress(OSError):
                file.unlink()
    return pids


def _spawn(home: Path, idle_timeout: float, threads: int) -> int:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PKG_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", str(threads))  # N workers x all cores each would thrash
    env.setdefault("MKL_NUM_THREADS", str(threads))
    log_path = _workers_dir(home) / "workers.log"
    with contextlib.suppress(OSError):  # keep one old generation instead of growing forever
        if log_path.stat().st_size > LOG_MAX_BYTES:
            log_path.replace(log_path.with_name("workers.log.1"))
    log = open(log_path, "ab")
    kwargs = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True  # not killed with the UI's process group / terminal
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "compress_core.runs.jobs", "worker", "--home", str(home),
             "--idle-timeout", str(idle_timeout)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(home), env=env,
            close_fds=True, **kwargs)
    finally:
        log.close()
    _children[child.pid] = child
    return child.pid


# ---------------------------------------------------------------- pool
def ensure_workers(home=None, max_workers: int | None = None, idle_timeout: float | None = None) -> list[int]:
    """Start workers for queued runs, never more than `max_workers` alive per home; return live pids.

    Safe to call on every Streamlit rerun and from several processes at once.
    """
    home = paths.home_dir(home)
    store = open_store(home)  # a corrupt store fails here, in the caller, not in a worker log
    limit = default_max_workers() if max_workers is None else max(1, int(max_workers))
    idle = _default_idle() if idle_timeout is None else float(idle_timeout)
    threads = max(1, (os.cpu_count() or 1) // limit)
    with _pool_lock(home):
        alive = live_workers(home)
        wanted = min(limit - len(alive), store.count("queued"))
        for _ in range(max(0, wanted)):
            pid = _spawn(home, idle, threads)
            _register(home, pid)  # now, under the lock, so a concurrent call counts it
            alive.append(pid)
    return alive


def stop_workers(home=None, timeout: float = 10.0) -> int:
    """SIGTERM this home's workers (their current runs become `interrupted`), SIGKILL stragglers."""
    home = paths.home_dir(home)
    pids = live_workers(home)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_is_worker(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _is_worker(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        _unregister(home, pid)
    for pid in pids:  # collect exit statuses of our own children
        child = _children.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
    open_store(home).reap_dead()
    return len(pids)


# ---------------------------------------------------------------- running one run
class _Progress:
    """Progress callback: writes events to the store (throttled) and turns a cancel request into RunCancelled."""

    def __init__(self, store: RunStore, run_id: str, forward: Callable | None = None,
                 every: float = PROGRESS_EVERY_S):
        self.store, self.run_id, self.forward, self.every = store, run_id, forward, every
        self._last = 0.0
        self._pending: dict | None = None

    def __call__(self, event) -> None:
        if _STOP.is_set():  # the worker was asked to stop: this is the run's safe point
            raise WorkerStopped()
        if self.forward is not None:
            try:
                self.forward(event)
            except BrokenPipeError:  # `... 2>&1 | head -1`: the reader left; the run itself is fine
                self.forward = None
                silence_closed_streams()
        data = event.to_dict() if hasattr(event, "to_dict") else dict(event)
        self._pending = data
        now = time.monotonic()
        done = bool(data.get("total")) and data.get("step") == data.get("total")
        if now - self._last >= self.every or done:
            self.flush()
            self._last = now
            if self.store.is_cancel_requested(self.run_id):
                raise RunCancelled(f"run {self.run_id} was cancelled")

    def flush(self) -> None:
        if self._pending is not None:
            self.store.update_progress(self.run_id, self._pending)
            self._pending = None


class _Heartbeat(threading.Thread):
    """Keeps heartbeat_at fresh while the run computes; optionally interrupts a run that ignores a cancel or a stop
    (`_STOP`) for CANCEL_GRACE_S, because it never reaches its progress callback."""

    def __init__(self, store: RunStore, run_id: str, interrupt_if_ignored: bool = False,
                 interval: float = HEARTBEAT_S):
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.store, self.run_id, self.interval = store, run_id, interval
        self.interrupt_if_ignored = interrupt_if_ignored
        self.cancel_interrupted = False
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._active = True

    def run(self) -> None:
        asked = None
        while not self._stop_event.wait(self.interval):
            try:
                self.store.heartbeat(self.run_id)
                stopping = _STOP.is_set()
                if self.interrupt_if_ignored and (stopping or self.store.is_cancel_requested(self.run_id)):
                    asked = asked or time.monotonic()
                    if time.monotonic() - asked >= CANCEL_GRACE_S:
                        with self._lock:
                            if self._active:  # the runner never reached its progress callback: stop it
                                self.cancel_interrupted = not stopping
                                _thread.interrupt_main()
                                return
            except Exception:  # a missed beat is not worth killing the run for
                traceback.print_exc()

    def stop(self) -> None:
        with self._lock:
            self._active = False
        self._stop_event.set()


def execute(spec: dict, on_progress, artifacts_dir: Path, home: Path, run_id: str | None = None,
            data_dir=None) -> dict:
    """Run one spec with the engine and return the result dict (the engine is imported here, not at
    module level, so a worker process starts fast and polls the store before torch is loaded)."""
    from compress_core import api

    return api.run(spec, on_progress, home=home, data_dir=data_dir, artifacts_dir=artifacts_dir,
                   run_id=run_id).to_dict()


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def silence_closed_streams() -> None:
    """Point stdout/stderr at /dev/null once a pipe reader has gone, so later prints cannot raise."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(devnull, stream.fileno())


RECORD_TRIES = 5


def _record(action: Callable, run_id: str, *args) -> bool:
    """Record how a run ended without ever raising: a worker must outlive any recording fault.

    Retries a busy or briefly failing store a few times; a run deleted meanwhile is simply
    gone. What still fails is printed to the worker log; the run is then reaped as
    interrupted once its heartbeat goes stale, and the worker goes on with the queue.
    """
    for attempt in range(RECORD_TRIES):
        try:
            return bool(action(run_id, *args))
        except CompressError:  # the run was deleted while it ran: nothing left to record
            return False
        except Exception:
            if attempt == RECORD_TRIES - 1:
                print(f"[worker {os.getpid()}] could not record the end of run {run_id}:", flush=True)
                traceback.print_exc()
                return False
            time.sleep(0.2 * 2 ** attempt)
    return False


def run_claimed(store: RunStore, run: dict, home: Path) -> str:
    """Execute a claimed run and record how it ended; returns the final status.

    Only WorkerStopped (the worker is asked to stop) and WorkerTainted (a cancel interrupted the run mid-step: it is
    recorded as cancelled, and the process should not run anything else) escape."""
    run_id = run["id"]
    progress = _Progress(store, run_id)
    beat = _Heartbeat(store, run_id, interrupt_if_ignored=threading.current_thread() is threading.main_thread())
    beat.start()
    try:
        try:
            result = execute(run["spec"], progress, store.artifacts_dir(run_id), home, run_id=run_id)
        finally:
            beat.stop()
        progress.flush()
        store.finish(run_id, dict(result))
        return FINISHED
    except RunCancelled:
        _record(store.mark_cancelled, run_id)
        return "cancelled"
    except KeyboardInterrupt:
        if beat.cancel_interrupted or _record(store.is_cancel_requested, run_id):
            _record(store.mark_cancelled, run_id)
            raise WorkerTainted() from None
        why = STOPPED if _STOP.is_set() else "interrupted: the worker was stopped (Ctrl-C)"
        _record(store.mark_interrupted, run_id, why)
        raise WorkerStopped() from None
    except WorkerStopped:
        _record(store.mark_interrupted, run_id, STOPPED)
        raise
    except Exception as exc:
        traceback.print_exc()
        if _STOP.is_set():  # an error after the stop's interrupt (one a library swallowed) is the stop's doing
            _record(store.mark_interrupted, run_id, STOPPED)
            raise WorkerStopped() from None
        _record(store.fail, run_id, _error_text(exc))  # never raises: the worker goes on with the queue
        return "failed"
    finally:
        beat.stop()


def worker_main(home=None, idle_timeout: float | None = None, poll: float = POLL_S) -> None:
    """Loop: claim the oldest queued run, run it, repeat; exit after `idle_timeout` s with nothing to do."""
    home = paths.home_dir(home)
    idle_timeout = _default_idle() if idle_timeout is None else idle_timeout
    store = RunStore(home)
    pid = os.getpid()

    busy = {"run": False}

    def on_term(signum, frame):
        _STOP.set()
        if not busy["run"]:  # idle: nothing to interrupt, leave now; a run stops at its next safe point (_STOP)
            raise WorkerStopped()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # needed by the cancel fallback (interrupt_main)
    _register(home, pid)
    idle_since = time.monotonic()
    try:
        while True:
            if _STOP.is_set():
                raise WorkerStopped()
            busy["run"] = True
            try:
                run = store.claim_next(pid)
                status = _run_or_restart(store, run, home) if run is not None else None
            finally:
                busy["run"] = False
            if run is not None:
                if status is None:
                    return  # a cancel tainted the process and it cannot be replaced: retire (a submit starts another)
                print(f"[worker {pid}] run {run['id']} {status}", flush=True)
                idle_since = time.monotonic()
                continue
            if time.monotonic() - idle_since >= idle_timeout:
                # retire under the pool lock: a run submitted meanwhile is either seen here or,
                # once we are unregistered, makes ensure_workers start a new worker
                with _pool_lock(home):
                    _unregister(home, pid)
                    if store.count("queued") == 0:
                        return
                    _register(home, pid)
                idle_since = time.monotonic()
                continue
            time.sleep(poll)
    except (WorkerStopped, KeyboardInterrupt):
        print(f"[worker {pid}] stopped", flush=True)
    finally:
        _unregister(home, pid)


def _run_or_restart(store: RunStore, run: dict, home: Path) -> str | None:
    """`run_claimed`, logged; after a run a cancel interrupted mid-step (WorkerTainted), the worker's interpreter is
    replaced (`_restart`, which does not return where it can). None: it could not be, and the worker should retire."""
    pid = os.getpid()
    print(f"[worker {pid}] run {run['id']} ({run['kind']})", flush=True)
    try:
        return run_claimed(store, run, home)
    except WorkerTainted:
        if _STOP.is_set():  # asked to stop as well: leave rather than start afresh
            raise WorkerStopped() from None
        print(f"[worker {pid}] run {run['id']} cancelled mid-step; the worker starts afresh", flush=True)
        _restart()
        return None


def _restart() -> None:
    """Replace this worker's interpreter with a fresh one running the same command (same pid, so it stays
    registered; same log and environment). Returns only where that is impossible (no `execv`, not POSIX)."""
    argv = getattr(sys, "orig_argv", None)
    if os.name != "posix" or not argv:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *argv[1:]])


# ---------------------------------------------------------------- API for the UI and the CLI
def submit(spec: dict, home=None, parent_id: str | None = None, start_workers: bool = True) -> str:
    """Queue a run (spec dict with a "kind") and make sure a worker will take it; returns the run id."""
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise CompressError(f"a run spec must be a dict with a 'kind' string, not {spec!r}")
    home = paths.home_dir(home)
    spec = _absolute_data_path(spec)
    from compress_core.sharing import check_queue  # the global cap, for the UI, CLI and API alike

    run_id = open_store(home).create_run(spec["kind"], spec, parent_id=parent_id, check_queue=check_queue)
    if start_workers:
        ensure_workers(home)
    return run_id


KEEP_EVERY_S = 2.0
_kept: dict[Path, float] = {}


def keep_workers(home=None, every: float = KEEP_EVERY_S) -> None:
    """`ensure_workers` for pollers (pages, `wait`), at most once per `every` s per home.

    Queued runs then never wait for the next submission after a worker was killed:
    whoever is watching restarts the pool. Failures are left to the next poll.
    """
    key = paths.home_dir(home)
    now = time.monotonic()
    if now - _kept.get(key, -every) < every:
        return
    _kept[key] = now
    with contextlib.suppress(CompressError, OSError):
        if open_store(key).count("queued"):
            ensure_workers(key)


def _absolute_data_path(spec: dict) -> dict:
    """A relative .csv/.npz data path, made absolute now: workers run in another folder."""
    data = spec.get("dataset")
    if isinstance(data, str) and data.lower().endswith((".csv", ".npz")) and not os.path.isabs(data):
        return {**spec, "dataset": os.path.abspath(os.path.expanduser(data))}
    return spec


def get(run_id: str, home=None) -> dict:
    """One run record (see RunStore.get)."""
    return open_store(home).get(run_id)


def list_runs(home=None, status=None, kind: str | None = None):
    """Runs as a pandas DataFrame, newest first, for the runs table."""
    store = open_store(home)
    return store.to_dataframe(store.list_runs(status=status, kind=kind))


def cancel(run_id: str, home=None) -> str:
    """Cancel a queued or running run; returns the status right after the request."""
    return open_store(home).cancel(run_id)


def delete(run_id: str, home=None) -> None:
    """Delete a run that is not running, with its artifacts."""
    open_store(home).delete(run_id)


def wait(run_id: str, home=None, timeout: float | None = None, interval: float = 0.2) -> dict:
    """Block until the run ends and return its record; TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    store = open_store(home)
    while True:
        run = store.get(run_id)
        if run["status"] in TERMINAL_STATES:
            return run
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout} s")
        time.sleep(interval)


def watch(run_id: str, home=None, interval: float = 0.2) -> Iterator[dict]:
    """Yield the run's progress dict (plus "status") whenever it changes, ending with the final status."""
    store = open_store(home)
    last = None
    while True:
        run = store.get(run_id)
        current = {**(run.get("progress") or {}), "status": run["status"]}
        if current != last:
            last = current
            yield current
        if run["status"] in TERMINAL_STATES:
            return
        time.sleep(interval)


def record_foreground(spec: dict, home=None, data_dir=None, on_progress: Callable | None = None,
                      parent_id: str | None = None) -> dict:
    """Run `spec` in this process but record it like a background run, so CLI runs show up in the UI.

    Progress goes to the store and to `on_progress`; a cancel from the UI raises RunCancelled here.
    Errors are recorded and re-raised. Returns the result dict, its "id" being the store's run id.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise CompressError(f"a run spec must be a dict with a 'kind' string, not {spec!r}")
    home = paths.home_dir(home)
    store = open_store(home)
    run_id = store.create_run(spec["kind"], spec, status=RUNNING, parent_id=parent_id, owner_pid=os.getpid())
    progress = _Progress(store, run_id, forward=on_progress)
    beat = _Heartbeat(store, run_id)
    beat.start()
    try:
        try:
            try:  # inside the try: a read-only artifacts folder fails the run instead of leaving it "running"
                artifacts = store.artifacts_dir(run_id)
            except OSError as exc:
                raise write_error(exc, store.artifacts_root / run_id) from None
            result = execute(spec, progress, artifacts, home, run_id=run_id, data_dir=data_dir)
        finally:
            beat.stop()
        progress.flush()
        result.update(id=run_id, status=FINISHED)
        store.finish(run_id, result)
        return result
    except RunCancelled:
        _record(store.mark_cancelled, run_id)
        raise
    except KeyboardInterrupt:
        _record(store.mark_interrupted, run_id, "interrupted: stopped with Ctrl-C")
        raise
    except BaseException as exc:
        _record(store.fail, run_id, _error_text(exc))
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compress_core.jobs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run queued runs until idle")
    w.add_argument("--home")
    w.add_argument("--idle-timeout", type=float, default=None)
    s = sub.add_parser("stop", help="stop this home's workers")
    s.add_argument("--home")
    args = parser.parse_args(argv)
    try:
        if args.command == "worker":
            worker_main(args.home, idle_timeout=args.idle_timeout)
            # like multiprocessing's children: skip interpreter teardown, which takes seconds once
            # torch is loaded; everything worth keeping is already committed to the store
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        else:
            print(f"stopped {stop_workers(args.home)} worker(s)")
    except CompressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
