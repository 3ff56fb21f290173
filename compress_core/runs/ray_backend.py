"""The Ray job backend: every run is one Ray task; the driver alone writes the run store.

Why a driver: SQLite must not be written from many machines at once (network file systems
break its locks), so tasks never open the store. They send progress events to a small
actor; the driver (the CLI process, or a detached `python -m compress_core.runs.ray_backend
drive` process started by the browser) drains it, writes progress, heartbeats and results to
`<home>/runs.sqlite`, and passes a cancel request in the store (browser or `runs cancel`) on to the
task (its progress callback raises RunCancelled; a task silent for `jobs.CANCEL_GRACE_S` is stopped with
`ray.cancel(force=True)`). The Runs page therefore shows cluster runs exactly like local ones; each
finished run records the `node` that ran it.

What travels how:
- The data set and the cached baseline reach a task through the home folder, which must be on
  storage every node mounts at the same path (NFS, a cluster file system; on one machine, any
  folder): the task calls the same `get_baseline` and finds the baseline the driver (or the
  first task) cached there; nothing is downloaded again. A sensitivity scan trains or loads
  its baseline in the driver before any task starts, so every layer task hits the cache.
  Ray's object store would be the way when the nodes share no file system (`ray.put` of the
  data and the baseline's state dict once, the reference passed to every task); it is not
  used here because runs write artifacts whose paths are stored in the record, and those must
  be readable by the UI afterwards anyway.
- Artifacts: the task writes them in `<home>/artifacts/<run id>/` (shared storage, the paths
  stored in the result stay valid); a retried attempt writes the same files again.
- Results and progress events come back through Ray (task return value, the events actor).

Losses: a task whose worker or node dies is retried by Ray up to `max_retries` times
(`retry_exceptions=False`: a run that raises is a failed run, not retried); after that the
run is marked interrupted. Each run is recorded once, by the driver, from its one ObjectRef,
and the store only closes open runs, so a run is never recorded twice.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

from compress_core import paths
from compress_core.errors import CompressError, RunCancelled
from compress_core.runs import jobs
from compress_core.runs.store import ARTIFACTS, FINISHED, RUNNING, TERMINAL_STATES, check_run_id

RAY_PIN = "ray==2.60.0"
INSTALL_HINT = f"the ray backend needs Ray: pip install -r requirements-optional.txt (or pip install {RAY_PIN})"
ENV_ADDRESS = "RAY_ADDRESS"  # Ray's own convention, read by `ray start`, `ray job submit` and ray.init
CONNECT_TIMEOUT_S = 5.0      # a TCP probe before ray.init, which can retry for a minute on a dead address
MAX_RETRIES = 2              # attempts after the first when a task's worker or node dies
CPUS_PER_RUN = 1             # one core per run: sweeps are many small runs (see explore.sweep.default_workers)
POLL_S = 0.2
CANCEL_CHECK_S = 0.5         # a task's progress callback asks the events actor this often whether it is cancelled
PROGRESS_EVERY_S = 0.2       # tasks send at most this often; the last event of a stage always goes
HEARTBEAT_S = jobs.HEARTBEAT_S


# ---------------------------------------------------------------- Ray itself
def available() -> bool:
    """Whether Ray can be imported here (without importing it: that takes a second)."""
    return importlib.util.find_spec("ray") is not None


def require_ray():
    """The `ray` module, or a CompressError saying in one line how to install it."""
    try:
        import ray
    except ImportError:
        raise CompressError(INSTALL_HINT) from None
    return ray


def resolve_address(address: str | None = None) -> str | None:
    """`--ray-address`, else `$RAY_ADDRESS`, else None (a local Ray with this machine's CPUs).

    Allowed: `auto` (a cluster started on this machine with `ray start`), `local`,
    `ray://host:port` (Ray Client) or `host:port` (a head node's GCS).
    """
    value = address if address not in (None, "") else os.environ.get(ENV_ADDRESS) or None
    if value is None or value in ("auto", "local"):
        return value
    text = value[len("ray://"):] if value.startswith("ray://") else value
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in text:
        raise CompressError(f"Ray address {value!r} must be auto, local, ray://host:port or host:port "
                            "(e.g. ray://10.0.0.5:10001)")
    return value


def _probe(address: str, timeout: float) -> None:
    """Fail fast on an address nobody listens on (ray.init would retry for a long time)."""
    text = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = text.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise CompressError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); "
                            "check --ray-address / $RAY_ADDRESS, or leave it out for a local Ray") from None


def connect(address: str | None = None, num_cpus: int | None = None):
    """Connect this process to Ray once (later calls reuse the connection) and return the `ray` module.

    No address: a local Ray is started with `num_cpus` (default: every core of this machine).
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = resolve_address(address)
    if address not in (None, "auto", "local"):
        _probe(address, CONNECT_TIMEOUT_S)
    kwargs = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                  logging_level="ERROR", configure_logging=True, runtime_env=_runtime_env())
    try:
        if address in (None, "local"):
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except CompressError:
        raise
    except Exception as exc:  # ConnectionError, RuntimeError, grpc errors: one line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompressError(f"cannot connect to the Ray cluster at {address!r}: {first}") from None
    return ray


def _runtime_env() -> dict:
    """Ship this compress_core to the cluster's workers (Ray's `py_modules`): a node needs Ray, torch
    and the requirements, not a copy of the lab; and a worker started for another job's driver (the
    browser's local Ray, used by a detached driver) still imports the same code as the driver."""
    package = Path(__file__).resolve().parents[1]
    return {"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"]}


