"""Optional: log a finished run to MLflow, for teams that track their experiments there.

Off by default. `python -m compress_core prune ... --mlflow URI` (or the setting
`COMPRESS_LAB_MLFLOW_URI`) logs the run once it has finished and is recorded in the lab's
own store: one MLflow run named by the lab's run id, in the experiment `compression-lab`,
with

- params: the full spec, nested keys joined with dots (`kind`, `model`, `amount`, ...);
- metrics: the core metrics every run kind reports (`measure.catalogue.CORE_KEYS`) that are
  numbers, plus the other numeric metrics of the run, under the same keys as the lab's JSON;
- artifacts: `model/` the exported model (ONNX, else TorchScript for int8 models, as
  `export` writes and checks it) and `report/report.html` (the lab's self-contained report).

MLflow is not a runtime dependency: it lives in `requirements-optional.txt`
(`mlflow-skinny`); without it `--mlflow` says how to install it before any run starts.
A `file:` URI (or a plain folder) uses MLflow's file store, which MLflow 3 keeps only when
`MLFLOW_ALLOW_FILE_STORE` is set; this module sets it for such URIs (a database or an
`http(s)://` tracking server needs nothing).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from compress_core.errors import CompressError
from compress_core.measure.catalogue import CORE_KEYS
from compress_core.present.report import build_report, report_runs
from compress_core.runs import jobs
from compress_core.runs.export import export_run

ENV_URI = "COMPRESS_LAB_MLFLOW_URI"
EXPERIMENT = "compression-lab"
INSTALL = "pip install -r requirements-optional.txt (it pins mlflow-skinny)"
PARAM_CHARS = 500  # long values (file paths, layer lists) are cut to this many characters
BATCH = 100  # MLflow's log_batch takes at most 100 params per call (and 1000 metrics)


def uri_from(option: str | None) -> str | None:
    """The tracking URI: `--mlflow` when given, else `COMPRESS_LAB_MLFLOW_URI`, else None (off)."""
    value = (option or os.environ.get(ENV_URI, "")).strip()
    return value or None


def require() -> None:
    """Raise a one-line CompressError naming the install command when MLflow is not installed."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise CompressError(f"--mlflow needs MLflow, which is not installed; install it with: {INSTALL}") from None


def _client(uri: str):
    require()
    import mlflow

    if uri.startswith("file:") or "://" not in uri:  # MLflow 3 refuses its file store unless asked
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow.MlflowClient(tracking_uri=uri)


def flat_params(spec: dict, prefix: str = "") -> dict[str, str]:
    """`{"a": {"b": 1}}` -> `{"a.b": "1"}`; lists as JSON; every value a string of at most PARAM_CHARS."""
    out: dict[str, str] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[name] = text[:PARAM_CHARS]
    return out


def numeric_metrics(metrics: dict) -> dict[str, float]:
    """The run's finite numbers (booleans and texts left out), the core keys first."""
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    keys = [k for k in CORE_KEYS if k in metrics] + sorted(k for k in metrics if k not in CORE_KEYS)
    return {k: float(metrics[k]) for k in keys if number(metrics[k])}


def _export_model(run_id: str, folder: Path, home, data_dir) -> Path | None:
    """The run's model as ONNX, or TorchScript where ONNX has no form (int8); None if neither exports."""
    for fmt, name in (("onnx", "model.onnx"), ("torchscript", "model.torchscript.pt")):
        try:
            return Path(export_run(run_id, fmt, folder / name, home=home, data_dir=data_dir)["path"])
        except CompressError:
            continue
    return None


def log_run(run_id: str, uri: str, *, home=None, data_dir=None, experiment: str = EXPERIMENT) -> dict:
    """Log finished run `run_id` of `home` to the MLflow tracking server or store at `uri`.

    Returns `{mlflow_run_id, experiment_id, uri, artifact_uri, params, metrics, artifacts}`.
    Any failure of MLflow (server unreachable, store unwritable) becomes one CompressError
    line; the lab's own record of the run is untouched either way.
    """
    run = jobs.open_store(home).get(run_id)
    if run["status"] != "finished":
        raise CompressError(f"run {run_id} is {run['status']}; only finished runs are logged to MLflow")
    require()
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    try:
        client = _client(uri)  # a file store is opened (and its folder made) here already
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        tags = {"compress_lab.run_id": run_id, "compress_lab.kind": run["kind"],
                "mlflow.source.name": "compression-lab"}
        ml_run = client.create_run(experiment_id, run_name=run_id, tags=tags)
        ml_id = ml_run.info.run_id
        params = flat_params(run["spec"])
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), BATCH):
            client.log_batch(ml_id, params=items[i:i + BATCH])
        metrics = numeric_metrics(run.get("metrics") or {})
        stamp = int(1000 * float(run.get("finished_at") or run.get("created_at") or 0)) or None
        client.log_batch(ml_id, metrics=[Metric(k, v, stamp or 0, 0) for k, v in metrics.items()],
                         tags=[RunTag("compress_lab.status", run["status"])])
        artifacts = []
        with tempfile.TemporaryDirectory(prefix="compress_lab_mlflow_") as tmp:
            report = Path(tmp) / "report.html"
            report.write_text(build_report(report_runs(home, [run_id]), title=f"Compression Lab run {run_id}"),
                              encoding="utf-8")
            client.log_artifact(ml_id, str(report), "report")
            artifacts.append("report/report.html")
            model = _export_model(run_id, Path(tmp), home, data_dir)
            if model is not None:
                client.log_artifact(ml_id, str(model), "model")
                artifacts.append(f"model/{model.name}")
            else:
                client.set_tag(ml_id, "compress_lab.model", "not exported: no onnx or torchscript form")
        client.set_terminated(ml_id)
    except (MlflowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompressError(f"run {run_id} finished and is recorded, but logging it to MLflow at {uri} failed: "
                            f"{first}") from None
    return {"mlflow_run_id": ml_id, "experiment_id": experiment_id, "uri": uri,
            "artifact_uri": ml_run.info.artifact_uri, "params": len(params), "metrics": len(metrics),
            "artifacts": artifacts}
