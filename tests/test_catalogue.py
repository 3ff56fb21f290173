"""The metrics catalogue: every run kind reports the core set, every key it writes is catalogued,
and runs stored by older versions read with today's keys."""
import json
import math

import pytest

import compress_core
from compress_core.measure import catalogue
from compress_core.measure.catalogue import CATALOGUE, CORE_KEYS, upgrade_metrics, upgrade_record
from compress_core.measure.core import deployable_size
from compress_core.runs.store import RunStore

BASE = {"model": "mlp", "hidden": [64], "dataset": "digits", "seed": 0}
PRUNE = {"kind": "prune", **BASE, "baseline_epochs": 3, "finetune_epochs": 0, "amount": 0.7}
RUNS = {
    "train": {"kind": "train", **BASE, "epochs": 3},
    "prune l1": PRUNE,
    "prune random agp": {**PRUNE, "method": "random", "schedule": "agp", "steps": 2},
    "prune structured": {**PRUNE, "method": "structured", "amount": 0.5},
    "distill": {"kind": "distill", "dataset": "digits", "teacher": "mlp", "teacher_hidden": [64], "teacher_epochs": 3,
                "model": "mlp", "hidden": [16], "epochs": 1},
    "quantize fake": {"kind": "quantize", **BASE, "baseline_epochs": 3, "scheme": "fake", "bits": 4},
    "quantize int8": {"kind": "quantize", **BASE, "baseline_epochs": 3, "scheme": "int8"},
    "pipeline prune+fake": {"kind": "pipeline", **BASE, "baseline_epochs": 3, "steps": [
        {"kind": "prune", "amount": 0.8, "finetune_epochs": 0}, {"kind": "quantize", "scheme": "fake", "bits": 4}]},
    "pipeline structured+distill+int8": {"kind": "pipeline", **BASE, "baseline_epochs": 3, "steps": [
        {"kind": "prune", "method": "structured", "amount": 0.5, "finetune_epochs": 0},
        {"kind": "distill", "epochs": 1}, {"kind": "quantize", "scheme": "int8"}]},
    "deep-compression": {"kind": "deep-compression", **BASE, "baseline_epochs": 3, "amount": 0.8, "finetune_epochs": 0,
                         "centroid_epochs": 1},
    "lottery": {"kind": "lottery", **BASE, "epochs": 3, "rounds": 1, "rate": 0.5},
}
EXPECTED_FORM = {"train": "fp32", "prune l1": "sparse", "prune random agp": "sparse", "prune structured": "fp32",
                 "distill": "fp32", "quantize fake": "4-bit packed", "quantize int8": "int8",
                 "pipeline prune+fake": "sparse 4-bit packed", "pipeline structured+distill+int8": "int8",
                 "deep-compression": "Huffman-coded file", "lottery": "sparse"}


@pytest.fixture(autouse=True)
def _quick_latency(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "3")


@pytest.fixture(scope="module")
def results(lab_home):
    return {name: compress_core.run(spec, home=lab_home) for name, spec in RUNS.items()}


def _metric_dicts(result):
    """(where, metrics dict, baseline dict) for the run, each pipeline step and the baseline."""
    base = result.baseline or result.metrics
    yield "metrics", result.metrics, base
    for step in result.steps:
        yield f"step {step['step']} ({step['label']})", step["metrics"], base


def _check_core(where: str, metrics: dict, base: dict) -> None:
    missing = [k for k in CORE_KEYS if k not in metrics]
    assert not missing, f"{where}: core keys missing: {missing}"
    for key in CORE_KEYS:
        if CATALOGUE[key].numeric:
            assert isinstance(metrics[key], (int, float)) and math.isfinite(metrics[key]), f"{where}: {key}"
    assert metrics["compression_ratio"] == pytest.approx(base["size_fp32_bytes"] / metrics["size_bytes"]), where
    assert metrics["accuracy_change"] == pytest.approx(metrics["accuracy"] - metrics["baseline_accuracy"]), where


