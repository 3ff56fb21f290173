"""Pages that only read stored results draw their first screen without importing torch (issue 19).

A visit to Speed (with finished runs), to Report or to Compare (empty or with finished runs) on a fresh
server should not pay for torch (~1 s) and every method module: their readers (`measure/speed_file.py`,
the Report modules' build-time imports, `methods/spec_fields.py` for stored specs, the export formats in
`runs/export_checks.py`) import the engine only when a table is timed, a report is built or a model is
exported. The check runs in a subprocess with the warm-up off, so nothing else in the process has
imported torch. The stored runs have the full specs this version stores (`spec.to_dict()`), built here
in the test process; a record of an older version, with fields missing, still draws (with torch).
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from compress_core.measure import speed, speed_file
from compress_core.methods.registry import spec_from_dict
from compress_core.runs import export, export_checks

ROOT = Path(__file__).resolve().parents[1]

VISIT = textwrap.dedent("""
    import json, sys
    from compress_core.runs.store import RunStore
    home, app, page, specs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    store = RunStore(home)
    for spec in specs:
        run_id = store.create_run(spec["kind"], spec, status="running")
        store.finish(run_id, {"metrics": {"accuracy": 0.9, "baseline_accuracy": 0.95, "size_bytes": 1000}})
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(app, default_timeout=120)
    at.switch_page(page)
    at.run()
    print(json.dumps({"exceptions": [e.message for e in at.exception], "errors": [e.value for e in at.error],
                      "titles": [t.value for t in at.title], "selectboxes": [s.label for s in at.selectbox],
                      "info": [i.value for i in at.info], "multiselects": [m.value for m in at.multiselect],
                      "dataframes": len(at.dataframe), "torch": "torch" in sys.modules}))
""")

# The runs a lab with results holds: one per kind that the pages list, with settings away from the defaults.
RUNS = {"prune": {"method": "l1", "amount": 0.5}, "quantize": {"scheme": "fake", "bits": 4}, "train": {}}


def stored_specs() -> list[dict]:
    """RUNS as the store keeps them: each validated spec's `to_dict()`, every field present."""
    return [spec_from_dict({"kind": kind, "model": "lenet300", "dataset": "digits", **spec}).to_dict()
            for kind, spec in RUNS.items()]


def older_specs() -> list[dict]:
    """RUNS as an older version may have stored them: only the fields it knew (here: the ones set)."""
    return [{"kind": kind, "model": "lenet300", "dataset": "digits", **spec} for kind, spec in RUNS.items()]


def visit(tmp_path, page: str, with_runs: bool, specs: list[dict] | None = None) -> dict:
    if specs is None:
        specs = stored_specs() if with_runs else []
    env = {**os.environ, "COMPRESS_LAB_HOME": str(tmp_path), "COMPRESS_LAB_WARMUP": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", VISIT, str(tmp_path), str(ROOT / "app.py"), page,
                           json.dumps(specs)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["exceptions"] == [] and out["errors"] == [], out
    return out


def test_speed_page_lists_finished_runs_without_importing_torch(tmp_path):
    out = visit(tmp_path, "pages/speed.py", with_runs=True)
    assert "Speed" in " ".join(out["titles"]) and out["selectboxes"]  # the run chooser is drawn
    assert out["torch"] is False


def test_report_page_of_an_empty_lab_draws_without_importing_torch(tmp_path):
    out = visit(tmp_path, "pages/report.py", with_runs=False)
    assert any("No finished runs yet" in i for i in out["info"])
    assert out["torch"] is False


def test_report_page_with_finished_runs_draws_without_importing_torch(tmp_path):
    out = visit(tmp_path, "pages/report.py", with_runs=True)
    assert "Report" in " ".join(out["titles"]) and len(out["multiselects"][0]) == len(RUNS)  # every run chosen
    assert out["torch"] is False


def test_compare_page_draws_without_importing_torch(tmp_path):
    empty = visit(tmp_path / "empty", "pages/compare.py", with_runs=False)
    assert any("No finished runs yet" in i for i in empty["info"]) and empty["torch"] is False
    out = visit(tmp_path / "runs", "pages/compare.py", with_runs=True)
    assert "Compare" in " ".join(out["titles"]) and out["multiselects"][0] and out["dataframes"] >= 2  # metrics, specs
    assert out["torch"] is False


def test_records_of_an_older_version_still_draw_their_specs(tmp_path):
    """Fields missing from a stored spec are filled in from the spec classes (which import torch)."""
    for page in ("pages/compare.py", "pages/report.py"):
        out = visit(tmp_path / page.split("/")[1], page, with_runs=True, specs=older_specs())
        assert out["multiselects"][0], page


def test_export_module_still_offers_the_formats_and_checks():
    assert (export.FORMATS, export.INT8_FORMATS, export.TOLERANCE, export.CHECK_ROWS) == (
        export_checks.FORMATS, export_checks.INT8_FORMATS, export_checks.TOLERANCE, export_checks.CHECK_ROWS)
    assert set(export_checks.INT8_FORMATS) < set(export_checks.FORMATS)


def test_speed_module_still_offers_the_torch_free_readers():
    assert (speed.BATCHES, speed.SPEED_FILE, speed.load_speed) == (speed_file.BATCHES, speed_file.SPEED_FILE,
                                                                    speed_file.load_speed)
    assert speed_file.BATCHES == (1, 8, 64, 256) and speed_file.SPEED_FILE == "speed.json"