def node_label(ip: str, node_id: str) -> str:
    """`ip/first 8 hex of the node id`: readable, and unique for several nodes on one machine."""
    return f"{ip}/{node_id[:8]}"


def cluster_info(address: str | None = None) -> dict:
    """Nodes with their CPUs and GPUs, and the cluster's total and free resources (for the browser and CLI)."""
    ray = connect(address)
    total, free = ray.cluster_resources(), ray.available_resources()
    nodes = [{"node": node_label(n["NodeManagerAddress"], n["NodeID"]),
              "cpus": n["Resources"].get("CPU", 0.0), "gpus": n["Resources"].get("GPU", 0.0)}
             for n in ray.nodes() if n.get("Alive")]
    return {"backend": "ray", "nodes": nodes, "cpus": total.get("CPU", 0.0), "gpus": total.get("GPU", 0.0),
            "free_cpus": free.get("CPU", 0.0), "free_gpus": free.get("GPU", 0.0)}


def run_resources(spec: dict, cpus: int | None = None) -> dict:
    """What one run asks Ray for: `cpus` cores, and a GPU when its spec names a CUDA device."""
    device = str(spec.get("device") or "").lower()
    return {"num_cpus": int(cpus or CPUS_PER_RUN), "num_gpus": 1 if device.startswith(("cuda", "gpu")) else 0}


def check_feasible(resources: dict, nodes: list[dict]) -> None:
    """Refuse a run no node can ever take (Ray would keep such a task pending forever)."""
    cpus, gpus = resources.get("num_cpus", 0), resources.get("num_gpus", 0)
    if any(n["cpus"] >= cpus and n["gpus"] >= gpus for n in nodes):
        return
    have = ", ".join(f"{n['node']}: {n['cpus']:g} CPU {n['gpus']:g} GPU" for n in nodes) or "no live node"
    raise CompressError(f"no node of the Ray cluster has {cpus} CPU and {gpus} GPU for this run ({have}); "
                        "add such a node or ask for less")


# ---------------------------------------------------------------- remote pieces
_REMOTE: dict = {}


def _remote():
    """The task function and the events actor, made remote on first use (Ray stays optional)."""
    if not _REMOTE:
        ray = require_ray()

        @ray.remote(num_cpus=0)
        class Events:
            """Progress events from every task of one driver; hand-written because ray.util.queue's
            put is a blocking round trip per event, where this actor's `put.remote` is fire-and-forget."""

            def __init__(self):
                self.items = []
                self.cancelled = set()  # run ids whose cancel the driver has passed on

            def put(self, item):
                self.items.append(item)

            def cancel(self, key):
                self.cancelled.add(key)

            def is_cancelled(self, key) -> bool:
                return key in self.cancelled

            def drain(self, keys):
                """The events of `keys` (one driver's runs); others stay for their own driver."""
                keys = set(keys)
                mine = [item for item in self.items if item[0] in keys]
                self.items = [item for item in self.items if item[0] not in keys]
                return mine

        _REMOTE["Events"] = Events
        _REMOTE["run"] = ray.remote(_run_task)
        _REMOTE["sensitivity"] = ray.remote(_sensitivity_task)
    return _REMOTE


