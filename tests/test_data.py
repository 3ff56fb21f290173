"""Tests for compress_core.data: built-in loaders on tiny synthetic files, user files, caching.

Nothing here touches the network: an autouse fixture makes urlopen and socket connects fail.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import socket
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from compress_core.data import datasets as data
from compress_core.data.datasets import (
    DATASETS,
    Dataset,
    dataset_fingerprint,
    default_epochs,
    describe,
    load_dataset,
)
from compress_core.errors import CompressError

IDX_BASES = data._IDX_FILES


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No network, a private home folder and an empty cache for every test."""

    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be used in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("COMPRESS_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COMPRESS_LAB_DATA_DIR", raising=False)
    data.clear_cache()
    yield
    data.clear_cache()


# --------------------------------------------------------------------------- helpers


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    magic = magic if magic is not None else 0x800 + arr.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write_idx(folder: Path, base: str, arr: np.ndarray, gz: bool, magic: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = idx_bytes(arr, magic)
    path = folder / (base + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def mnist_arrays(n_train=20, n_test=10, h=5, w=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_mnist(folder: Path, gz, arrays=None) -> dict:
    arrays = arrays or mnist_arrays()
    for i, (base, arr) in enumerate(arrays.items()):
        write_idx(folder, base, arr, gz if isinstance(gz, bool) else gz[i])
    return arrays


def write_cifar(folder: Path, per_batch=4, n_test=5, meta=True, str_keys=False, seed=0) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def key(k):
        return k if str_keys else k.encode()

    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        arr = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        arr[:, :1024] //= 4  # make the red channel darker, so per-channel stats differ
        labels = [int(v) for v in rng.integers(0, 10, n)]
        batches[name] = (arr, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({key("batch_label"): b"tiny", key("data"): arr, key("labels"): labels}, f, protocol=2)
    if meta:
        names = [f"class{i}".encode() for i in range(10)]
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({key("label_names"): names, key("num_cases_per_batch"): per_batch}, f, protocol=2)
    return batches


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def table_csv(n=20, label_fn=lambda i: i % 2, extra="") -> str:
    rows = ["a,b,label" + extra]
    for i in range(n):
        rows.append(f"{i},{(i * 7) % 5 + 0.5},{label_fn(i)}")
    return "\n".join(rows) + "\n"


def assert_normalised(x: torch.Tensor, dims, atol=1e-4):
    mean = x.double().mean(dim=dims)
    std = x.double().std(dim=dims, unbiased=False)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=atol)
    assert torch.allclose(std, torch.ones_like(std), atol=1e-3)


# --------------------------------------------------------------------------- registry / digits


def test_registry_names():
    assert DATASETS.names() == ["digits", "mnist", "fashion-mnist", "cifar10", "text-demo"]


def test_digits_shapes_and_normalisation(tmp_path):
    ds = load_dataset("digits", data_dir=tmp_path)
    assert isinstance(ds, Dataset)
    assert ds.is_image and ds.input_shape == (1, 8, 8)
    assert ds.num_classes == 10 and ds.class_names == tuple(str(i) for i in range(10))
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train.shape[0] + ds.x_test.shape[0] == 1797
    assert ds.x_test.shape == (450, 1, 8, 8)  # 25 % test
    assert_normalised(ds.x_train, (0, 2, 3))
    # Statistics come from the training split only: the test split is not re-centred.
    assert abs(float(ds.x_test.double().mean())) > 1e-4


def test_digits_uses_train_statistics_only(tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    b = load_digits()
    x = b.images.reshape(-1, 1, 8, 8) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, b.target, test_size=0.25, random_state=0, stratify=b.target)
    mean, std = x_tr.mean(), x_tr.std()
    ds = load_dataset("digits", data_dir=tmp_path)
    np.testing.assert_allclose(ds.x_test.numpy(), (x_te - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(ds.y_test.numpy(), y_te)
    np.testing.assert_array_equal(ds.y_train.numpy(), y_tr)


def test_digits_split_is_deterministic_and_stratified(tmp_path):
    a = load_dataset("digits", data_dir=tmp_path)
    data.clear_cache()
    b = load_dataset("digits", data_dir=tmp_path)
    assert a is not b
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    train_frac = torch.bincount(a.y_train, minlength=10).double() / len(a.y_train)
    test_frac = torch.bincount(a.y_test, minlength=10).double() / len(a.y_test)
    assert torch.allclose(train_frac, test_frac, atol=0.01)


def test_cache_returns_same_object(tmp_path):
    a = load_dataset("digits", data_dir=tmp_path)
    assert load_dataset("digits", data_dir=tmp_path) is a
    assert load_dataset("  DIGITS ", data_dir=tmp_path) is a


def test_default_data_dir_is_used(tmp_path):
    write_mnist(tmp_path / "home" / "data" / "mnist", gz=True)
    assert load_dataset("mnist").x_train.shape[0] == 20


def test_dataset_is_frozen(tmp_path):
    ds = load_dataset("digits", data_dir=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"


def test_unknown_name_lists_choices_and_mentions_files(tmp_path):
    with pytest.raises(CompressError) as exc:
        load_dataset("mnsit", data_dir=tmp_path)
    msg = str(exc.value)
    assert "mnsit" in msg and "digits" in msg and "cifar10" in msg and ".csv" in msg and ".npz" in msg


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST


@pytest.mark.parametrize("gz", [True, False, (True, False, False, True)], ids=["gz", "raw", "mixed"])
def test_mnist_loader(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.name == "mnist" and ds.is_image
    assert ds.input_shape == (1, 5, 4)  # whatever size the files say
    assert ds.x_train.shape == (20, 1, 5, 4) and ds.x_test.shape == (10, 1, 5, 4)
    assert ds.class_names == tuple(str(i) for i in range(10))
    np.testing.assert_array_equal(ds.y_train.numpy(), arrays["train-labels-idx1-ubyte"])
    assert_normalised(ds.x_train, (0, 1, 2, 3))
    # Test images normalised with the training statistics of pixels scaled to [0, 1].
    tr = arrays["train-images-idx3-ubyte"] / 255.0
    expected = (arrays["t10k-images-idx3-ubyte"] / 255.0 - tr.mean()) / tr.std()
    np.testing.assert_allclose(ds.x_test.numpy()[:, 0], expected, atol=1e-5)


def test_fashion_mnist_loader(tmp_path):
    write_mnist(tmp_path / "fashion-mnist", gz=False)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[-1] == "Ankle boot"
    assert ds.num_classes == 10 and ds.x_train.shape == (20, 1, 5, 4)


def test_idx_corrupt_magic_names_file(tmp_path):
    folder = tmp_path / "mnist"
    arrays = write_mnist(folder, gz=True)
    bad = write_idx(folder, "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"], gz=True, magic=0x801)
    with pytest.raises(CompressError, match="magic") as exc:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(bad) in str(exc.value)


def test_idx_corrupt_magic_raw_fashion(tmp_path):
    folder = tmp_path / "fashion-mnist"
    arrays = write_mnist(folder, gz=False)
    write_idx(folder, "t10k-labels-idx1-ubyte", arrays["t10k-labels-idx1-ubyte"], gz=False, magic=0x1234)
    with pytest.raises(CompressError, match="t10k-labels-idx1-ubyte.*magic"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


def test_idx_truncated(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CompressError, match="train-images-idx3-ubyte is truncated"):
        load_dataset("mnist", data_dir=tmp_path)


def test_idx_bad_gzip(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder, gz=True)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"definitely not gzip")
    with pytest.raises(CompressError, match="train-labels-idx1-ubyte.gz could not be read"):
        load_dataset("mnist", data_dir=tmp_path)


def test_idx_count_mismatch_and_bad_labels(tmp_path):
    arrays = mnist_arrays()
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:-1]
    write_mnist(tmp_path / "mnist", gz=False, arrays=arrays)
    with pytest.raises(CompressError, match="20 images.*19 labels"):
        load_dataset("mnist", data_dir=tmp_path)

    arrays = mnist_arrays()
    arrays["t10k-labels-idx1-ubyte"][0] = 12
    write_mnist(tmp_path / "mnist", gz=False, arrays=arrays)
    with pytest.raises(CompressError, match="label 12"):
        load_dataset("mnist", data_dir=tmp_path)


def test_missing_idx_files_lists_paths(tmp_path):
    with pytest.raises(CompressError) as exc:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(exc.value)
    for base in IDX_BASES:
        assert base in msg
    assert str((tmp_path / "mnist").resolve()) in msg and "--download" in msg
    assert "them from https://" in msg


def test_missing_some_idx_files_lists_only_those(tmp_path):
    arrays = mnist_arrays()
    write_idx(tmp_path / "fashion-mnist", "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"], gz=True)
    with pytest.raises(CompressError) as exc:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    msg = str(exc.value)
    assert "train-images-idx3-ubyte," not in msg and "t10k-labels-idx1-ubyte" in msg
    assert str((tmp_path / "fashion-mnist").resolve()) in msg


class FakeResponse(io.BytesIO):
    pass


def test_mnist_download_verifies_md5(tmp_path, monkeypatch):
    arrays = mnist_arrays()
    payloads = {f"{b}.gz": gzip.compress(idx_bytes(a)) for b, a in arrays.items()}
    monkeypatch.setattr(data, "MNIST_MD5", {k: hashlib.md5(v).hexdigest() for k, v in payloads.items()})
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append((url, timeout))
        return FakeResponse(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    ds = load_dataset("mnist", data_dir=tmp_path, download=True)
    assert ds.x_train.shape == (20, 1, 5, 4)
    assert len(calls) == 4 and all(u.startswith(data.MNIST_MIRROR) and t == 10 for u, t in calls)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(payloads)

    # Already present: download=True does not fetch again.
    data.clear_cache()
    calls.clear()
    load_dataset("mnist", data_dir=tmp_path, download=True)
    assert calls == []


def test_download_checksum_mismatch_deletes_file(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(b"tampered"))
    with pytest.raises(CompressError, match="checksum mismatch"):
        load_dataset("fashion-mnist", data_dir=tmp_path, download=True)
    assert list((tmp_path / "fashion-mnist").iterdir()) == []


def test_download_network_failure_explains_manual_placement(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(CompressError) as exc:
        load_dataset("mnist", data_dir=tmp_path, download=True)
    msg = str(exc.value)
    assert "could not download" in msg and "no route to host" in msg
    assert "train-images-idx3-ubyte" in msg and str((tmp_path / "mnist").resolve()) in msg
    assert not any(p.name.endswith(".part") for p in (tmp_path / "mnist").iterdir())


def test_known_checksums_are_the_published_ones():
    assert data.MNIST_MD5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.FASHION_MNIST_MD5["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert data.CIFAR_ARCHIVE_MD5 == "c58f30108f718f92721af3b95e74349a"


# --------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("sub", ["", "cifar-10-batches-py"])
def test_cifar_loader(tmp_path, sub):
    batches = write_cifar(tmp_path / "cifar10" / sub)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.input_shape == (3, 32, 32) and ds.is_image
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (5, 3, 32, 32)
    assert ds.class_names == tuple(f"class{i}" for i in range(10))
    expected_y = sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert ds.y_train.tolist() == expected_y
    assert_normalised(ds.x_train, (0, 2, 3))  # per channel
    # Per-channel statistics from train, applied to test.
    tr = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32) / 255.0
    te = batches["test_batch"][0].reshape(-1, 3, 32, 32) / 255.0
    mean = tr.mean(axis=(0, 2, 3), keepdims=True)
    std = tr.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(ds.x_test.numpy(), (te - mean) / std, atol=1e-5)


def test_cifar_without_meta_and_with_str_keys(tmp_path):
    write_cifar(tmp_path / "cifar10", meta=False, str_keys=True)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.class_names[0] == "airplane" and ds.class_names[-1] == "truck"


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless, but a global the loader must refuse


def test_cifar_refuses_arbitrary_pickle_globals(tmp_path):
    folder = tmp_path / "cifar10"
    write_cifar(folder)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(CompressError, match="data_batch_3.*refusing"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar_bad_batch_shape(tmp_path):
    folder = tmp_path / "cifar10"
    write_cifar(folder)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(CompressError, match="test_batch.*3072"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar_missing_files(tmp_path):
    with pytest.raises(CompressError) as exc:
        load_dataset("cifar10", data_dir=tmp_path)
    msg = str(exc.value)
    assert "data_batch_1" in msg and "data_batch_5" in msg and "test_batch" in msg
    assert str((tmp_path / "cifar10").resolve()) in msg and "--download" in msg


def test_cifar_download_extracts_only_known_files(tmp_path, monkeypatch):
    src = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar(src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(src.iterdir()):
            tar.add(p, arcname=f"cifar-10-batches-py/{p.name}")
        evil = tarfile.TarInfo("../escaped")
        evil.size = 3
        tar.addfile(evil, io.BytesIO(b"bad"))
    payload = buf.getvalue()
    monkeypatch.setattr(data, "CIFAR_ARCHIVE_MD5", hashlib.md5(payload).hexdigest())
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(payload))
    root = tmp_path / "data"
    ds = load_dataset("cifar10", data_dir=root, download=True)
    assert ds.x_train.shape == (20, 3, 32, 32)
    assert not (root / "escaped").exists() and not (root / "cifar10" / "escaped").exists()
    assert not (root / "cifar10" / "cifar-10-python.tar.gz").exists()


# --------------------------------------------------------------------------- user CSV files


def test_csv_numeric_labels(tmp_path):
    path = write_csv(tmp_path / "t.csv", table_csv(20))
    ds = load_dataset(str(path))
    assert not ds.is_image and ds.input_shape == (2,) and ds.name == "t.csv"
    assert ds.class_names == ("0", "1")
    assert ds.x_test.shape == (4, 2) and ds.x_train.shape == (16, 2)  # 20 % test
    assert_normalised(ds.x_train, (0,))
    assert torch.bincount(ds.y_test).tolist() == [2, 2]  # stratified


def test_csv_split_deterministic_and_uses_train_stats(tmp_path):
    path = write_csv(tmp_path / "t.csv", table_csv(30, label_fn=lambda i: i % 3))
    a = load_dataset(path)
    data.clear_cache()
    b = load_dataset(path)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert abs(float(a.x_test[:, 0].double().mean())) > 1e-4


def test_csv_string_labels_and_custom_label_column(tmp_path):
    rows = ["x1,x2,species"] + [f"{i},{i % 4},{['setosa', 'virginica', 'versicolor'][i % 3]}" for i in range(15)]
    path = write_csv(tmp_path / "iris.csv", "\n".join(rows))
    ds = load_dataset(str(path), label_column="species")
    assert ds.class_names == ("setosa", "versicolor", "virginica")
    names = [ds.class_names[i] for i in torch.cat([ds.y_train, ds.y_test]).tolist()]
    assert sorted(names) == sorted(["setosa", "virginica", "versicolor"][i % 3] for i in range(15))


def test_csv_constant_column_does_not_divide_by_zero(tmp_path):
    rows = ["a,const,label"] + [f"{i},5,{i % 2}" for i in range(12)]
    ds = load_dataset(write_csv(tmp_path / "c.csv", "\n".join(rows)))
    assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_test).all()
    assert float(ds.x_train[:, 1].abs().max()) == 0.0


def test_csv_ten_rows_five_classes_split_has_every_class(tmp_path):
    rows = ["a,label"] + [f"{i},{i % 5}" for i in range(10)]
    ds = load_dataset(write_csv(tmp_path / "s.csv", "\n".join(rows)))
    assert sorted(ds.y_test.tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "is empty"),
        ("a,b,label\n", "no data rows"),
        ("a,b,label\n1,2,0\n3,4,5,6,7\n", "could not be read as CSV"),
        (table_csv(12).replace("label", "target"), r"no label column 'label'; columns present: 'a', 'b', 'target'"),
        ("label\n" + "\n".join(str(i % 2) for i in range(12)), "no feature columns"),
        (table_csv(12).replace("3,", "tall,", 1), r"column 'a' is not numeric, e\.g\. line 5 has 'tall'"),
        ("a,b,label\n" + "\n".join(f"{i},{'' if i < 3 else i},{i % 2}" for i in range(12)), r"missing values.*'b' \(3\)"),
        ("a,b,label\n" + "\n".join(f"{i},{i},{'' if i == 4 else i % 2}" for i in range(12)), r"missing values.*'label' \(1\)"),
        ("a,b,label\n" + "\n".join(f"{'inf' if i == 2 else i},{i},{i % 2}" for i in range(12)), r"infinite values.*'a' \(1\)"),
        (table_csv(12, label_fn=lambda i: "cat"), r"only one class \('cat'\)"),
        (table_csv(6), "only 6 rows; need at least 10"),
        (table_csv(12, label_fn=lambda i: "rare" if i == 0 else "common"), r"class 'rare' has only 1 row"),
    ],
    ids=["empty", "header-only", "unparseable", "no-label", "no-features", "non-numeric", "nan",
         "nan-label", "inf", "one-class", "too-few-rows", "class-too-small"],
)
def test_csv_validation_errors(tmp_path, text, pattern):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(CompressError, match=pattern):
        load_dataset(str(path))


def test_file_not_found_and_unsupported_extension(tmp_path):
    with pytest.raises(CompressError, match="file not found"):
        load_dataset(str(tmp_path / "nope.csv"))
    other = tmp_path / "data.txt"
    other.write_text("a,label\n")
    with pytest.raises(CompressError, match=r"unsupported file type '\.txt'.*allowed: \.csv, \.npz"):
        load_dataset(str(other))


def test_file_cache_reloads_when_file_changes(tmp_path):
    path = write_csv(tmp_path / "t.csv", table_csv(20))
    a = load_dataset(path)
    assert load_dataset(str(path)) is a
    path.write_text(table_csv(30))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    b = load_dataset(path)
    assert b is not a and b.x_train.shape[0] + b.x_test.shape[0] == 30
    assert load_dataset(path, label_column="b") is not b  # label column is part of the key


# --------------------------------------------------------------------------- user NPZ files


def save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_table(tmp_path):
    rng = np.random.default_rng(0)
    path = save_npz(tmp_path / "t.npz", X=rng.normal(5, 3, (40, 6)), y=np.arange(40) % 4)
    ds = load_dataset(path)
    assert not ds.is_image and ds.input_shape == (6,) and ds.num_classes == 4
    assert ds.x_test.shape == (8, 6)
    assert_normalised(ds.x_train, (0,))


def test_npz_images_nhw_nchw_nhwc(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array(["b", "a"] * 10)
    ds = load_dataset(save_npz(tmp_path / "a.npz", X=rng.integers(0, 255, (20, 6, 5), dtype=np.uint8), y=y))
    assert ds.is_image and ds.input_shape == (1, 6, 5) and ds.class_names == ("a", "b")
    ds = load_dataset(save_npz(tmp_path / "b.npz", X=rng.random((20, 3, 6, 5)), y=y))
    assert ds.input_shape == (3, 6, 5)

    nhwc = rng.random((20, 6, 5, 3)).astype(np.float32)
    nhwc[..., 0] += 10  # channel 0 has a distinct offset, visible after transposing
    ds = load_dataset(save_npz(tmp_path / "c.npz", X=nhwc, y=np.arange(20) % 2))
    assert ds.input_shape == (3, 6, 5)
    assert_normalised(ds.x_train, (0, 2, 3))


def test_npz_column_labels_are_accepted(tmp_path):
    ds = load_dataset(save_npz(tmp_path / "t.npz", X=np.arange(40.0).reshape(20, 2), y=(np.arange(20) % 2)[:, None]))
    assert ds.num_classes == 2


@pytest.mark.parametrize(
    "arrays, pattern",
    [
        (dict(features=np.zeros((12, 2)), labels=np.zeros(12)), r"must contain arrays 'X'.*'y'.*keys present: 'features', 'labels'"),
        (dict(X=np.zeros((12, 2)), y=np.arange(11) % 2), "X has 12 rows but y has 11"),
        (dict(X=np.where(np.eye(12, 2) > 0, np.nan, 1.0), y=np.arange(12) % 2), r"X contains 2 NaN"),
        (dict(X=np.where(np.eye(12, 2) > 0, np.inf, 1.0), y=np.arange(12) % 2), r"X contains 2 infinite"),
        (dict(X=np.zeros(12), y=np.arange(12) % 2), "X must have 2 dims"),
        (dict(X=np.zeros((12, 2)), y=np.zeros(12)), "only one class"),
        (dict(X=np.zeros((8, 2)), y=np.arange(8) % 2), "only 8 rows"),
        (dict(X=np.zeros((12, 2)), y=np.array([0] * 11 + [7])), "class '7' has only 1 row"),
        (dict(X=np.array([["a", "b"]] * 12), y=np.arange(12) % 2), "X must be numeric"),
        (dict(X=np.zeros((12, 2)), y=np.array([0.0, np.nan] * 6)), "NaN or infinite label"),
    ],
    ids=["keys", "length", "nan", "inf", "ndim", "one-class", "too-few", "class-too-small", "strings", "nan-y"],
)
def test_npz_validation_errors(tmp_path, arrays, pattern):
    path = save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CompressError, match=pattern):
        load_dataset(str(path))


def test_npz_object_arrays_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.array([{"a": 1}] * 12, dtype=object), y=np.arange(12) % 2)
    with pytest.raises(CompressError, match="object arrays"):
        load_dataset(path)


def test_npz_not_an_archive(tmp_path):
    path = tmp_path / "x.npz"
    np.save(tmp_path / "x.npy", np.zeros(3))
    (tmp_path / "x.npy").rename(path)
    with pytest.raises(CompressError, match="not an .npz archive"):
        load_dataset(path)


# --------------------------------------------------------------------------- fingerprint / epochs / describe


def test_fingerprint_builtin_and_file(tmp_path):
    assert dataset_fingerprint("mnist") == "mnist"
    assert dataset_fingerprint("CIFAR10") == "cifar10"
    path = write_csv(tmp_path / "t.csv", table_csv(20))
    fp = dataset_fingerprint(str(path))
    assert fp.startswith("file:") and fp.endswith(":label") and len(fp.split(":")[1]) == 16
    assert fp == "file:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16] + ":label"
    assert dataset_fingerprint(path) == fp
    copy = write_csv(tmp_path / "copy.csv", path.read_text())
    assert dataset_fingerprint(copy) == fp  # content, not location
    assert dataset_fingerprint(path, label_column="b") != fp
    path.write_text(table_csv(21))
    assert dataset_fingerprint(path) != fp


def test_fingerprint_errors(tmp_path):
    with pytest.raises(CompressError, match="file not found"):
        dataset_fingerprint(str(tmp_path / "missing.npz"))
    with pytest.raises(CompressError, match="unknown data set"):
        dataset_fingerprint("imagenet")


def test_default_epochs():
    assert [default_epochs(n) for n in ("digits", "mnist", "fashion-mnist", "cifar10")] == [30, 10, 10, 15]
    assert default_epochs("my_table.csv") == 30


def test_describe(tmp_path):
    ds = load_dataset("digits", data_dir=tmp_path)
    d = describe(ds)
    assert d == {
        "name": "digits", "n_train": 1347, "n_test": 450, "input_shape": [1, 8, 8],
        "num_classes": 10, "class_names": [str(i) for i in range(10)], "is_image": True,
    }
