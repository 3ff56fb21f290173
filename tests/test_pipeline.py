"""Pipelines: the step list is validated up front, every step is measured, configs load from YAML or JSON."""
import json
import os
import re

import pytest

import compress_core
from compress_core.cli import main as cli
from compress_core.errors import CompressError
from compress_core.methods.pipeline import PipelineSpec, load_config
from compress_core.methods.registry import spec_from_dict

PRUNE = {"kind": "prune", "method": "l1", "amount": 0.8, "finetune_epochs": 1}
BASE = {"model": "mlp", "hidden": [64], "dataset": "digits", "baseline_epochs": 3}


@pytest.fixture(autouse=True)
def _quick_latency(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "5")


@pytest.mark.parametrize("steps, message", [
    ([], "non-empty list"),
    ([{"kind": "prune", "amount": 0.5}, {"kind": "shrink"}],
     r"step 2: unknown step kind 'shrink'; allowed: prune, distill, quantize"),
    ([{"kind": "prune", "amount": 0.5, "sparsity": 0.5}],
     r"step 1 \(prune\): unknown option\(s\) sparsity; allowed: amount"),
    ([{"kind": "prune", "method": "l1"}], r"step 1 \(prune\): option amount is required"),
    ([{"kind": "prune", "amount": 1.5}], r"step 1 \(prune\): amount must be in \[0, 1\); got 1.5"),
    ([PRUNE, {"kind": "distill", "temperature": 0}], r"step 2 \(distill\): temperature must be in \(0, 1000\]"),
    ([{"kind": "quantize", "scheme": "int8", "bits": 4}], r"step 1 \(quantize\): .*bits must be 8"),
    ([{"kind": "quantize", "scheme": "fake"}, PRUNE], r"step 1 \(quantize\): quantize must be the last step"),
    ([PRUNE, {"kind": "prune", "method": "structured", "amount": 0.5}],
     r"step 2 \(prune\): structured pruning must come before"),
    (["prune"], r"step 1 must be a mapping"),
])
def test_bad_steps_are_refused_naming_the_step(steps, message):
    with pytest.raises(CompressError, match=message):
        PipelineSpec(**BASE, steps=steps)


def test_steps_are_stored_complete_and_round_trip():
    spec = PipelineSpec(**BASE, steps=[PRUNE, {"kind": "quantize", "scheme": "fake", "bits": 4}])
    assert spec.steps[0]["scope"] == "global" and spec.steps[1]["granularity"] == "channel"
    assert spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_prune_then_quantize_records_every_step(lab_home):
    spec = {"kind": "pipeline", **BASE, "steps": [PRUNE, {"kind": "quantize", "scheme": "fake", "bits": 4}]}
    events = []
    result = compress_core.run(spec, events.append, home=lab_home)
    pruned, quantized = (s["metrics"] for s in result.steps)
    assert [s["kind"] for s in result.steps] == ["prune", "quantize"] and result.steps[0]["label"] == "prune l1 80%"
    assert pruned["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert pruned["size_sparse_bytes"] < pruned["size_fp32_bytes"]
    assert {"accuracy", "params_nonzero", "latency_ms_b64", "speedup_b64", "accuracy_before_finetune"} <= set(pruned)
    assert quantized["params_nonzero"] <= pruned["params_nonzero"], "quantizing keeps the pruned zeros"
    assert quantized["size_sparse_quantized_bytes"] < quantized["size_packed_bytes"] < pruned["size_fp32_bytes"]
    assert {k: v for k, v in result.metrics.items() if k != "duration_s"} == \
        {k: v for k, v in quantized.items() if k != "duration_s"}
    assert result.baseline["accuracy"] == quantized["baseline_accuracy"]
    assert quantized["accuracy"] > 0.8
    assert {e.stage for e in events} >= {"pipeline", "finetune", "measure"}


def test_structured_distill_int8_acts_on_the_previous_model(lab_home, tmp_path):
    steps = [{"kind": "prune", "method": "structured", "amount": 0.5, "finetune_epochs": 1},
             {"kind": "distill", "epochs": 1}, {"kind": "quantize", "scheme": "int8"}]
    result = compress_core.run({"kind": "pipeline", **BASE, "steps": steps}, home=lab_home, artifacts_dir=tmp_path)
    pruned, distilled, int8 = (s["metrics"] for s in result.steps)
    assert pruned["params_total"] < result.baseline["params_total"] / 1.8
    assert distilled["params_total"] == int8["params_total"] == pruned["params_total"]
    assert 0 < distilled["agreement"] <= 1 and int8["scheme"] == "int8" and int8["accuracy"] > 0.8
    assert int8["size_int8_bytes"] < distilled["size_fp32_bytes"]
    assert result.layers[0]["shape"] == [32, 64] and result.layers[0]["shape_before"] == [64, 64]
    assert set(result.artifacts) == {"weights", "int8_onnx", "fp32_onnx"}
    assert os.path.getsize(result.artifacts["int8_onnx"]) == int8["size_int8_bytes"]
    assert int8["runtime"] == "onnxruntime" and int8["speedup_b64"] > 0


YAML = """
model: mlp
hidden: [64]
dataset: digits
seed: 1
steps:
  - {kind: prune, method: l1, amount: 0.9, finetune_epochs: 2}
  - kind: distill
    temperature: 4
    alpha: 0.9
    epochs: 5
  - {kind: quantize, scheme: int8}
"""


def test_yaml_and_json_configs_give_the_same_spec(tmp_path):
    import yaml

    (tmp_path / "p.yaml").write_text(YAML)
    (tmp_path / "p.json").write_text(json.dumps(yaml.safe_load(YAML)))
    spec = load_config(tmp_path / "p.yaml")
    assert spec == load_config(tmp_path / "p.json")
    assert spec.seed == 1 and spec.hidden == (64,)
    assert [s["kind"] for s in spec.steps] == ["prune", "distill", "quantize"]


@pytest.mark.parametrize("name, text, message", [
    ("none.yaml", None, "not found"),
    ("p.yaml", "steps: [unclosed", "bad YAML at line"),
    ("p.json", '{"model": "mlp",}', "bad JSON at line 1"),
    ("p.yaml", "- kind: prune", "top level must be a mapping .* got list"),
    ("p.txt", "model: mlp", r"must be a \.yaml, \.yml or \.json file"),
    ("p.yaml", "model: mlp\nsteps: [{kind: prune, amount: 2}]", r"step 1 \(prune\): amount"),
    ("p.yaml", "model: mlp\nepochs: 3\nsteps: [{kind: prune, amount: 0.5}]", "unknown field.* epochs"),
])
def test_bad_config_files_give_one_line_errors(tmp_path, capsys, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    assert cli.main(["pipeline", "--config", str(path), "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert re.search(message, err), err


def test_cli_runs_a_config_and_prints_every_step(lab_home, tmp_path, capsys):
    config = {**BASE, "steps": [PRUNE, {"kind": "quantize", "scheme": "fake", "bits": 6}]}
    (tmp_path / "p.json").write_text(json.dumps(config))
    assert cli.main(["pipeline", "--config", str(tmp_path / "p.json"), "--json", "--home", str(lab_home)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "pipeline" and result["status"] == "finished"
    assert [s["label"] for s in result["steps"]] == ["prune l1 80%", "quantize fake 6-bit"]
