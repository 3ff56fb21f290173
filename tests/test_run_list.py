"""Home's static run table (compress_core/present/run_list.py): cells formatted from store records as the grid
formatted them, Markdown that shows names literally, and nothing heavier than the standard library imported."""
import subprocess
import sys
from pathlib import Path

from compress_core import fmt
from compress_core.methods.registry import describe
from compress_core.present import plots, run_list
from apptest_helpers import markdown_columns

PRUNED = {"id": "r1", "kind": "prune", "status": "finished", "created_at": 1764547200.0,
          "spec": {"kind": "prune", "method": "l1", "amount": 0.5, "scope": "global", "schedule": "oneshot",
                   "finetune_epochs": 0, "model": "lenet300", "dataset": "/data/folder/digits"},
          "metrics": {"accuracy": 0.9733, "accuracy_change": -0.0044, "size_bytes": 109_000, "size_form": "sparse"}}


def test_a_finished_run_reads_as_the_grid_showed_it():
    cells = run_list.run_cells(PRUNED)
    assert cells == {"run": "r1", "method": plots.label_of("l1"), "setting": describe("prune", PRUNED["spec"]),
                     "status": "finished", "accuracy (%)": "97.33", "vs baseline (pp)": "-0.44",
                     "smallest size": f"{fmt.size(109_000)} (sparse)", "model": "lenet300", "data set": "digits",
                     "created (UTC)": "2025-12-01 00:00:00"}
    assert set(cells) == {heading for heading, _ in run_list.COLUMNS}


def test_running_runs_show_their_progress_and_missing_figures_a_dash():
    running = {"id": "r2", "kind": "quantize", "status": "running", "progress": {"step": 3, "total": 8},
               "spec": {"scheme": "fake", "bits": 4}}
    cells = run_list.run_cells(running)
    assert cells["status"] == "running (38%)" and cells["method"] == plots.label_of("quantize")
    assert cells["accuracy (%)"] == cells["vs baseline (pp)"] == cells["smallest size"] == run_list.MISSING
    assert cells["created (UTC)"] == run_list.MISSING and cells["data set"] == ""
    assert run_list.run_cells({**running, "status": "queued", "progress": {}})["status"] == "queued"


def test_a_kind_the_label_table_does_not_know_is_named_by_the_functions_given():
    run = {"id": "r3", "kind": "echo", "status": "finished", "spec": {"level": 2}, "metrics": {"accuracy": 0.5}}
    assert run_list.run_cells(run)["method"] == "echo"  # no label known: the key itself
    cells = run_list.run_cells(run, method_label=lambda key: f"Echo ({key})", describe=lambda kind, spec: "level 2")
    assert (cells["method"], cells["setting"], cells["accuracy (%)"]) == ("Echo (echo)", "level 2", "50.00")


def test_the_table_shows_names_literally_one_row_per_run():
    odd = {**PRUNED, "id": "r4", "spec": {**PRUNED["spec"], "model": "hf:/models/my_bert|v2 *new*\n<b>x</b>"}}
    table = run_list.markdown_table([run_list.run_cells(PRUNED), run_list.run_cells(odd)])
    lines = table.splitlines()
    assert len(lines) == 4  # heading, alignment, two runs
    columns = markdown_columns(table)
    assert list(columns) == [h for h, _ in run_list.COLUMNS]
    alignment = lines[1].strip("|").split("|")
    assert [a == "---:" for a in alignment] == [align == "right" for _, align in run_list.COLUMNS]
    assert columns["model"][1] == "hf:/models/my_bert|v2 *new* <b>x</b>"  # every character literal, one line
    assert "<b>" not in lines[3] and "*new*" not in lines[3] and "my_bert" not in lines[3]
    assert run_list.escape("") == run_list.MISSING


def test_the_module_imports_no_pandas_numpy_or_torch():
    code = ("import sys; from compress_core.present import run_list; "
            "print(sorted(m for m in ('pandas', 'numpy', 'torch', 'plotly') if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