def _events_actor(fresh: bool = False):
    """The events actor of this process, on the driver's own node (it must not die with a worker node).

    Kept for the process's Ray session: starting an actor starts a worker process, which costs
    seconds; drivers that follow one another (sweep after sweep in the browser) share it.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    context = ray.get_runtime_context()
    session = (context.gcs_address, context.get_job_id())
    cached = _REMOTE.get("events")
    if cached is not None and cached[0] == session and not fresh:
        return cached[1]
    here = NodeAffinitySchedulingStrategy(node_id=context.get_node_id(), soft=True)
    actor = _remote()["Events"].options(scheduling_strategy=here).remote()
    _REMOTE["events"] = (session, actor)
    return actor


def _here() -> str:
    import ray

    return node_label(ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id())


class _Sender:
    """Progress callback inside a task: throttled, fire-and-forget puts to the events actor.

    With `check_cancel`, it also asks the actor at most every CANCEL_CHECK_S whether the driver has passed on a cancel,
    and raises RunCancelled then, as the local workers' callback does. `ray.cancel`'s interrupt alone was not enough:
    it can be lost (seen once in the suite: a run asked to stop finished its 400 epochs instead).
    """

    def __init__(self, events, key: str, node: str, every: float = PROGRESS_EVERY_S, check_cancel: bool = False):
        self.events, self.key, self.node, self.every, self._last = events, key, node, every, 0.0
        self.check_cancel, self._checked = check_cancel, time.monotonic()

    def __call__(self, event) -> None:
        if self.check_cancel and time.monotonic() - self._checked >= CANCEL_CHECK_S:
            self._checked = time.monotonic()
            if self._cancel_asked():
                raise RunCancelled(f"run {self.key} was cancelled")
        data = {**(event.to_dict() if hasattr(event, "to_dict") else dict(event)), "node": self.node}
        now = time.monotonic()
        if now - self._last >= self.every or (data.get("total") and data.get("step") == data.get("total")):
            self._last = now
            self.events.put.remote((self.key, data))

    def _cancel_asked(self) -> bool:
        import ray

        try:
            return bool(ray.get(self.events.is_cancelled.remote(self.key), timeout=CANCEL_CHECK_S * 5))
        except Exception:  # the actor busy or gone: the driver's ray.cancel still applies
            return False


def _threads(cpus: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(cpus)))


def _run_task(spec: dict, run_id: str, home: str, data_dir: str | None, events, cpus: int) -> dict:
    """One run on a Ray worker: the engine's `execute`, artifacts in the shared home, progress to `events`."""
    _threads(cpus)
    node = _here()
    events.put.remote((run_id, {"stage": "started", "step": 0, "total": 0, "message": f"on Ray node {node}",
                                "metrics": {}, "node": node}))
    artifacts = Path(home) / ARTIFACTS / check_run_id(run_id)
    artifacts.mkdir(parents=True, exist_ok=True)
    progress = _Sender(events, run_id, node, check_cancel=True)
    result = jobs.execute(spec, progress, artifacts, Path(home), run_id=run_id, data_dir=data_dir)
    result["node"] = node
    return result


def _sensitivity_task(spec, layer: str, amounts: list, criterion: str, home: str, data_dir: str | None,
                      events, cpus: int) -> dict:
    """One layer of a sensitivity scan: its rows, on the baseline cached in the shared home."""
    _threads(cpus)
    from compress_core.context import RunContext
    from compress_core.explore.sensitivity import layer_sensitivity
    from compress_core.training.baseline import get_baseline

    ctx = RunContext.create(home=home, data_dir=data_dir)
    base = get_baseline(spec, ctx)  # the TrainSpec itself (a frozen dataclass) travels; the cache is in `home`
    table = layer_sensitivity(base.model, base.data, amounts, criterion=criterion, seed=spec.seed,
                              device=ctx.device, on_progress=_Sender(events, layer, _here()), layers=[layer])
    return {"rows": table.to_dict(orient="records"), "node": _here()}


