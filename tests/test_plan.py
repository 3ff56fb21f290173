"""Plan to a budget: the allocation, the size model, the run (meets the budget or says it cannot), the CLI."""
import json
import math

import pandas as pd
import pytest
import torch
from torch import nn

import compress_core
from compress_core.cli.main import main
from compress_core.errors import CompressError
from compress_core.explore import planner
from compress_core.measure.catalogue import CATALOGUE, CORE_KEYS
from compress_core.measure.metrics import clean_state_dict, sparse_encode
from compress_core.methods.pipeline import sparse_packed_size_bytes
from compress_core.methods.plan import PlanSpec
from compress_core.methods.registry import spec_from_dict
from compress_core.present.report import build_report, reproduce_command
from compress_core.runs.export import export_run
from compress_core.runs.store import RunStore

BASE = {"kind": "plan", "model": "mlp", "hidden": [32], "dataset": "digits", "baseline_epochs": 3,
        "finetune_epochs": 1, "amounts": [0.5, 0.8, 0.95], "bit_widths": [2, 4, 8]}
# mlp 64-32-10: 2048 + 320 weights, 42 biases; fp32 about 9.7 kB, smallest (95 %, 2 bits) about 0.9 kB.
TARGET = 2500


@pytest.fixture(autouse=True)
def _quick_latency(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "3")


def _curves(drops: dict) -> pd.DataFrame:
    """Constructed per-layer curves (bits 32 only): layer -> {amount: drop}."""
    rows = []
    for layer, curve in drops.items():
        for amount, drop in {0.0: 0.0, **curve}.items():
            rows.append({"layer": layer, "params": 1000, "amount": amount, "bits": 32, "accuracy": 0.9 - drop,
                         "baseline_accuracy": 0.9, "drop": drop})
    return pd.DataFrame(rows, columns=planner.CURVE_COLUMNS)


def test_allocation_prunes_a_sensitive_layer_less():
    curves = _curves({"sensitive": {0.5: 0.05, 0.9: 0.40}, "robust": {0.5: 0.0, 0.9: 0.01}})
    layers = [planner.LayerInfo("sensitive", 1000, 10), planner.LayerInfo("robust", 1000, 10)]
    # 2 x 4000 bytes dense; a budget near half needs about half the weights gone in all (bitmaps included)
    plan = planner.allocate(curves, layers, 4600, target="size", prune=True)
    by = {r["layer"]: r for r in plan.rows}
    assert by["sensitive"]["sparsity"] < by["robust"]["sparsity"]
    assert by["robust"]["sparsity"] >= 0.7
    assert plan.cost <= 4600
    assert plan.cost == sum(planner.layer_cost(info, by[info.name]["sparsity"], 32) for info in layers)
    swapped = planner.allocate(_curves({"sensitive": {0.5: 0.0, 0.9: 0.01}, "robust": {0.5: 0.05, 0.9: 0.40}}),
                               layers, 4600, target="size", prune=True)
    assert {r["layer"]: r["sparsity"] for r in swapped.rows} == {"sensitive": by["robust"]["sparsity"],
                                                                   "robust": by["sensitive"]["sparsity"]}


def test_allocation_below_the_cheapest_plan_names_the_smallest_reachable():
    curves = _curves({"a": {0.9: 0.1}})
    info = planner.LayerInfo("a", 1000, 10)
    smallest = planner.layer_cost(info, 0.9, 32) + 100
    with pytest.raises(planner.Unreachable, match="smallest reachable") as caught:
        planner.allocate(curves, [info], 500, fixed=100)
    assert caught.value.smallest == smallest == planner.smallest_cost([info], largest_amount=0.9, bits=(), fixed=100)


