"""Hostile names and paths: Markdown in file names, spreadsheet formulas in runs.csv, output
paths that are links, relative data paths in workers, racing and unchecked uploads."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format

from compress_core.errors import CompressError
from compress_core import fmt
from compress_core.runs import jobs
from compress_core.runs.store import RunStore

from apptest_helpers import open_page
from concurrency_helpers import REPO, repo_env

HOSTILE = "x](javascript:alert(1))![i](http:evil) =cmd $x$ :smile: <b>"


def tiny_csv(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(40)))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A home with one finished train run on a CSV whose file name is hostile."""
    home = tmp_path_factory.mktemp("inject_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPRESS_LAB_HOME", str(home))
        mp.setenv("COMPRESS_LAB_LATENCY_REPEATS", "1")
        data = tiny_csv(home, f"{HOSTILE}.csv")
        result = jobs.record_foreground({"kind": "train", "model": "mlp", "hidden": [8], "dataset": str(data),
                                         "epochs": 1}, home=home)
        yield home, result["id"], mp


def test_md_escape_leaves_no_active_markdown():
    escaped = fmt.md_escape(HOSTILE + "\nsecond line")
    assert "\n" not in escaped
    for ch in "[]()!$:<>*_`":
        assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c == ch), ch


def test_report_page_shows_file_names_as_text(finished):
    home, run_id, _ = finished
    at = open_page("report", report_runs=[run_id])
    at.button(key="report_build").click().run()
    assert not at.exception
    listed = [m.value for m in at.markdown if fmt.md_escape(run_id) in m.value]
    assert listed, [m.value for m in at.markdown]
    assert fmt.md_escape(f"{HOSTILE}.csv") in listed[0]
    assert "](javascript" not in listed[0]


def test_runs_csv_neutralises_formulas(finished):
    home, run_id, _ = finished
    store = RunStore(home)
    formula = store.create_run("train", {"kind": "train", "model": "=HYPERLINK(\"http://evil\")",
                                         "dataset": "@SUM(1)", "lr": -0.5})
    try:
        text = store.export("csv")
    finally:
        store.delete(formula)
    row = next(line for line in text.splitlines() if line.startswith(formula))
    assert "'=HYPERLINK" in row and "'@SUM(1)" in row
    assert ",-0.5," in row  # numbers stay numbers


@pytest.mark.parametrize("command", [
    ["export", "{run}", "--format", "state_dict", "--out", "{out}"],
    ["report", "--runs", "{run}", "--out", "{out}"],
    ["runs", "export", "--out", "{out}"],
])
def test_out_never_writes_through_a_link(finished, tmp_path, command):
    home, run_id, _ = finished
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "out.file"
    link.symlink_to(target)
    args = [a.format(run=run_id, out=link) for a in command]
    done = subprocess.run([sys.executable, "-m", "compress_core", *args, "--home", str(home)],
                          capture_output=True, text=True, env=repo_env(), cwd=REPO, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "symbolic link" in done.stderr.strip().splitlines()[-1]
    assert target.read_text() == "keep me" and link.is_symlink()


def test_relative_data_path_works_in_a_worker(tmp_path, monkeypatch):
    """Queued from one folder, run from the worker's folder (its home), as a worker does."""
    home = tmp_path / "home"
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(home))
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "1")
    tiny_csv(tmp_path, "rel.csv")
    monkeypatch.chdir(tmp_path)
    run_id = jobs.submit({"kind": "train", "model": "mlp", "hidden": [8], "dataset": "rel.csv", "epochs": 1}, home,
                         start_workers=False)
    store = RunStore(home)
    assert store.get(run_id)["spec"]["dataset"] == str(tmp_path / "rel.csv")
    monkeypatch.chdir(home)  # workers run with the home folder as their working directory
    claimed = store.claim_next(os.getpid())
    assert claimed["id"] == run_id
    assert jobs.run_claimed(store, claimed, home) == "finished", store.get(run_id)["error"]


def test_concurrent_saves_of_one_upload_do_not_collide(tmp_path):
    from ui.common import save_upload

    data = tiny_csv(tmp_path, "u.csv").read_bytes()
    errors, paths = [], []

    def save():
        try:
            paths.append(save_upload(data, ".csv", tmp_path / "home"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(paths)) == 1 and paths[0].read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "home" / "uploads").iterdir()) == [paths[0].name]


def test_uploads_are_checked_before_they_are_kept(tmp_path):
    from ui.common import save_upload

    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("X.npy", "w") as fp:
            npy_format.write_array_header_2_0(fp, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 1250)})
        with zf.open("y.npy", "w") as fp:
            npy_format.write_array(fp, np.zeros(4, dtype=np.int64))
    with pytest.raises(CompressError, match="declared size"):
        save_upload(bomb.read_bytes(), ".npz", tmp_path / "home")
    wide = ",".join(f"c{i}" for i in range(20_000)).encode() + b",label\n"
    with pytest.raises(CompressError, match="number of columns"):
        save_upload(wide, ".csv", tmp_path / "home")
    assert list((tmp_path / "home" / "uploads").iterdir()) == []  # nothing unchecked stays, no temp files
