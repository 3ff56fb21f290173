"""Finding a classic's runs in the run store: the finished runs whose spec is the classic's preset.

A classic has no run kind of its own, so its runs are recognised by their spec: the same spec as
`classic_spec(name, model, dataset)` up to the seed (a classic is run once per seed). Quick runs
(`--quick`, for tests and a first look) have a spec of their own and are found only when asked for.
"""
from __future__ import annotations

from typing import Optional

from compress_core.classics.registry import classic_spec, get_classic
from compress_core.runs import jobs

IGNORED = ("seed",)


def _key(spec: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.items() if k not in IGNORED}


def classic_runs(name: str, home=None, model: Optional[str] = None, dataset: Optional[str] = None,
                 quick: bool = False) -> list[dict]:
    """Finished runs of classic `name` (any seed), newest first."""
    get_classic(name)  # an unknown name: one line listing the classics
    wanted = _key(classic_spec(name, model, dataset, seed=0, quick=quick).to_dict())
    runs = jobs.open_store(home).list_runs(status="finished", kind=wanted["kind"])
    return [r for r in runs if _key(r.get("spec") or {}) == wanted]


def latest_runs(name: str, home=None, model: Optional[str] = None, dataset: Optional[str] = None) -> tuple[list, bool]:
    """(finished runs of the full preset, False), or of the quick preset when there is none, (runs, True)."""
    runs = classic_runs(name, home, model, dataset)
    if runs:
        return runs, False
    return classic_runs(name, home, model, dataset, quick=True), True


def one_per_seed(runs: list[dict]) -> list[dict]:
    """The newest run of each seed (runs come newest first)."""
    seen, out = set(), []
    for run in runs:
        seed = (run.get("spec") or {}).get("seed")
        if seed not in seen:
            seen.add(seed)
            out.append(run)
    return out
