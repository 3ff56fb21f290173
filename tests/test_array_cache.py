"""The digits split cached as .npz (`data/array_cache.py`): the same arrays as scikit-learn's, read back
without importing scikit-learn, and any bad file rebuilt without a crash (issue 19: first visits)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from compress_core.data import array_cache, datasets

ROOT = Path(__file__).resolve().parents[1]


def fresh_digits(folder: Path):
    return datasets.load_digits_dataset(folder, False)


def test_cached_split_equals_scikit_learns(tmp_path):
    built = datasets._digits_arrays()  # straight from scikit-learn, no cache involved
    first = fresh_digits(tmp_path)  # builds and stores
    assert (tmp_path / datasets.DIGITS_CACHE).exists()
    cached = array_cache.cached_arrays(tmp_path / datasets.DIGITS_CACHE, datasets._digits_key(),
                                       lambda: pytest.fail("the cache was not used"))
    for want, got in zip(built, cached):
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    second = fresh_digits(tmp_path)  # from the file
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert (first.norm_mean, first.norm_std, first.input_shape) == (second.norm_mean, second.norm_std,
                                                                     second.input_shape)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other key", "missing array"])
def test_a_bad_cache_file_is_rebuilt(tmp_path, damage):
    path = tmp_path / datasets.DIGITS_CACHE
    fresh_digits(tmp_path)
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other key":
        arrays = array_cache._read(path, datasets._digits_key())
        np.savez(path, key=np.array("digits v0"), **dict(zip(array_cache.NAMES, arrays)))
    else:
        np.savez(path, key=np.array(datasets._digits_key()), x_train=np.zeros((2, 1, 8, 8)))
    calls = []

    def build():
        calls.append(1)
        return datasets._digits_arrays()

    arrays = array_cache.cached_arrays(path, datasets._digits_key(), build)
    assert calls == [1]  # rebuilt, no exception
    assert [len(a) for a in arrays] == [1347, 1347, 450, 450]
    assert array_cache._read(path, datasets._digits_key()) is not None  # and stored again, whole
    assert not list(tmp_path.glob("*.part"))


def test_a_pickled_object_array_is_never_loaded(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, key=np.array("k"), x_train=np.array([object()], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros((1, 1)), y_test=np.zeros(1))
    assert array_cache._read(path, "k") is None  # allow_pickle=False refuses it; the caller rebuilds


def test_an_unwritable_folder_just_means_no_cache(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")  # any user, root included, fails to write
    arrays = array_cache.cached_arrays(blocker / "a.npz", "k", datasets._digits_arrays)
    assert len(arrays[0]) == 1347 and blocker.read_text().startswith("a file")


def test_a_cached_split_loads_without_scikit_learn(tmp_path):
    fresh_digits(tmp_path)
    code = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        from compress_core.data.datasets import load_digits_dataset
        ds = load_digits_dataset(Path(sys.argv[1]), False)
        print(json.dumps({"sklearn": "sklearn" in sys.modules, "train": len(ds.y_train), "test": len(ds.y_test)}))
    """)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"sklearn": False, "train": 1347, "test": 450}
