"""Hostile and oversized data files are refused in one line before memory is spent.

The bombs are real: zip members that inflate to gigabytes of zeros from a few MB, or
headers that declare 10 GB in a file of a few hundred bytes. Memory is checked in a
child process (its peak RSS from `resource.getrusage`), so the figure is not hidden
by what the test process already holds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from numpy.lib import format as npy_format
from torch import nn

from compress_core.data import datasets as data
from compress_core.data import limits
from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.models.zoo import build_model, parse_hidden
from compress_core.training.loop import EVAL_BATCH, evaluate

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COMPRESS_LAB_DATA_DIR", raising=False)
    for name in list(os.environ):
        if name.startswith(limits.ENV_PREFIX):
            monkeypatch.delenv(name)
    data.clear_cache()
    yield
    data.clear_cache()


def zero_bomb(path: Path, n_bytes: int, cols: int = 1000) -> Path:
    """An .npz whose X really inflates to `n_bytes` of float64 zeros (written in streamed chunks)."""
    rows = n_bytes // 8 // cols
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("X.npy", "w", force_zip64=True) as fp:
            npy_format.write_array_header_1_0(fp, {"descr": "<f8", "fortran_order": False, "shape": (rows, cols)})
            chunk = bytes(16 << 20)
            for _ in range(rows * cols * 8 // len(chunk)):
                fp.write(chunk)
            fp.write(bytes(rows * cols * 8 % len(chunk)))
        with zf.open("y.npy", "w") as fp:
            npy_format.write_array(fp, (np.arange(rows) % 2).astype(np.int64))
    return path


def declared_only(path: Path, shape, descr="<f8", body: bytes = b"") -> Path:
    """An .npz whose X header declares `shape` but holds only `body` (kilobytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("X.npy", "w") as fp:
            npy_format.write_array_header_2_0(fp, {"descr": descr, "fortran_order": False, "shape": shape})
            fp.write(body)
        with zf.open("y.npy", "w") as fp:
            npy_format.write_array(fp, np.zeros(4, dtype=np.int64))
    return path


def in_child(code: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh interpreter; it prints a JSON dict, to which the peak RSS (MB) is added."""
    wrapper = (
        "import json, resource, sys\n"
        "out = {}\n"
        f"{code}\n"
        # VmHWM is this process's own peak: ru_maxrss is carried over from the forking parent (a large
        # pytest process), which made the figure depend on which tests ran before.
        "out['peak_rss_mb'] = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


LOAD = (
    "from compress_core.data.datasets import load_dataset\n"
    "from compress_core.errors import CompressError\n"
    "try:\n"
    "    load_dataset(sys.argv[1] if len(sys.argv) > 1 else PATH)\n"
    "    out['error'] = None\n"
    "except CompressError as exc:\n"
    "    out['error'] = str(exc)\n"
)


@pytest.fixture(scope="module")
def bomb_2gib(tmp_path_factory) -> Path:
    return zero_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz", 2 * GIB)


# --------------------------------------------------------------------------- NPZ bombs and headers


def test_real_zero_bomb_is_refused_before_it_is_unpacked(bomb_2gib):
    assert bomb_2gib.stat().st_size < 16 * 1024 * 1024  # 2 GiB of zeros in a few MB
    out = in_child(f"PATH = {str(bomb_2gib)!r}\n" + LOAD, {"COMPRESS_LAB_LIMIT_MAX_ARRAY_MB": "512"})
    assert out["error"] is not None and "\n" not in out["error"]
    assert "declared size" in out["error"] and "COMPRESS_LAB_LIMIT_MAX_ARRAY_MB" in out["error"]
    # Importing torch, numpy and pandas costs a few hundred MB; the 2 GiB array never appears.
    assert out["peak_rss_mb"] < 900, out


def test_ten_gb_declared_in_kilobytes_is_refused(tmp_path):
    path = declared_only(tmp_path / "ten_gb.npz", (1_250_000, 1000), body=bytes(4096))
    assert path.stat().st_size < 10_000
    out = in_child(f"PATH = {str(path)!r}\n" + LOAD)
    assert "declared size" in out["error"] and "10,000,000,000" not in out["error"]
    assert "9,536.7 MB" in out["error"] and "1,024 MB" in out["error"]
    assert out["peak_rss_mb"] < 900, out


def test_preview_reads_only_the_rows_it_shows(bomb_2gib):
    """With the array limit raised, the 5-row preview still inflates kilobytes, not 2 GiB."""
    code = (f"from compress_core.data.limits import npz_head\n"
            f"x, y = npz_head(__import__('pathlib').Path({str(bomb_2gib)!r}), 5)\n"
            "out['x_shape'] = list(x.shape); out['y'] = y.tolist(); out['x_sum'] = float(x.sum())\n")
    out = in_child(code, {"COMPRESS_LAB_LIMIT_MAX_ARRAY_MB": "100000"})
    assert out["x_shape"] == [5, 1000] and out["y"] == [0, 1, 0, 1, 0] and out["x_sum"] == 0.0
    assert out["peak_rss_mb"] < 900, out


def test_preview_matches_numpy_on_a_normal_file(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2, 3)).astype(np.float32), np.array(["a", "bb", "c"] * 10)
    np.savez_compressed(tmp_path / "ok.npz", X=x, y=y)
    hx, hy = limits.npz_head(tmp_path / "ok.npz", 5)
    np.testing.assert_array_equal(hx, x[:5])
    np.testing.assert_array_equal(hy, y[:5])


@pytest.mark.parametrize("make, pattern", [
    (lambda p: np.savez(p, X=np.array([{"a": 1}] * 12, dtype=object), y=np.arange(12) % 2), "object arrays"),
    (lambda p: np.savez(p, X=np.zeros((0, 3)), y=np.zeros(0)), "X has no rows"),
    (lambda p: np.savez(p, X=np.zeros((12, 0)), y=np.arange(12) % 2), "empty dimension"),
    (lambda p: np.savez(p, X=np.full((12, 2), 1e308), y=np.arange(12) % 2), r"values up to 1e\+308; the limit"),
    (lambda p: np.savez(p, X=np.full((12, 2), np.nan), y=np.arange(12) % 2), "NaN"),
    (lambda p: np.savez(p, X=np.zeros((12, 2)), y=np.arange(13) % 2), "12 rows but y has 13"),
], ids=["object", "zero-rows", "zero-width", "1e308", "nan", "row-mismatch"])
def test_malformed_npz_is_refused_in_one_line(tmp_path, make, pattern):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(CompressError, match=pattern) as info:
        load_dataset(path)
    assert "\n" not in str(info.value)


def test_pickle_disguised_as_npy_member_is_refused(tmp_path):
    import pickle

    path = tmp_path / "pickled.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", pickle.dumps({"evil": "payload"}))
        zf.writestr("y.npy", pickle.dumps([0, 1]))
    with pytest.raises(CompressError, match="bad header"):
        load_dataset(path)


def test_truncated_npz_is_refused(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, X=np.random.default_rng(0).normal(size=(200, 50)), y=np.arange(200) % 2)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CompressError, match="could not be read as .npz"):
        load_dataset(cut)
    short = declared_only(tmp_path / "short.npz", (100, 10), body=bytes(80))  # header says 8,000 bytes
    with pytest.raises(CompressError, match="truncated"):
        load_dataset(short)


def test_npz_member_that_is_not_an_array_is_refused(tmp_path):
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("run.py", "import os")
    with pytest.raises(CompressError, match="not a .npy array"):
        load_dataset(path)


def test_wrong_extension_is_refused(tmp_path):
    npz = tmp_path / "real.npz"
    np.savez(npz, X=np.zeros((12, 2)), y=np.arange(12) % 2)
    disguised = tmp_path / "table.csv"
    disguised.write_bytes(npz.read_bytes())
    with pytest.raises(CompressError) as info:
        load_dataset(disguised)
    assert "\n" not in str(info.value)
    (tmp_path / "data.txt").write_text("a,label\n1,0\n")
    with pytest.raises(CompressError, match="unsupported file type"):
        load_dataset(tmp_path / "data.txt")


# --------------------------------------------------------------------------- CSV


def test_csv_with_too_many_columns_is_refused_from_its_header(tmp_path):
    path = tmp_path / "wide.csv"
    n = 20_000
    header = ",".join(f"c{i}" for i in range(n)) + ",label\n"
    path.write_text(header + ",".join("1" for _ in range(n)) + ",0\n")
    with pytest.raises(CompressError, match=r"number of columns is 20,001; the limit is 10,000 "
                                            r"\(set COMPRESS_LAB_LIMIT_MAX_COLUMNS"):
        load_dataset(path)


def test_csv_rows_are_counted_while_reading(tmp_path, monkeypatch):
    path = tmp_path / "long.csv"
    path.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(300)))
    monkeypatch.setenv("COMPRESS_LAB_LIMIT_MAX_ROWS", "100")
    with pytest.raises(CompressError, match="number of rows is .*; the limit is 100"):
        load_dataset(path)
    monkeypatch.setenv("COMPRESS_LAB_LIMIT_MAX_ROWS", "1000")
    data.clear_cache()
    assert load_dataset(path).num_classes == 2


def test_csv_with_too_many_classes_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "classes.csv"
    path.write_text("a,label\n" + "".join(f"{i},{i // 2}\n" for i in range(3000)))  # 1,500 classes
    with pytest.raises(CompressError, match="number of classes is 1,500; the limit is 1,000"):
        load_dataset(path)
    half = tmp_path / "half.csv"
    half.write_text("a,label\n" + "".join(f"{i},{i if i < 15 else 0}\n" for i in range(20)))
    with pytest.raises(CompressError, match="15 classes in 20 rows; at most half"):
        load_dataset(half)


def test_csv_absurd_values_are_refused(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("a,label\n" + "".join(f"{1e300 if i == 3 else i},{i % 2}\n" for i in range(20)))
    with pytest.raises(CompressError, match=r"values up to 1e\+300; the limit is \|value\| <= 1e\+15"):
        load_dataset(path)


def test_symlink_out_of_the_data_folder_is_refused(tmp_path, monkeypatch):
    outside = tmp_path / "outside.csv"
    outside.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    folder = tmp_path / "lab_data"
    folder.mkdir()
    monkeypatch.setenv("COMPRESS_LAB_DATA_DIR", str(folder))
    (folder / "link.csv").symlink_to(outside)
    with pytest.raises(CompressError, match="outside the folder"):
        load_dataset(folder / "link.csv")
    (folder / "real.csv").write_text(outside.read_text())
    (folder / "inner.csv").symlink_to(folder / "real.csv")
    assert load_dataset(folder / "inner.csv").num_classes == 2
    assert load_dataset(outside).num_classes == 2  # a file named directly, outside the lab's folders, is fine


def test_file_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(100_000)))
    monkeypatch.setenv("COMPRESS_LAB_LIMIT_MAX_FILE_MB", "0.5")
    with pytest.raises(CompressError, match="size is .* MB; the limit is 0.5 MB"):
        load_dataset(path)


def test_bad_limit_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LIMIT_MAX_ROWS", "lots")
    with pytest.raises(CompressError, match="COMPRESS_LAB_LIMIT_MAX_ROWS='lots' is not a number"):
        limits.current()
    monkeypatch.setenv("COMPRESS_LAB_LIMIT_MAX_ROWS", "-3")
    with pytest.raises(CompressError, match="must be a positive number"):
        limits.current()


# --------------------------------------------------------------------------- memory errors


def test_memory_error_while_loading_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(data, "_load_csv", exhausted)
    with pytest.raises(CompressError, match="out of memory during loading .*t.csv"):
        load_dataset(path)


def test_torch_allocator_failure_in_a_run_is_one_line(monkeypatch, lab_home):
    from compress_core import api
    from compress_core.methods.registry import spec_from_dict

    def allocator_fails(spec, ctx):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(api, "method_for", lambda spec: SimpleNamespace(run=allocator_fails))
    spec = spec_from_dict({"kind": "train", "dataset": "digits", "model": "mlp"})
    with pytest.raises(CompressError, match="out of memory during the train run"):
        api.run(spec, home=lab_home)

    def other_bug(spec, ctx):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(api, "method_for", lambda spec: SimpleNamespace(run=other_bug))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # real bugs are not disguised as OOM
        api.run(spec, home=lab_home)


# --------------------------------------------------------------------------- models and evaluation


def test_hidden_widths_and_depth_are_bounded():
    with pytest.raises(CompressError, match="widest hidden layer is 100,000; the limit is 16,384"):
        parse_hidden("100000")
    with pytest.raises(CompressError, match="number of hidden layers is 40; the limit is 32"):
        parse_hidden(",".join(["8"] * 40))
    assert parse_hidden("300,100") == (300, 100)


def test_parameter_count_is_checked_before_the_model_is_built(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LIMIT_MAX_MODEL_PARAMS", "1000000")
    with pytest.raises(CompressError, match="parameter count of model .mlp. is 16,822,282; the limit is 1,000,000"):
        build_model("mlp", (1, 64, 64), 10, "4096")  # 4096*4096 + 4096 + 4096*10 + 10 parameters: refused unbuilt
    assert sum(p.numel() for p in build_model("mlp", (64,), 10, "300,100").parameters()) < 1_000_000


class _Recorder(nn.Module):
    """A linear model that remembers the largest batch it was asked to score."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(features, classes)
        self.largest = 0

    def forward(self, x):
        self.largest = max(self.largest, len(x))
        return self.fc(x)


def test_evaluate_is_batch_by_batch_and_matches_the_full_computation():
    torch.manual_seed(0)
    x, y = torch.randn(2 * EVAL_BATCH + 17, 6), torch.randint(0, 300, (2 * EVAL_BATCH + 17,))
    model = _Recorder(6, 300)
    acc, loss = evaluate(model, x, y)
    assert model.largest == EVAL_BATCH  # never more than one batch of N x K logits at a time
    with torch.no_grad():
        logits = model.fc(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