# ---------------------------------------------------------------- the driver
class RayDriver:
    """Submits runs of one home as Ray tasks and keeps their store records up to date until they end."""

    def __init__(self, home=None, address: str | None = None, *, data_dir=None, cpus_per_run: int | None = None,
                 max_retries: int = MAX_RETRIES):
        self.ray = connect(address)
        self.home = paths.home_dir(home)
        self.store = jobs.open_store(self.home)
        self.data_dir = None if data_dir is None else os.fspath(data_dir)
        self.cpus = int(cpus_per_run or CPUS_PER_RUN)
        self.max_retries = max_retries
        self.events = _events_actor()
        self.refs: dict[str, object] = {}
        self.cancelled: dict[str, float] = {}  # run id -> when its cancel was passed on (time.monotonic())
        self.outcome: dict[str, str] = {}
        self.results: dict[str, dict] = {}  # finished runs' result dicts, as the tasks returned them
        self._beat = 0.0
        self._nodes: list[dict] | None = None  # looked up once per driver: ray.nodes() is a round trip
        self._ended: list[str] = []  # runs recorded at the last poll: their late events are dropped at the next

    def submit(self, run_id: str, spec: dict) -> None:
        """Start `run_id` (a run this process owns) as a task; unfit resources fail the run at once."""
        resources = run_resources(spec, self.cpus)
        try:
            if self._nodes is None:
                self._nodes = cluster_info()["nodes"]
            check_feasible(resources, self._nodes)
        except CompressError as exc:
            self.store.fail(run_id, str(exc))
            self.outcome[run_id] = "failed"
            raise
        task = _remote()["run"].options(**resources, max_retries=self.max_retries, retry_exceptions=False)
        self.refs[run_id] = task.remote(spec, run_id, str(self.home), self.data_dir, self.events, self.cpus)
        self.store.update_progress(run_id, {"stage": "waiting for a Ray node", "step": 0, "total": 0,
                                            "message": f"asks for {resources['num_cpus']} CPU, "
                                                       f"{resources['num_gpus']} GPU", "metrics": {}})

    def poll(self, timeout: float = POLL_S) -> list[str]:
        """Write progress, pass on cancels, record the runs that ended; returns their ids."""
        ray = self.ray
        if not self.refs and not self._ended:
            return []
        ready = ray.wait(list(self.refs.values()), num_returns=len(self.refs), timeout=timeout)[0] if self.refs else []
        latest: dict[str, dict] = {}
        try:
            drained = ray.get(self.events.drain.remote([*self.refs, *self._ended]))  # late events of ended runs go
            self._ended = []
        except ray.exceptions.RayError:  # its node died after all: lose those events, not the runs
            drained, self.events = [], _events_actor(fresh=True)
        for run_id, event in drained:
            latest[run_id] = event
        for run_id, event in latest.items():
            if run_id in self.refs:
                with contextlib.suppress(CompressError):
                    self.store.update_progress(run_id, event)
        now = time.monotonic()
        if now - self._beat >= HEARTBEAT_S:
            self._beat = now
            for run_id in self.refs:
                with contextlib.suppress(CompressError):
                    self.store.heartbeat(run_id)
        for run_id, ref in self.refs.items():
            if run_id not in self.cancelled and self.store.is_cancel_requested(run_id):
                self.cancelled[run_id] = now
                self.events.cancel.remote(run_id)  # the task's progress callback stops it (see _Sender)
            elif run_id in self.cancelled and now - self.cancelled[run_id] >= jobs.CANCEL_GRACE_S:
                # No progress call since: stop its worker process. Not ray.cancel's default interrupt, which lands
                # anywhere (an import, a lock) in a process Ray reuses for later tasks, and can be lost.
                self.cancelled[run_id] = float("inf")
                ray.cancel(ref, force=True)
        ended = []
        ready = set(ready)
        for run_id, ref in list(self.refs.items()):
            if ref in ready:
                self.outcome[run_id] = self._record(run_id, ref)
                del self.refs[run_id]
                self._ended.append(run_id)
                ended.append(run_id)
        return ended

    def _record(self, run_id: str, ref) -> str:
        """Store how the task ended, exactly once (the store ignores runs already closed)."""
        ray = self.ray
        exceptions = ray.exceptions
        try:
            result = ray.get(ref)
        except exceptions.TaskCancelledError:
            self.store.mark_cancelled(run_id)
            return "cancelled"
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, (RunCancelled, KeyboardInterrupt)) or run_id in self.cancelled:
                self.store.mark_cancelled(run_id)
                return "cancelled"
            self.store.fail(run_id, f"{type(cause).__name__}: {cause}".splitlines()[0])
            return "failed"
        except exceptions.RayError as exc:  # worker crashed, node died, object lost: retries are spent
            if run_id in self.cancelled:
                self.store.mark_cancelled(run_id)
                return "cancelled"
            self.store.mark_interrupted(run_id, f"interrupted: its Ray task was lost with its worker or node "
                                                f"after {self.max_retries} retries ({type(exc).__name__})")
            return "interrupted"
        result.update(id=run_id, status=FINISHED)
        self.store.finish(run_id, result)
        self.results[run_id] = result
        return FINISHED

    def drain(self, on_update: Callable[[dict], None] | None = None, interval: float = POLL_S) -> dict[str, str]:
        """Poll until every submitted run has ended; returns run id -> final status."""
        last = None
        try:
            while self.refs:
                self.poll(interval)
                if on_update is not None:
                    counts: dict[str, int] = {}
                    for status in self.outcome.values():
                        counts[status] = counts.get(status, 0) + 1
                    if self.refs:
                        counts["running"] = len(self.refs)
                    if counts != last:
                        on_update(counts)
                        last = counts
            self.poll(0)  # drops the last runs' late events from the shared actor
        except BaseException:  # Ctrl-C or a fault of the driver: stop the tasks, say so in the store
            for run_id, ref in self.refs.items():
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
                with contextlib.suppress(Exception):
                    self.store.mark_interrupted(run_id, "interrupted: the Ray driver was stopped before the run ended")
            raise
        return dict(self.outcome)


