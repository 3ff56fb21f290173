"""AppTest of the Report page: pick finished runs, build, and download exactly the file the CLI writes."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from compress_core.cli import main as cli

from compress_core.runs import jobs
from compress_core.methods.distill import DistillSpec
from compress_core.methods.quantize import QuantizeSpec
from compress_core.present.report import build_report, report_runs
from compress_core.specs import PruneSpec, TrainSpec

from apptest_helpers import open_page

COMMON = dict(model="mlp", hidden=(32,), dataset="digits")
SPECS = [
    TrainSpec(**COMMON, epochs=2),
    PruneSpec(**COMMON, amount=0.8, baseline_epochs=2, finetune_epochs=1),
    QuantizeSpec(**COMMON, scheme="fake", bits=4, baseline_epochs=2),
    DistillSpec(model="mlp", hidden=(8,), teacher="mlp", teacher_hidden=(32,), teacher_epochs=2, dataset="digits",
                epochs=1, scratch=False),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home with one finished run of each kind, recorded the way the CLI records them."""
    home = tmp_path_factory.mktemp("report_page_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPRESS_LAB_HOME", str(home))
        mp.setenv("COMPRESS_LAB_LATENCY_REPEATS", "5")
        for spec in SPECS:
            assert jobs.record_foreground(spec.to_dict(), home=home)["status"] == "finished"
        yield home


def downloaded(at: AppTest, downloads: dict) -> bytes:
    button = at.get("download_button")
    assert len(button) == 1, "no download button"
    return downloads[Path(button[0].proto.url).stem]


def cli_report(home: Path, tmp_path: Path, *args: str) -> bytes:
    out = tmp_path / "cli.html"
    assert cli.main(["report", "--home", str(home), "--out", str(out), *args]) == 0
    return out.read_bytes()


def test_every_finished_run_by_default_same_bytes_as_the_cli(home, downloads, tmp_path):
    at = open_page("report")
    runs = jobs.open_store(home).list_runs(status="finished")
    assert sorted(at.multiselect(key="report_runs").value) == sorted(r["id"] for r in runs)
    assert not at.get("download_button")  # nothing until the report is built
    at.button(key="report_build").click().run()
    assert not at.exception and not at.error
    data = downloaded(at, downloads)
    assert data == build_report(report_runs(home, None)).encode("utf-8") == cli_report(home, tmp_path)
    page = data.decode("utf-8")
    assert all(r["id"] in page for r in runs) and "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    preview = "".join(m.value for m in at.markdown)
    assert all(r["id"] in preview for r in runs) and "smaller" in preview


def test_chosen_runs_and_title_match_the_cli_command(home, downloads, tmp_path):
    at = open_page("report")
    ids = [r["id"] for r in jobs.open_store(home).list_runs(status="finished", kind="prune")] + \
          [r["id"] for r in jobs.open_store(home).list_runs(status="finished", kind="quantize")]
    at.multiselect(key="report_runs").set_value(ids).run()
    at.text_input(key="report_title").input("Q3 review <draft>").run()
    at.button(key="report_build").click().run()
    data = downloaded(at, downloads)
    assert data == build_report(report_runs(home, ids), title="Q3 review <draft>").encode("utf-8")
    argv = shlex.split(at.code[0].value)  # the command line the page shows, run as it is
    assert argv[:4] == ["python", "-m", "compress_core", "report"] and argv[argv.index("--runs") + 1] == ",".join(ids)
    out = tmp_path / argv[argv.index("--out") + 1]
    assert cli.main(["report", *[str(out) if a == out.name else a for a in argv[4:]], "--home", str(home)]) == 0
    assert out.read_bytes() == data
    others = [r["id"] for r in jobs.open_store(home).list_runs(status="finished") if r["id"] not in ids]
    page = data.decode("utf-8")
    assert all(i in page for i in ids) and not any(i in page for i in others)


