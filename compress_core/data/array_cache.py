"""A data set's split arrays kept as one `.npz` file, so later processes skip what built them.

The digits set comes from scikit-learn's bundled files, and its fixed train/test split from
scikit-learn's `train_test_split`: importing `sklearn.datasets` and `sklearn.model_selection` costs
~0.8 s of every fresh server's first Prune, Quantize or Distill visit (issue 19), for 1797 8x8 images.
After the first build `cached_arrays` stores the four arrays beside a key (what built them: loader
version, split seed and fraction, scikit-learn's version) and later calls read them back in a few ms.

Safe by construction: read with `allow_pickle=False` (numbers only, nothing executed); a file that
is missing, partial, corrupt, built under another key, or of unexpected shapes or types is rebuilt
and rewritten; a folder that cannot be written just means no cache. Writes go to a temporary file
that replaces the old one atomically, so two processes never see half a file.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

NAMES = ("x_train", "y_train", "x_test", "y_test")
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _read(path: Path, key: str) -> Arrays | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            arrays = tuple(np.asarray(data[name]) for name in NAMES)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    x_train, y_train, x_test, y_test = arrays
    if (x_train.shape[1:] != x_test.shape[1:] or len(x_train) != len(y_train) or len(x_test) != len(y_test)
            or y_train.ndim != 1 or y_test.ndim != 1 or not len(x_train) or not len(x_test)):
        return None
    return arrays


def _write(path: Path, key: str, arrays: Arrays) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, key=np.array(key), **dict(zip(NAMES, arrays)))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:  # a read-only data folder: no cache, the next process builds again
        pass


def cached_arrays(path: Path, key: str, build: Callable[[], Arrays]) -> Arrays:
    """The four split arrays from `path` when it holds them under `key`, else `build()` (then stored)."""
    arrays = _read(path, key)
    if arrays is None:
        arrays = tuple(np.asarray(a) for a in build())
        _write(path, key, arrays)
    return arrays
