"""Sweeps: planning, the points table of a partly finished sweep, and a real sweep through the workers."""
from __future__ import annotations

import json

import pytest

from compress_core.cli import main as cli

from compress_core.runs import jobs

from compress_core.explore import sweep
from compress_core.errors import CompressError
from compress_core.specs import PruneSpec

SMALL = PruneSpec(model="mlp", hidden=(16,), baseline_epochs=2, finetune_epochs=1).to_dict()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "3")
    monkeypatch.setenv(jobs.ENV_WORKERS, "2")
    monkeypatch.setenv(jobs.ENV_IDLE, "10")
    monkeypatch.delenv("COMPRESS_LAB_HOME", raising=False)
    yield tmp_path
    jobs.stop_workers(tmp_path)


def test_plan_is_levels_by_seeds_by_variants():
    plan = sweep.plan_sweep("prune", SMALL, [0.5, 0.9], 3, controls=True)
    assert len(plan) == 2 * 3 * 3
    assert {(p["level"], p["seed"], p["variant"]) for p in plan} == {
        (level, seed, variant) for level in (0.5, 0.9) for seed in (0, 1, 2)
        for variant in ("l1-global", "random-global", "l1-layer")}
    # every spec is a valid spec carrying its level and seed; controls change only criterion or scope
    for p in plan:
        spec = p["spec"]
        assert spec["amount"] == p["level"] and spec["seed"] == p["seed"]
        assert (spec["method"], spec["scope"]) == tuple(p["variant"].split("-"))
        assert {k: v for k, v in spec.items() if k not in ("amount", "seed", "method", "scope")} == \
            {k: v for k, v in SMALL.items() if k not in ("amount", "seed", "method", "scope")}
    # level-major order: the first runs taken by the workers use different seeds (different baselines)
    assert [p["seed"] for p in plan[:9:3]] == [0, 1, 2]


def test_plan_other_methods_and_params():
    from compress_core.methods.distill import DistillSpec
    from compress_core.methods.quantize import QuantizeSpec

    bits = sweep.plan_sweep("quantize", QuantizeSpec(model="mlp", scheme="int8").to_dict(), "2,4,8", 1)
    assert [(p["spec"]["bits"], p["spec"]["scheme"]) for p in bits] == [(2, "fake"), (4, "fake"), (8, "fake")]
    temps = sweep.plan_sweep("distill", DistillSpec().to_dict(), [1, 4], [3, 7])
    assert [(p["spec"]["temperature"], p["seed"]) for p in temps] == [(1, 3), (1, 7), (4, 3), (4, 7)]
    widths = sweep.plan_sweep("distill", DistillSpec().to_dict(), "8,32", 1, param="width")
    assert [p["spec"]["hidden"] for p in widths] == [[8], [32]]


@pytest.mark.parametrize("method, param, levels, message", [
    ("prune", None, "0.5,1.2", r"level 1\.2: amount must be in \[0, 1\)"),
    ("prune", None, "0.5,abc", "comma-separated numbers"),
    ("prune", None, "0.5,0.5", "must not repeat"),
    ("prune", "bits", "2,4", "a prune sweep varies amount"),
    ("quantize", None, "1,4", r"bits must be in \[2, 8\]"),
    ("quantize", None, "2.5", "whole numbers"),
])
def test_bad_levels_are_named(method, param, levels, message):
    from compress_core.methods.quantize import QuantizeSpec

    base = SMALL if method == "prune" else QuantizeSpec(model="mlp", scheme="fake").to_dict()
    with pytest.raises(CompressError, match=message):
        sweep.plan_sweep(method, base, levels, 1, param=param)


def test_controls_need_unstructured_pruning():
    with pytest.raises(CompressError, match="structured pruning has neither"):
        sweep.plan_sweep("prune", {**SMALL, "method": "structured"}, [0.5], 1, controls=True)
    with pytest.raises(CompressError, match="seeds must be in"):
        sweep.plan_sweep("prune", SMALL, [0.5], 0)


def test_points_of_a_partly_finished_sweep(home):
    record = sweep.submit_sweep("prune", SMALL, [0.5, 0.9], 2, home=home, start_workers=False)
    store = jobs.open_store(home)
    first, second = record["points"][0]["run_id"], record["points"][1]["run_id"]
    store.mark_running(first)
    store.finish(first, {"metrics": {"accuracy": 0.9, "sparsity": 0.5, "scheme": "text is skipped"}})
    store.mark_running(second)
    store.fail(second, "RuntimeError: boom")

    points = sweep.sweep_points(record["id"], home)
    assert len(points) == 4 and list(points.columns[:6]) == sweep.POINT_COLUMNS
    by_run = points.set_index("run_id")
    assert by_run.loc[first, "status"] == "finished" and by_run.loc[first, "accuracy"] == 0.9
    assert by_run.loc[second, "status"] == "failed" and "boom" in by_run.loc[second, "error"]
    assert points["accuracy"].isna().sum() == 3 and "scheme" not in points.columns
    summary = sweep.sweep_summary(points, "accuracy")
    assert summary.to_dict(orient="records") == [
        {"variant": "l1-global", "level": 0.5, "metric": "accuracy", "n": 1, "mean": 0.9, "std": 0.0,
         "min": 0.9, "max": 0.9}]
    assert [s["id"] for s in sweep.list_sweeps(home)] == [record["id"]]
    with pytest.raises(CompressError, match="invalid sweep id"):
        sweep.load_sweep("../etc/passwd", home)


def test_cli_sweep_runs_points_through_workers(home, capsys):
    argv = ["sweep", "prune", "--model", "mlp", "--hidden", "16", "--baseline-epochs", "2", "--finetune-epochs", "1",
            "--levels", "0.5,0.9", "--seeds", "2", "--workers", "2", "--home", str(home), "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["levels"] == [0.5, 0.9] and out["seeds"] == [0, 1] and out["variants"] == ["l1-global"]
    assert sorted((p["level"], p["seed"]) for p in out["points"]) == [(0.5, 0), (0.5, 1), (0.9, 0), (0.9, 1)]
    for point in out["points"]:
        assert point["status"] == "finished", point["error"]
        assert point["run_id"].startswith("r") and 0 <= point["metrics"]["accuracy"] <= 1
        assert point["metrics"]["sparsity"] == pytest.approx(point["level"], abs=0.01)
        assert jobs.get(point["run_id"], home)["spec"]["amount"] == point["level"]
    assert [(s["level"], s["n"]) for s in out["summary"]] == [(0.5, 2), (0.9, 2)]


@pytest.mark.parametrize("extra, message", [
    (["--levels", "0.5,2"], r"amount must be in \[0, 1\); got 2"),
    (["--levels", "0.5", "--amount", "0.3"], "--amount is what this sweep varies"),
    (["--levels", "0.5", "--method", "structured", "--controls"], "structured pruning has neither"),
])
def test_cli_sweep_bad_input_is_one_line(home, capsys, extra, message):
    assert cli.main(["sweep", "prune", "--model", "mlp", "--home", str(home), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert __import__("re").search(message, err), err
    assert jobs.open_store(home).count() == 0  # nothing was queued


def test_cli_quantize_sweep_fixes_scheme(home, capsys):
    assert cli.main(["sweep", "quantize", "--model", "mlp", "--scheme", "int8", "--levels", "4",
                     "--home", str(home)]) == 2
    assert "uses --scheme fake" in capsys.readouterr().err