def test_size_model_is_the_labs_own_count():
    """Uniform bits: the plan's counted size equals the pipeline's sparse packed size; fp32: the sparse encoding."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    with torch.no_grad():
        model[0].weight[model[0].weight.abs() < 0.15] = 0
    sizes = planner.realized_size(model, {"0": 4, "2": 4})
    assert sizes["size_sparse_quantized_bytes"] == sparse_packed_size_bytes(model, 4, "channel")
    assert sizes["bits_label"] == "4-bit"
    assert planner.realized_size(model, {"0": 4, "2": 32})["bits_label"] == "mixed 4/fp32-bit"
    n, nz = model[0].weight.numel(), int(torch.count_nonzero(model[0].weight))
    assert planner.weight_bytes(n, nz, 32, 16) == min(4 * n, math.ceil(n / 8) + 4 * nz)
    fp32 = planner.realized_size(model, {})
    assert fp32["size_sparse_bytes"] == len(sparse_encode(clean_state_dict(model)))
    assert "size_packed_bytes" not in fp32


@pytest.mark.parametrize("spec, fragment", [
    ({}, "a plan needs a target"),
    ({"target_size": 0}, r"target_size must be in \(0, inf\]; got 0"),
    ({"target_size": -100}, "got -100"),
    ({"target_flops": 0.5}, "target_flops must be an integer"),
    ({"target_size": 1000, "target_flops": 1000}, "give one budget"),
    ({"target_size": 1000, "allow": ["structured"]}, "structured pruning is not planned"),
    ({"target_size": 1000, "allow": ["distill"]}, "allow must be one of prune, quantize"),
    ({"target_size": 1000, "bit_widths": [1]}, r"bits must be in \[2, 8\]"),
    ({"target_latency_ms": 1.0, "batch": 0}, r"batch must be in \[1, 100000\]"),
])
def test_invalid_targets_get_one_line(spec, fragment):
    with pytest.raises(CompressError, match=fragment) as caught:
        PlanSpec(**{k: v for k, v in {**BASE, **spec}.items() if k != "kind"})
    assert "\n" not in str(caught.value)


def test_plan_meets_the_size_budget_and_records_predicted_beside_realized(lab_home):
    result = compress_core.run({**BASE, "target_size": TARGET}, home=lab_home)
    m = result.metrics
    assert m["meets_budget"] is True
    assert m["size_bytes"] <= TARGET and m["predicted_size"] <= TARGET
    assert m["size_bytes"] <= m["predicted_size"] + 1  # the same count; fine-tuning keeps the masks
    assert m["size_form"].endswith("packed") and m["size_form"] in (f"{m['bits_label']} packed",
                                                                   f"sparse {m['bits_label']} packed")
    assert [r["layer"] for r in m["plan"]] == ["net.1", "net.3"]
    for row in m["plan"]:
        assert set(row) == {"layer", "sparsity", "bits", "params", "predicted_drop"}
        assert 0 <= row["sparsity"] <= 0.95 and row["bits"] in (2, 4, 8, 32)
    layers = {r["name"]: r for r in result.layers}
    for row in m["plan"]:  # the realized masks are the planned sparsities
        assert layers[row["layer"]]["sparsity"] >= row["sparsity"] - 1e-3
    assert m["predicted_accuracy"] == pytest.approx(m["baseline_accuracy"] - m["predicted_drop_uncorrected"])
    assert m["prediction_gap"] == pytest.approx(m["accuracy"] - m["predicted_accuracy"])
    assert not [k for k in CORE_KEYS if k not in m]
    assert not sorted(set(m) - set(CATALOGUE)), "every key a plan writes is catalogued"

    # The gap is recorded: a later plan of the same model and data reads it from the store.
    store = RunStore(lab_home)
    store.finish(store.create_run("plan", result.spec), result.to_dict())
    again = compress_core.run({**BASE, "target_size": TARGET, "seed": 1}, home=lab_home)
    assert again.metrics["prediction_history_runs"] >= 1
    shift, used = planner.correction_from_history(store.list_runs(kind="plan"), "mlp", "digits", [32])
    assert used >= 1 and again.metrics["prediction_correction"] == pytest.approx(shift)
    assert again.metrics["predicted_accuracy"] == pytest.approx(
        min(1.0, again.metrics["predicted_accuracy_uncorrected"] + shift))
    assert any("corrected by" in note for note in again.notes)


def test_unreachable_budget_says_the_smallest_reachable_size(lab_home):
    with pytest.raises(CompressError, match=r"target size .* cannot be met .* the smallest reachable is .* bytes") as e:
        compress_core.run({**BASE, "target_size": 300}, home=lab_home)
    assert "\n" not in str(e.value)
    with pytest.raises(CompressError, match="cannot be met .* quantize: the smallest reachable"):
        compress_core.run({**BASE, "target_size": 800, "allow": ["quantize"]}, home=lab_home)


def test_flops_budget_is_met_on_the_measured_effective_flops(lab_home):
    result = compress_core.run({**BASE, "target_flops": 3000, "allow": ["prune"]}, home=lab_home)
    m = result.metrics
    assert m["flops_effective"] <= 3000 and m["predicted_flops"] <= 3000 and m["meets_budget"] is True
    assert all(r["bits"] == 32 for r in m["plan"])


def test_cli_plan_json_and_one_line_errors(lab_home, capsys, tmp_path):
    argv = ["plan", "--model", "mlp", "--hidden", "32", "--baseline-epochs", "3", "--finetune-epochs", "1",
            "--amounts", "0.5,0.8,0.95", "--bit-widths", "2,4,8", "--home", str(lab_home)]
    assert main([*argv, "--target-size", str(TARGET), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["kind"] == "plan" and run["status"] == "finished"
    for key in ("accuracy", "size_bytes", "predicted_accuracy", "predicted_size", "plan", "meets_budget"):
        assert key in run["metrics"], key
    assert run["metrics"]["size_bytes"] <= TARGET
    assert spec_from_dict(run["spec"]).target_size == TARGET  # a plan is a run: replayable from its spec
    record = RunStore(lab_home).get(run["id"])
    assert record["kind"] == "plan" and record["metrics"]["plan"] == run["metrics"]["plan"]
    # plans are runs: reported, exported and replayable like the others
    assert run["id"] in build_report([record]) and "plan" in reproduce_command(run["spec"])
    exported = export_run(run["id"], "onnx", tmp_path / "plan.onnx", home=lab_home)
    assert exported["max_abs_diff"] <= exported["tolerance"]
    for bad, fragment in ((["--target-size", "0"], "target_size must be in"),
                          (["--target-size", "200"], "smallest reachable is"),
                          ([], "a plan needs a target")):
        assert main([*argv, *bad, "--json"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and fragment in err and "\n" not in err