@pytest.mark.parametrize("name", list(RUNS))
def test_every_run_kind_reports_the_core_set(results, name):
    result = results[name]
    for where, metrics, base in _metric_dicts(result):
        _check_core(f"{name}: {where}", metrics, base)
    assert result.metrics["size_form"] == EXPECTED_FORM[name]
    assert result.metrics["size_bytes"] <= result.metrics["size_fp32_bytes"]


def test_every_key_a_run_writes_is_catalogued(results):
    """A metric a runner writes without a catalogue entry fails here, not silently as an unlabelled column."""
    for name, result in results.items():
        dicts = [("metrics", result.metrics), ("baseline", result.baseline)]
        dicts += [(f"step {s['step']}", s["metrics"]) for s in result.steps]
        for where, d in dicts:
            unknown = sorted(set(d) - set(CATALOGUE))
            assert not unknown, f"{name} {where}: keys missing from the catalogue: {unknown}"


def test_sizes_match_their_forms(results):
    int8 = results["quantize int8"].metrics
    assert int8["size_bytes"] == int8["size_int8_bytes"] and "size_packed_bytes" not in int8
    assert int8["params_total"] == results["quantize int8"].baseline["params_total"]
    fake = results["quantize fake"].metrics
    assert fake["size_bytes"] == fake["size_packed_bytes"] and "size_int8_bytes" not in fake
    l1 = results["prune l1"].metrics
    assert l1["size_bytes"] == l1["size_sparse_bytes"] < l1["size_fp32_bytes"]
    assert l1["param_compression_ratio"] == pytest.approx(l1["params_total"] / l1["params_nonzero"])
    train = results["train"].metrics
    assert train["compression_ratio"] == 1.0 and train["accuracy_change"] == 0.0 and train["speedup_b1"] == 1.0
    structured = results["prune structured"]
    assert structured.metrics["compression_ratio"] == pytest.approx(
        structured.baseline["size_fp32_bytes"] / structured.metrics["size_fp32_bytes"])
    assert structured.metrics["compression_ratio"] > 1.5


def test_stored_runs_read_back_unchanged(results, tmp_path):
    """Upgrading on read leaves a current record as it was."""
    store = RunStore(tmp_path)
    for name, result in results.items():
        run_id = store.create_run(result.kind, result.spec)
        store.finish(run_id, result.to_dict())
        record = store.get(run_id)
        assert record["metrics"] == result.metrics, name
        assert [s["metrics"] for s in record["steps"]] == [s["metrics"] for s in result.steps], name


# A finished int8 run and a pruned pipeline as older versions stored them (hand-written).
OLD_INT8 = {"accuracy": 0.97, "loss": 0.1, "baseline_accuracy": 0.975, "accuracy_change": -0.005, "scheme": "int8",
            "bits": 8, "params_total": 50610, "size_quantized_bytes": 56639, "size_ratio_quantized": 0.276,
            "latency_ms_b1": 0.1, "latency_ms_b64": 0.5, "speedup_b1": 1.2, "speedup_b64": 2.0, "threads": 2,
            "duration_s": 4.0}
OLD_BASELINE = {"accuracy": 0.975, "params_total": 50610, "params_nonzero": 50610, "sparsity": 0.0,
                "compression_ratio": 1.0, "flops_dense": 100400, "flops_effective": 100400,
                "size_fp32_bytes": 205077, "size_sparse_bytes": 204000}
OLD_PRUNE = {"accuracy": 0.96, "params_total": 50610, "params_nonzero": 10122, "sparsity": 0.8,
             "compression_ratio": 5.0, "size_fp32_bytes": 205077, "size_sparse_bytes": 47000}
OLD_FAKE = {**OLD_PRUNE, "scheme": "fake", "bits": 4, "size_quantized_bytes": 26000,
            "size_sparse_quantized_bytes": 12000}