# ---------------------------------------------------------------- runs of this home
def create_run(spec: dict, home=None, parent_id: str | None = None) -> str:
    """A store record for a Ray run, `running` and owned by this process from the start.

    Never `queued`: local workers claim queued runs, and a Ray run must not be taken twice.
    Until its task starts on a node, its progress says it waits for one.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise CompressError(f"a run spec must be a dict with a 'kind' string, not {spec!r}")
    spec = jobs._absolute_data_path(spec)
    return jobs.open_store(home).create_run(spec["kind"], spec, status=RUNNING, parent_id=parent_id,
                                            owner_pid=os.getpid())


def drive(run_ids: Sequence[str], home=None, address: str | None = None, *, data_dir=None,
          on_update: Callable[[dict], None] | None = None, cpus_per_run: int | None = None,
          max_retries: int = MAX_RETRIES) -> dict[str, str]:
    """Take over `run_ids` (running records from `create_run`), run them on Ray, record each once."""
    try:
        driver = RayDriver(home, address, data_dir=data_dir, cpus_per_run=cpus_per_run, max_retries=max_retries)
    except CompressError as exc:  # no cluster: the runs must not stay "running" for a driver that never started
        store = jobs.open_store(home)
        for run_id in run_ids:
            with contextlib.suppress(CompressError):
                store.fail(run_id, str(exc))
        raise
    store = driver.store
    for run_id in run_ids:
        run = store.get(run_id)
        if run["status"] != RUNNING:
            driver.outcome[run_id] = run["status"]  # cancelled or reaped meanwhile: nothing to run
            continue
        store.mark_running(run_id, os.getpid())
        try:
            driver.submit(run_id, run["spec"])
        except CompressError:
            continue  # recorded as failed with its one-line reason
    return driver.drain(on_update)


def run_foreground(spec: dict, home=None, address: str | None = None, *, data_dir=None,
                   on_progress: Callable | None = None) -> dict:
    """A single run on Ray, recorded in the store; returns its record like `jobs.record_foreground`.

    Errors of the run come back as CompressError (its message); a cancel as RunCancelled.
    """
    driver = RayDriver(home, address, data_dir=data_dir)  # an unreachable cluster fails before any record
    run_id = create_run(spec, home)
    store = driver.store
    seen = None
    try:
        driver.submit(run_id, store.get(run_id)["spec"])
        while driver.refs:
            driver.poll(POLL_S)
            progress = store.get(run_id).get("progress") or {}
            if on_progress is not None and progress.get("total") and progress != seen:
                seen = progress
                from compress_core.progress import ProgressEvent

                on_progress(ProgressEvent(stage=progress.get("stage", ""), step=progress.get("step", 0),
                                          total=progress.get("total", 0), metrics=progress.get("metrics") or {},
                                          message=progress.get("message", "")))
    except BaseException:
        if run_id in driver.refs:
            with contextlib.suppress(Exception):
                driver.ray.cancel(driver.refs[run_id], force=True)
        with contextlib.suppress(CompressError):
            driver.store.mark_interrupted(run_id, "interrupted: the Ray driver was stopped before the run ended")
        raise
    if run_id in driver.results:
        return driver.results[run_id]
    run = store.get(run_id)
    if run["status"] == "cancelled":
        raise RunCancelled(f"run {run_id} was cancelled")
    raise CompressError(f"run {run_id} {run['status']} on Ray: {run.get('error')}")


def start_detached(run_ids: Sequence[str], home=None, address: str | None = None, data_dir=None) -> int:
    """Drive `run_ids` from a detached process (the browser's way: it outlives page reruns); returns its pid."""
    home = paths.home_dir(home)
    for run_id in run_ids:
        check_run_id(run_id)
    env = os.environ.copy()
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    log = open(home / "ray_driver.log", "ab")
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "compress_core.runs.ray_backend", "drive", "--home", str(home),
             *(["--ray-address", address] if address else []), *(["--data-dir", str(data_dir)] if data_dir else []),
             *run_ids],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(home), env=env,
            close_fds=True, start_new_session=True)
    finally:
        log.close()
    jobs._children[child.pid] = child  # reaped by jobs.live_workers' poll, so it never stays a zombie
    return child.pid


