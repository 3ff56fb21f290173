"""Optional MLflow logging of finished runs (`--mlflow URI`, COMPRESS_LAB_MLFLOW_URI), into a local file store."""
from __future__ import annotations

import json
import sys

import pytest

from compress_core.cli.main import main
from compress_core.measure.catalogue import CORE_KEYS
from compress_core.runs import jobs, mlflow_log

mlflow = pytest.importorskip("mlflow")  # requirements-optional.txt (part of requirements-dev.txt)

PRUNE = ["prune", "--model", "mlp", "--hidden", "16", "--amount", "0.5", "--finetune-epochs", "1",
         "--baseline-epochs", "2"]


def logged_runs(uri: str) -> list:
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(mlflow_log.EXPERIMENT)
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def test_a_cli_run_logs_spec_core_metrics_model_and_report(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(mlflow_log.ENV_URI, raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    assert main([*PRUNE, "--json", "--home", str(tmp_path / "lab"), "--mlflow", uri]) == 0
    result = json.loads(capsys.readouterr().out)
    run = jobs.open_store(tmp_path / "lab").get(result["id"])
    assert run["status"] == "finished"

    [logged] = logged_runs(uri)
    assert logged.info.run_name == result["id"] and logged.info.status == "FINISHED"
    assert result["mlflow"]["mlflow_run_id"] == logged.info.run_id
    params = logged.data.params
    assert params["kind"] == "prune" and params["model"] == "mlp" and float(params["amount"]) == 0.5
    metrics = logged.data.metrics
    numeric_core = [k for k in CORE_KEYS if isinstance(run["metrics"].get(k), (int, float))
                    and not isinstance(run["metrics"][k], bool)]
    assert {"accuracy", "sparsity", "params_nonzero"} <= set(numeric_core)
    for key in numeric_core:
        assert metrics[key] == pytest.approx(run["metrics"][key])
    client = mlflow.MlflowClient(tracking_uri=uri)
    files = {f.path: f.file_size for folder in ("model", "report")
             for f in client.list_artifacts(logged.info.run_id, folder)}
    assert files["model/model.onnx"] > 1000
    assert files["report/report.html"] > 1000
    local = client.download_artifacts(logged.info.run_id, "report/report.html", str(tmp_path))
    assert result["id"] in open(local, encoding="utf-8").read()


def test_the_setting_turns_it_on_without_the_option(tmp_path, capsys, monkeypatch):
    uri = (tmp_path / "from_env").as_uri()
    monkeypatch.setenv(mlflow_log.ENV_URI, uri)
    assert main(["train", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--home", str(tmp_path / "lab")]) == 0
    out = capsys.readouterr().out
    assert f"logged to MLflow {uri}" in out
    [logged] = logged_runs(uri)
    assert logged.data.params["kind"] == "train" and "accuracy" in logged.data.metrics


def test_without_mlflow_the_option_says_how_to_install_it_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed: `import mlflow` raises ImportError
    code = main([*PRUNE, "--home", str(tmp_path / "lab"), "--mlflow", (tmp_path / "m").as_uri()])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: --mlflow needs MLflow") and "requirements-optional.txt" in err
    assert len(err.splitlines()) == 1
    assert jobs.open_store(tmp_path / "lab").list_runs() == []  # refused before any work


def test_an_unwritable_store_is_one_line_and_the_run_stays_recorded(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["train", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--home", str(tmp_path / "lab"),
                 "--mlflow", (blocker / "mlruns").as_uri()])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]  # (and progress)
    assert code == 2 and len(errors) == 1
    assert errors[0].startswith("error: run ") and "logging it to MLflow" in errors[0]
    assert "Not a directory" in errors[0]
    [run] = jobs.open_store(tmp_path / "lab").list_runs()
    assert run["status"] == "finished"


def test_params_are_flat_strings_and_metrics_finite_numbers():
    params = mlflow_log.flat_params({"kind": "prune", "amount": 0.5, "layers": ["a", "b"], "opt": {"lr": 0.1},
                                     "path": "x" * 2000, "none": None})
    assert params == {"kind": "prune", "amount": "0.5", "layers": '["a", "b"]', "opt.lr": "0.1",
                      "path": "x" * mlflow_log.PARAM_CHARS, "none": "null"}
    metrics = mlflow_log.numeric_metrics({"loss": 0.3, "accuracy": 0.9, "flag": True, "form": "int8",
                                          "nan": float("nan"), "zz": 2})
    assert metrics == {"accuracy": 0.9, "loss": 0.3, "zz": 2.0}
    assert list(metrics) == ["accuracy", "loss", "zz"]  # the core keys first (accuracy is one), then the rest