def test_old_keys_map_to_new_ones():
    int8 = upgrade_metrics(OLD_INT8, OLD_BASELINE)
    assert "size_quantized_bytes" not in int8 and int8["size_int8_bytes"] == 56639
    assert (int8["size_bytes"], int8["size_form"]) == (56639, "int8")
    assert int8["compression_ratio"] == pytest.approx(205077 / 56639)
    assert int8["params_nonzero"] == 50610 and int8["size_fp32_bytes"] == 205077, "the fp32 model it came from"
    assert int8["accuracy"] == 0.97 and int8["speedup_b64"] == 2.0

    pruned = upgrade_metrics(OLD_PRUNE, OLD_BASELINE)
    assert pruned["param_compression_ratio"] == 5.0, "total / non-zero keeps its value under its new key"
    assert (pruned["size_bytes"], pruned["size_form"]) == (47000, "sparse")
    assert pruned["compression_ratio"] == pytest.approx(205077 / 47000)

    fake = upgrade_metrics(OLD_FAKE, OLD_BASELINE)
    assert fake["size_packed_bytes"] == 26000 and "size_int8_bytes" not in fake
    assert (fake["size_bytes"], fake["size_form"]) == (12000, "sparse 4-bit packed")

    assert upgrade_metrics(int8, OLD_BASELINE) == int8, "upgrading twice changes nothing"


def test_store_upgrades_old_records_on_read(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("pipeline", {"kind": "pipeline"})
    store.finish(run_id, {"spec": {"kind": "pipeline"}, "metrics": dict(OLD_FAKE), "baseline": dict(OLD_BASELINE),
                          "steps": [{"step": 1, "metrics": dict(OLD_PRUNE)}, {"step": 2, "metrics": dict(OLD_FAKE)}]})
    record = store.get(run_id)
    assert record["metrics"]["size_packed_bytes"] == 26000 and "size_quantized_bytes" not in record["metrics"]
    assert record["baseline"]["param_compression_ratio"] == 1.0 and record["baseline"]["size_form"] == "fp32"
    assert record["steps"][0]["metrics"]["param_compression_ratio"] == 5.0
    assert record["steps"][1]["metrics"]["compression_ratio"] == pytest.approx(205077 / 12000)
    assert store.list_runs()[0]["metrics"] == record["metrics"]
    assert upgrade_record(dict(record))["metrics"] == record["metrics"]


def test_deployable_size_never_picks_fp32_for_a_quantized_run():
    assert deployable_size({"scheme": "int8", "size_int8_bytes": 90, "size_fp32_bytes": 80}) == (90, "int8")
    assert deployable_size({"size_fp32_bytes": 205, "size_sparse_bytes": 203, "sparsity": 0.0}) == (205, "fp32")
    assert deployable_size({}) == (None, "")


def test_catalogue_lookups():
    assert catalogue.metric("accuracy").better == "higher" and catalogue.metric("latency_ms_b1").better == "lower"
    assert catalogue.axis("accuracy") == ("test accuracy (%)", 100.0)
    assert catalogue.format_value("size_bytes", 56639) == "56.6 kB"
    assert catalogue.format_value("accuracy_change", -0.004) == "-0.40 pp"
    assert catalogue.label("not_a_metric") == "not_a_metric"
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        catalogue.metric("nope")
    assert catalogue.table_keys({"loss": 1, "accuracy": 0.9, "bits": 4}) == ["accuracy", "loss", "bits"]
    assert catalogue.table_keys(extra=False) == list(CORE_KEYS)
    assert all(m.better in ("higher", "lower", None) for m in CATALOGUE.values())


def test_cli_int8_json_reports_every_core_key(lab_home, capsys):
    """The issue's acceptance: `quantize --scheme int8 --json` reports the whole core set."""
    from compress_core.cli.main import main

    argv = ["quantize", "--model", "lenet300", "--dataset", "digits", "--scheme", "int8", "--json",
            "--home", str(lab_home)]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert set(CORE_KEYS) <= set(metrics)
    assert metrics["size_form"] == "int8" and metrics["size_bytes"] == metrics["size_int8_bytes"]