# ---------------------------------------------------------------- sensitivity scans
def sensitivity_scan(spec, amounts: Sequence[float], home=None, address: str | None = None, *, data_dir=None,
                     criterion: str = "l1", on_progress: Callable | None = None, cpus_per_task: int | None = None):
    """`explore.sensitivity.run_sensitivity` with one Ray task per layer; returns (table, nodes per layer).

    The baseline is trained (or loaded) here first, so the tasks find it in the shared home.
    """
    import pandas as pd

    from compress_core.context import RunContext
    from compress_core.explore.sensitivity import COLUMNS, check_amounts
    from compress_core.methods.criteria import get_criterion
    from compress_core.models.zoo import prunable_layers
    from compress_core.training.baseline import get_baseline

    amounts = check_amounts(amounts)
    get_criterion(criterion)
    ray = connect(address)
    cpus = int(cpus_per_task or CPUS_PER_RUN)
    check_feasible({"num_cpus": cpus, "num_gpus": 0}, cluster_info()["nodes"])
    ctx = RunContext.create(home=home, data_dir=data_dir, on_progress=on_progress)
    base = get_baseline(spec, ctx)
    layers = [name for name, _ in prunable_layers(base.model)]
    remote = _remote()
    events = _events_actor()
    refs = {layer: remote["sensitivity"].options(num_cpus=cpus, max_retries=MAX_RETRIES).remote(
        spec, layer, amounts, criterion, str(ctx.home), None if data_dir is None else os.fspath(data_dir),
        events, cpus) for layer in layers}
    done: dict[str, dict] = {}
    try:
        pending = list(refs.values())
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
            with contextlib.suppress(ray.exceptions.RayError):  # per-evaluation events: counted below instead
                ray.get(events.drain.remote(layers))
            for layer, ref in refs.items():
                if ref in ready:
                    try:
                        done[layer] = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = getattr(exc, "cause", None) or exc
                        raise CompressError(f"layer {layer}: {type(cause).__name__}: {cause}".splitlines()[0]) from None
                    except ray.exceptions.RayError as exc:
                        raise CompressError(f"layer {layer}: its Ray task was lost ({type(exc).__name__})") from None
            if on_progress is not None:
                from compress_core.progress import emit

                emit(on_progress, "sensitivity", len(done) * len(amounts), len(layers) * len(amounts),
                     f"{len(done)} of {len(layers)} layers scanned on Ray")
    except BaseException:
        for ref in refs.values():
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    rows = [row for layer in layers for row in done[layer]["rows"]]
    return pd.DataFrame(rows, columns=COLUMNS), {layer: done[layer]["node"] for layer in layers}


# ---------------------------------------------------------------- `python -m compress_core.runs.ray_backend`
def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compress_core.runs.ray_backend",
                                     description="drive runs of a home on Ray (started by the browser)")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drive", help="run these run ids (running records owned by the caller) as Ray tasks")
    d.add_argument("run_ids", nargs="+")
    d.add_argument("--home")
    d.add_argument("--data-dir")
    d.add_argument("--ray-address")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        outcome = drive(args.run_ids, args.home, args.ray_address, data_dir=args.data_dir)
    except CompressError as exc:
        store = jobs.open_store(args.home)
        for run_id in args.run_ids:  # the runs must not stay "running" for a driver that never started
            with contextlib.suppress(CompressError):
                if store.get(run_id)["status"] not in TERMINAL_STATES:
                    store.fail(run_id, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v}" for k, v in outcome.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