def test_a_changed_choice_asks_for_a_new_build(home, downloads):
    at = open_page("report")
    at.button(key="report_build").click().run()
    assert at.get("download_button")
    first = at.multiselect(key="report_runs").value[0]
    at.multiselect(key="report_runs").unselect(first).run()
    assert not at.get("download_button")
    assert any("press Build report again" in i.value for i in at.info)
    at.multiselect(key="report_runs").set_value([]).run()
    assert at.button(key="report_build").disabled and any("at least one" in w.value for w in at.warning)


def test_a_deleted_run_drops_out_of_the_choice(home, downloads):
    at = open_page("report")
    victim = jobs.record_foreground(TrainSpec(**COMMON, epochs=2, seed=1).to_dict(), home=home)["id"]
    at.run()  # the new run is an option now
    at.multiselect(key="report_runs").set_value([victim]).run()
    jobs.delete(victim, home)  # deleted in another tab while this page was open
    at.run()
    assert not at.exception and at.multiselect(key="report_runs").value == []
    assert at.button(key="report_build").disabled


def test_engine_errors_are_shown(home, downloads, monkeypatch):
    from compress_core.present import report
    from compress_core.errors import CompressError

    def refuse(home, ids):
        raise CompressError(f"run {ids[0]} is running; a report takes finished runs only")

    monkeypatch.setattr(report, "report_runs", refuse)
    at = open_page("report")
    first = at.multiselect(key="report_runs").value[0]
    at.button(key="report_build").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"run {first} is running; a report takes finished runs only"]
    assert not at.get("download_button")


def test_no_finished_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path))
    at = open_page("report")
    assert any("No finished runs yet" in i.value for i in at.info)
    assert not at.get("multiselect")


def test_seeds_and_automatic_epochs_read_right_on_the_page_and_in_the_file(monkeypatch, tmp_path, downloads):
    """Stored records (no training): a pruning setting over 3 seeds and a student with automatic epochs."""
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path))
    store = jobs.open_store(tmp_path)
    base = {"accuracy": 0.97, "size_fp32_bytes": 20_000, "latency_ms_b1": 0.02, "latency_ms_b64": 0.3,
            "flops_dense": 10_000}

    def record(spec, accuracy, **metrics):
        run_id = store.create_run(spec["kind"], spec, status="running")
        store.finish(run_id, {"spec": spec, "baseline": base, "environment": {"platform": "Linux-test"},
                              "metrics": {"accuracy": accuracy, "baseline_accuracy": 0.97, "test_examples": 450,
                                          "accuracy_change": accuracy - 0.97, **metrics}})
        return run_id

    for seed, accuracy in enumerate((0.96, 0.97, 0.98)):
        record(PruneSpec(**COMMON, amount=0.8, finetune_epochs=2, seed=seed).to_dict(), accuracy,
               size_bytes=4_000, compression_ratio=5.0, flops_nonzero=2_000, speedup_b64=1.0)
    student = DistillSpec(model="mlp", hidden=(8,), teacher="mlp", teacher_hidden=(32,), dataset="digits")
    assert student.epochs is None  # automatic
    record(student.to_dict(), 0.95, student_epochs=12, size_bytes=5_000, compression_ratio=4.0, flops_nonzero=2_500)
    at = open_page("report")
    preview_options = [str(o) for o in at.multiselect(key="report_runs").options]
    assert not any("None" in o for o in preview_options) and any("auto epochs" in o for o in preview_options)
    at.button(key="report_build").click().run()
    assert not at.exception and not at.error
    page = downloaded(at, downloads).decode("utf-8")
    preview = "".join(m.value for m in at.markdown)
    assert "None" not in preview
    assert "student trained 12 epochs (automatic)" in page and "None ep" not in page
    assert "97.00 %<br>(96.00 – 98.00)" in page and "mean of 3 seeds" in page
    assert "theoretical speed-up (FLOPs)" in page and "5×" in page
