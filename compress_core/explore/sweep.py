"""Sweeps: one method over a list of levels and several seeds, as one group of background runs.

A sweep answers "how far can I go before accuracy falls?": every level (a pruning
amount, a distillation temperature or student width, a number of bits) is run with
every seed, each seed from its own cached baseline that all levels of that seed share.
A pruning sweep can add ShrinkBench's controls: the `random` criterion and the other
scope (per-layer vs global) at the same amounts, from the same weights, with the same
fine-tuning, so the curve of the chosen method is read against what chance gives.

Runs stay ordinary runs (their specs are valid specs, run by the job workers); the group
lives in `<home>/sweeps/<sweep id>.json` (run ids with their level, seed and variant), so
a sweep that is still running, or was cut short, still gives its finished points.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from compress_core import paths
from compress_core.errors import CompressError
from compress_core.measure import catalogue
from compress_core.methods.registry import get_method, spec_from_dict, sweep_methods
from compress_core.runs import jobs
from compress_core.runs.store import TERMINAL_STATES
from compress_core.specs import check_range

MAX_RUNS = 500  # levels x seeds x variants; more is a typo, not a sweep
MAX_SEEDS = 100
CONTROL_CRITERION = "random"  # the pruning control (ShrinkBench): same amounts, weights chosen at random
SWEEPS_DIR = "sweeps"
SWEEP_ID_RE = re.compile(r"^s\d{8}-\d{6}-[0-9a-f]{8}$")
# Columns every points table has, so a page can draw a sweep before any run has finished.
POINT_COLUMNS = ["run_id", "level", "seed", "variant", "status", "error"]
CORE_METRICS = catalogue.table_keys(extra=False, numeric=True)  # the numbers every run kind reports


def default_workers() -> int:
    """`$COMPRESS_LAB_WORKERS`, else one worker per core (each then runs with one thread).

    A sweep is many small runs: on 2 cores, 18 lenet300/digits points took 9 s with two
    single-threaded workers and 37-56 s with one two-threaded worker (busy machine), so
    sweeps use every core by default where single runs use half of them.
    """
    return jobs.default_max_workers() if os.environ.get(jobs.ENV_WORKERS) else (os.cpu_count() or 1)


def params(method: str) -> dict:
    """The parameters a sweep of `method` can vary (name -> SweepParam), the default first."""
    check_method(method)
    return dict(get_method(method).sweep)


def default_param(method: str) -> str:
    return next(iter(params(method)))


def check_method(method: str) -> None:
    allowed = [m.kind for m in sweep_methods()]
    if method not in allowed:
        raise CompressError(f"sweep method must be one of {', '.join(allowed)}; got {method!r}")


def check_param(method: str, param: str | None) -> str:
    """The parameter to sweep (the method's default when None), or a CompressError naming the allowed ones."""
    if param is None:
        return default_param(method)
    if param not in params(method):
        raise CompressError(f"a {method} sweep varies {', '.join(params(method))}; got --param {param!r}")
    return param


def parse_levels(text: str | Sequence, param: str, what: str = "levels") -> list:
    """'0.5,0.7,0.9' -> [0.5, 0.7, 0.9] (whole numbers for bits and width); ranges are checked by the spec."""
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    if not parts or any(p == "" for p in parts):
        raise CompressError(f"{what} must be comma-separated numbers, e.g. 0.5,0.7,0.9; got {text!r}")
    levels = []
    for part in parts:
        try:
            value = float(part)
        except (TypeError, ValueError):
            raise CompressError(f"{what} must be comma-separated numbers, e.g. 0.5,0.7,0.9; got {part!r} in {text!r}") from None
        if _integer_param(param):
            if value != int(value):
                raise CompressError(f"{param} levels must be whole numbers; got {part!r}")
            value = int(value)
        levels.append(value)
    if len(set(levels)) != len(levels):
        raise CompressError(f"{what} must not repeat; got {text!r}")
    return levels


def _integer_param(param: str) -> bool:
    """Whether levels of `param` are whole numbers (bits, widths), as its method declares."""
    return any(m.sweep[param].integer for m in sweep_methods() if param in m.sweep)


def seed_list(seeds: int | Iterable[int], first: int = 0) -> list[int]:
    """A count n -> [first, ..., first + n - 1]; a list of seeds is kept (and checked)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        check_range("seeds", seeds, 1, MAX_SEEDS, integer=True)
        return [first + i for i in range(seeds)]
    out = list(seeds)
    if not out or len(set(out)) != len(out):
        raise CompressError(f"seeds must be a count or a list of distinct seeds; got {seeds!r}")
    for seed in out:
        check_range("seed", seed, 0, 2**31 - 1, integer=True)
    return out


def variants(method: str, base_spec: dict, controls: bool) -> list[tuple[str, dict]]:
    """(label, spec changes) per variant: the chosen one first, then the controls.

    Pruning controls (ShrinkBench): the random criterion at the same scope (l1 for a
    random sweep), and the chosen criterion at the other scope (layer vs global).
    """
    if method != "prune":
        if controls:
            raise CompressError(f"controls apply to prune sweeps; a {method} sweep has none"
                                + (" (every distill run already trains the student from scratch: see scratch_accuracy)"
                                   if method == "distill" else ""))
        return [(method, {})]
    crit, scope = base_spec.get("method", "l1"), base_spec.get("scope", "global")
    chosen = [(f"{crit}-{scope}", {})]
    if not controls:
        return chosen
    if crit == "structured":
        raise CompressError("controls (random criterion, per-layer/global scope) apply to masked pruning; "
                            "structured pruning has neither")
    other_crit = CONTROL_CRITERION if crit != CONTROL_CRITERION else "l1"
    other_scope = "layer" if scope == "global" else "global"
    return chosen + [(f"{other_crit}-{scope}", {"method": other_crit}),
                     (f"{crit}-{other_scope}", {"scope": other_scope})]


def _level_change(method: str, param: str, level) -> dict:
    swept = params(method)[param]
    value = [level] if swept.field == "hidden" else level  # a width level is a one-layer mlp
    return {**swept.fixed, swept.field: value}


def plan_sweep(method: str, base_spec: dict, levels: Sequence, seeds: int | Iterable[int], *,
               param: str | None = None, controls: bool = False) -> list[dict]:
    """Every point of the sweep: `{"level", "seed", "variant", "spec"}` with a validated spec dict.

    Ordered level by level, then seed, then variant, so the first runs the workers take
    train different seeds' baselines side by side instead of waiting for one another.
    A level the method does not allow raises CompressError naming the level.
    """
    param = check_param(method, param)
    if base_spec.get("kind") != method:
        raise CompressError(f"a {method} sweep needs a {method} spec; got kind {base_spec.get('kind')!r}")
    levels = parse_levels(levels, param) if isinstance(levels, str) else list(levels)
    if not levels:
        raise CompressError("a sweep needs at least one level")
    seeds = seed_list(seeds, base_spec.get("seed", 0))
    kinds = variants(method, base_spec, controls)
    total = len(levels) * len(seeds) * len(kinds)
    if total > MAX_RUNS:
        raise CompressError(f"this sweep would queue {total} runs ({len(levels)} levels x {len(seeds)} seeds x "
                            f"{len(kinds)} variants); the limit is {MAX_RUNS}")
    plan = []
    for level in levels:
        for seed in seeds:
            for label, changes in kinds:
                raw = {**base_spec, **_level_change(method, param, level), **changes, "seed": seed}
                try:
                    spec = spec_from_dict(raw).to_dict()
                except CompressError as exc:
                    raise CompressError(f"level {level!r}: {exc}") from None
                plan.append({"level": level, "seed": seed, "variant": label, "spec": spec})
    return plan


# ---------------------------------------------------------------- the sweep record
def _sweeps_dir(home) -> Path:
    return paths.home_dir(home) / SWEEPS_DIR


def check_sweep_id(sweep_id: str) -> str:
    """Refuse anything that is not a sweep id before it becomes part of a path."""
    if not isinstance(sweep_id, str) or not SWEEP_ID_RE.match(sweep_id):
        raise CompressError(f"invalid sweep id {sweep_id!r}; sweep ids look like s20250101-120000-0a1b2c3d")
    return sweep_id


def _new_sweep_id() -> str:
    return "s" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


def _write_record(record: dict, home) -> None:
    folder = _sweeps_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{check_sweep_id(record['id'])}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def submit_sweep(method: str, base_spec: dict, levels: Sequence, seeds: int | Iterable[int], *,
                 param: str | None = None, controls: bool = False, home=None,
                 max_workers: int | None = None, start_workers: bool = True, backend=None) -> dict:
    """Plan the sweep, queue every point as a background run and record the group; returns the record.

    The record (`load_sweep` reads it back) holds the sweep id, method, parameter, levels,
    seeds, variants, the base spec and `points`: one `{run_id, level, seed, variant}` each.
    Up to `max_workers` worker processes run the points in parallel (default: `default_workers()`);
    with `start_workers=False` the runs only wait in the queue. `backend` (see `runs.backends`)
    creates and starts the runs elsewhere, e.g. as Ray tasks (default: the local workers).
    """
    param = check_param(method, param)
    plan = plan_sweep(method, base_spec, levels, seeds, param=param, controls=controls)
    record = {"id": _new_sweep_id(), "method": method, "param": param, "created_at": time.time(),
              "levels": list(dict.fromkeys(p["level"] for p in plan)),
              "seeds": list(dict.fromkeys(p["seed"] for p in plan)),
              "variants": list(dict.fromkeys(p["variant"] for p in plan)),
              "base_spec": spec_from_dict(base_spec).to_dict(), "points": []}
    for point in plan:
        run_id = backend.create(point["spec"], home) if backend is not None \
            else jobs.submit(point["spec"], home, start_workers=False)
        record["points"].append({"run_id": run_id, "level": point["level"], "seed": point["seed"],
                                 "variant": point["variant"]})
    _write_record(record, home)
    if start_workers and backend is not None:
        backend.start([p["run_id"] for p in record["points"]], home, max_workers=max_workers or default_workers())
    elif start_workers:
        jobs.ensure_workers(home, max_workers=max_workers or default_workers())
    return record


def load_sweep(sweep_id: str, home=None) -> dict:
    """The record `submit_sweep` wrote; unknown ids raise CompressError."""
    path = _sweeps_dir(home) / f"{check_sweep_id(sweep_id)}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CompressError(f"no sweep with id {sweep_id!r} in {_sweeps_dir(home)}") from None


def list_sweeps(home=None) -> list[dict]:
    """Every sweep record of this home, newest first."""
    folder = _sweeps_dir(home)
    records = [json.loads(p.read_text()) for p in folder.glob("s*.json") if SWEEP_ID_RE.match(p.stem)] \
        if folder.exists() else []
    return sorted(records, key=lambda r: r.get("created_at", 0), reverse=True)


def _record(sweep: str | dict, home) -> dict:
    return load_sweep(sweep, home) if isinstance(sweep, str) else sweep


def point_results(sweep: str | dict, home=None) -> list[dict]:
    """Per point: run id, level, seed, variant, status, error and the run's metrics (empty until it finishes)."""
    store = jobs.open_store(home)
    out = []
    for point in _record(sweep, home)["points"]:
        try:
            run = store.get(point["run_id"])
        except CompressError:  # the run was deleted from the store
            run = {"status": "deleted", "error": "the run was deleted"}
        out.append({**point, "status": run.get("status"), "error": run.get("error"),
                    "metrics": (run.get("metrics") or {}) if run.get("status") == "finished" else {}})
    return out


def sweep_points(sweep: str | dict, home=None) -> pd.DataFrame:
    """One row per level x seed x variant: status and every scalar metric (NaN until the run finishes)."""
    rows = []
    for point in point_results(sweep, home):
        scalars = {k: v for k, v in point["metrics"].items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        rows.append({**{c: point[c] for c in POINT_COLUMNS}, **scalars})
    df = pd.DataFrame(rows)
    for column in POINT_COLUMNS + CORE_METRICS:
        if column not in df.columns:
            df[column] = None
    metric_columns = [c for c in df.columns if c not in POINT_COLUMNS]
    df[metric_columns] = df[metric_columns].apply(pd.to_numeric, errors="coerce")
    return df[POINT_COLUMNS + metric_columns]


def sweep_summary(points: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per variant and level over the finished seeds: n, mean, std (0 for one seed), min, max of `metric`."""
    if metric not in points.columns:
        raise CompressError(f"unknown metric {metric!r}; the points have: "
                            f"{', '.join(c for c in points.columns if c not in POINT_COLUMNS)}")
    done = points[(points["status"] == "finished") & points[metric].notna()]
    grouped = done.groupby(["variant", "level"], sort=True)[metric]
    summary = grouped.agg(n="count", mean="mean", std="std", min="min", max="max").reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    summary.insert(2, "metric", metric)
    return summary


def sweep_status(sweep: str | dict, home=None) -> dict:
    """How many points are in each state, e.g. {"finished": 4, "running": 2, "queued": 12}."""
    counts: dict[str, int] = {}
    for point in point_results(sweep, home):
        counts[point["status"]] = counts.get(point["status"], 0) + 1
    return counts


def wait_sweep(sweep: str | dict, home=None, *, timeout: float | None = None, interval: float = 0.5,
               max_workers: int | None = None, on_update: Callable[[dict], None] | None = None) -> list[dict]:
    """Block until every point has ended; returns `point_results`. TimeoutError after `timeout` s.

    Keeps workers alive meanwhile (an idle worker may retire between two submissions).
    `on_update(counts)` is called whenever the status counts change.
    """
    record = _record(sweep, home)
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        results = point_results(record, home)
        counts: dict[str, int] = {}
        for point in results:
            counts[point["status"]] = counts.get(point["status"], 0) + 1
        if counts != last and on_update is not None:
            on_update(counts)
        last = counts
        if all(p["status"] in TERMINAL_STATES or p["status"] == "deleted" for p in results):
            return results
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"sweep {record['id']} still has unfinished runs after {timeout} s: {counts}")
        if counts.get("queued"):
            jobs.ensure_workers(home, max_workers=max_workers or default_workers())
        time.sleep(interval)


def cancel_sweep(sweep: str | dict, home=None) -> int:
    """Cancel every point that has not ended; returns how many were asked to stop."""
    cancelled = 0
    for point in point_results(sweep, home):
        if point["status"] in ("queued", "running"):
            jobs.cancel(point["run_id"], home)
            cancelled += 1
    return cancelled
