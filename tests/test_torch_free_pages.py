"""Pages that only read stored results draw their first screen without importing torch (issue 19).

A visit to Speed (with finished runs) or to Report (in an empty lab) on a fresh server should not pay
for torch (~1 s) and every method module: their readers (`measure/speed_file.py`, the Report modules'
build-time imports) import the engine only when a table is timed or a report is built. The check runs
in a subprocess with the warm-up off, so nothing else in the process has imported torch.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from compress_core.measure import speed, speed_file

ROOT = Path(__file__).resolve().parents[1]

VISIT = textwrap.dedent("""
    import json, sys
    from compress_core.runs.store import RunStore
    home, app, page, with_runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    if with_runs:
        store = RunStore(home)
        for kind, spec in {"prune": {"method": "l1", "amount": 0.5}, "quantize": {"scheme": "fake", "bits": 4},
                           "train": {}}.items():
            run_id = store.create_run(kind, {"kind": kind, "model": "lenet300", "dataset": "digits", **spec},
                                      status="running")
            store.finish(run_id, {"metrics": {"accuracy": 0.9, "baseline_accuracy": 0.95, "size_bytes": 1000}})
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(app, default_timeout=120)
    at.switch_page(page)
    at.run()
    print(json.dumps({"exceptions": [e.message for e in at.exception], "errors": [e.value for e in at.error],
                      "titles": [t.value for t in at.title], "selectboxes": [s.label for s in at.selectbox],
                      "info": [i.value for i in at.info], "torch": "torch" in sys.modules}))
""")


def visit(tmp_path, page: str, with_runs: bool) -> dict:
    env = {**os.environ, "COMPRESS_LAB_HOME": str(tmp_path), "COMPRESS_LAB_WARMUP": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", VISIT, str(tmp_path), str(ROOT / "app.py"), page,
                           "1" if with_runs else "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
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


def test_speed_module_still_offers_the_torch_free_readers():
    assert (speed.BATCHES, speed.SPEED_FILE, speed.load_speed) == (speed_file.BATCHES, speed_file.SPEED_FILE,
                                                                    speed_file.load_speed)
    assert speed_file.BATCHES == (1, 8, 64, 256) and speed_file.SPEED_FILE == "speed.json"
