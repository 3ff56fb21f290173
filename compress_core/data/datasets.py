"""Data sets: built-in benchmarks and the user's own CSV / NPZ files.

Every loader returns a `Dataset` whose features are already normalised with
statistics from the training split only (so no test information leaks into
training), split once with a fixed seed (so baselines can be cached and runs
compared). Built-ins are read from `<data_dir>/<name>/` and fetched only when the
caller asks for it (`download=True`, the CLI's `--download`): a dashboard must
never silently pull hundreds of megabytes, and tests never touch the network.

User problems (missing files, corrupt files, bad CSV cells, too few rows...) are
raised as `CompressError` naming the file / column / value and what is expected.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import http.client
import math
import os
import pickle
import tarfile
import threading
import urllib.request
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
import torch

from compress_core import paths
from compress_core.data import limits
from compress_core.errors import CompressError
from compress_core.registry import Registry

__all__ = [
    "Dataset",
    "DATASETS",
    "USER_FILE_SUFFIXES",
    "load_dataset",
    "dataset_fingerprint",
    "default_epochs",
    "describe",
    "clear_cache",
]

USER_FILE_SUFFIXES = (".csv", ".npz")
MIN_ROWS = 10
MIN_ROWS_PER_CLASS = 2
USER_TEST_FRACTION = 0.2
DIGITS_TEST_FRACTION = 0.25
SPLIT_SEED = 0
STD_FLOOR = 1e-6
DOWNLOAD_TIMEOUT_S = 10
_CHUNK = 8192  # rows per chunk when computing statistics, to bound peak memory

_DEFAULT_EPOCHS = {"digits": 30, "mnist": 10, "fashion-mnist": 10, "cifar10": 15, "text-demo": 4}
USER_FILE_EPOCHS = 30


# --------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors elementwise is meaningless here
class Dataset:
    """A normalised train/test split, ready for training.

    `x_*` are float32 (`N,C,H,W` for images, `N,F` for tables), `y_*` int64 in
    `0..num_classes-1`. Instances are cached and shared by `load_dataset`, so
    treat the tensors as read-only (clone before modifying in place).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    is_image: bool
    # Training-split statistics the features were normalised with (per channel / feature), so
    # `compress_core.data.prepare` can undo them for models that expect raw [0, 1] inputs.
    norm_mean: tuple[float, ...] = ()
    norm_std: tuple[float, ...] = ()
    # Text data (compress_core/data/text.py): x_* are int64 token ids (N, L) right-padded with
    # `pad_id`; `texts` keeps (train texts, test texts) so a model's own tokenizer can re-encode
    # them; `notes` says what loading changed (e.g. how many texts were truncated).
    is_text: bool = False
    pad_id: int = 0
    texts: Any = None
    notes: tuple = ()

    def __post_init__(self) -> None:
        # Cheap consistency checks: a malformed Dataset would otherwise fail far away, in a model.
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if tuple(x.shape[1:]) != tuple(self.input_shape):
                raise ValueError(f"x_{split} has sample shape {tuple(x.shape[1:])}, expected {self.input_shape}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"x_{split} has {x.shape[0]} rows but y_{split} has {y.shape[0]}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DATASETS: Registry[Callable[[Path, bool], Dataset]] = Registry("data set")
# Text support lives in compress_core.data.text, which imports this module and fills these hooks
# when the package is imported (so this module never imports it):
# TEXT_CSV(df, path, text_column, label_column, max_length) -> Dataset, and built-in text sets that
# take a max length: name -> loader(data_dir, download, max_length).
TEXT_CSV: list[Callable] = []
TEXT_BUILTINS: dict[str, Callable] = {}


# --------------------------------------------------------------------------- normalisation


def _channel_stats(x: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std per axis-1 entry of `x` (`N,C,...`), over N and the rest.

    Chunked, with Chan's parallel merge in float64, so CIFAR-sized uint8 arrays never
    need a full float64 copy and data with a large offset keeps its precision.
    """
    reduce_axes = (0,) + tuple(range(2, x.ndim))
    per_row = int(np.prod(x.shape[2:], dtype=np.int64)) if x.ndim > 2 else 1
    count = 0
    mean = np.zeros(x.shape[1], dtype=np.float64)
    m2 = np.zeros(x.shape[1], dtype=np.float64)
    for start in range(0, x.shape[0], _CHUNK):
        chunk = x[start:start + _CHUNK].astype(np.float64) * scale
        n_c = chunk.shape[0] * per_row
        mean_c = chunk.mean(axis=reduce_axes)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m2_c = ((chunk - mean_c.reshape(shape)) ** 2).sum(axis=reduce_axes)
        total = count + n_c
        delta = mean_c - mean
        mean = mean + delta * (n_c / total)
        m2 = m2 + m2_c + delta**2 * (count * n_c / total)
        count = total
    std = np.sqrt(m2 / max(count, 1))
    return mean, np.maximum(std, STD_FLOOR)


def _apply_norm(x: np.ndarray, mean: np.ndarray, std: np.ndarray, scale: float = 1.0) -> torch.Tensor:
    """`(x * scale - mean) / std` as a contiguous float32 tensor, computed chunk by chunk."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean_b = mean.reshape(shape)
    std_b = std.reshape(shape)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, x.shape[0], _CHUNK):
        chunk = x[start:start + _CHUNK].astype(np.float64) * scale
        out[start:start + _CHUNK] = (chunk - mean_b) / std_b
    return torch.from_numpy(out)


def _make_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: tuple[str, ...],
    is_image: bool,
    scale: float = 1.0,
) -> Dataset:
    """Normalise per channel (images) or per feature (tables) with training statistics only."""
    mean, std = _channel_stats(x_train, scale)
    return Dataset(
        name=name,
        x_train=_apply_norm(x_train, mean, std, scale),
        y_train=torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.int64)),
        x_test=_apply_norm(x_test, mean, std, scale),
        y_test=torch.from_numpy(np.ascontiguousarray(y_test, dtype=np.int64)),
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
        class_names=tuple(class_names),
        is_image=is_image,
        norm_mean=tuple(float(m) for m in mean),
        norm_std=tuple(float(s) for s in std),
    )


def _stratified_split(y: np.ndarray, test_size: float | int) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices from a fixed-seed stratified split (reproducible baselines)."""
    from sklearn.model_selection import train_test_split  # lazy: sklearn is slow to import

    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_size, random_state=SPLIT_SEED, stratify=y
    )
    return idx_train, idx_test


# --------------------------------------------------------------------------- download


class _DownloadFailed(Exception):
    """The network was unreachable; reported together with the manual-placement hint."""


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, md5: str) -> None:
    """Fetch `url` to `dest` via a `.part` file; keep it only if its MD5 matches.

    A network failure raises `_DownloadFailed` (the caller explains how to place the
    files by hand); a checksum mismatch deletes the partial file and raises
    `CompressError`, since retrying would not help.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(part, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except (OSError, http.client.HTTPException) as exc:
        part.unlink(missing_ok=True)
        raise _DownloadFailed(f"could not download {url}: {exc}") from exc
    got = digest.hexdigest()
    if got != md5:
        part.unlink(missing_ok=True)
        raise CompressError(
            f"checksum mismatch for {url}: expected MD5 {md5}, got {got}; "
            f"the partial file was deleted, try again later or place the file by hand in {dest.parent}"
        )
    os.replace(part, dest)


# --------------------------------------------------------------------------- digits


# The digits split, kept in the data folder after the first load (see `array_cache`): later
# processes skip importing scikit-learn's datasets and model_selection (~0.8 s).
DIGITS_CACHE = "digits-split.npz"


def _digits_arrays():
    """scikit-learn's bundled digits, split with the fixed seed: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    idx_train, idx_test = _stratified_split(y, DIGITS_TEST_FRACTION)
    return images[idx_train], y[idx_train], images[idx_test], y[idx_test]


def _digits_key() -> str:
    """What the cached split depends on (a different scikit-learn may split differently)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sklearn_version = version("scikit-learn")
    except PackageNotFoundError:
        sklearn_version = "none"
    return f"digits v1 seed={SPLIT_SEED} test={DIGITS_TEST_FRACTION} scikit-learn={sklearn_version}"


@DATASETS.register("digits")
def load_digits_dataset(data_dir: Path, download: bool) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images): offline, seconds to train."""
    from compress_core.data.array_cache import cached_arrays

    x_train, y_train, x_test, y_test = cached_arrays(Path(data_dir) / DIGITS_CACHE, _digits_key(), _digits_arrays)
    return _make_dataset(
        "digits", x_train, y_train, x_test, y_test,
        tuple(str(i) for i in range(10)), is_image=True, scale=1.0 / 16.0,
    )


# --------------------------------------------------------------------------- MNIST-like IDX files

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dims
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dim

MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# MD5 of the official .gz files (as published by the data set authors and used by torchvision).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def _read_maybe_gz(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise CompressError(f"{path} could not be read ({exc}); delete it and fetch it again") from exc


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse an IDX file (big-endian header: magic, then one uint32 per dim, then uint8 data)."""
    raw = _read_maybe_gz(path)
    kind = "image" if ndim == 3 else "label"
    if len(raw) < 4 + 4 * ndim:
        raise CompressError(f"{path} is too short ({len(raw)} bytes) to be an IDX {kind} file")
    got_magic = int.from_bytes(raw[:4], "big")
    if got_magic != magic:
        raise CompressError(
            f"{path} is not an IDX {kind} file: magic number {got_magic:#010x}, expected {magic:#010x} ({magic})"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if any(d == 0 for d in dims):
        raise CompressError(f"{path} has an empty dimension {dims}")
    expected = int(np.prod(dims, dtype=np.int64))
    body = len(raw) - (4 + 4 * ndim)
    if body != expected:
        what = "is truncated" if body < expected else "has trailing bytes"
        raise CompressError(f"{path} {what}: header says {dims} = {expected} bytes of data, found {body}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(folder: Path, base: str) -> Path | None:
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_files_error(title: str, folder: Path, files: list[str], note: str, extra: str = "") -> CompressError:
    return CompressError(
        f"{title} files not found: put {', '.join(files)} {note}into {folder.resolve()}{os.sep} "
        f"or pass --download (download=True) to fetch them{extra}"
    )


def _load_idx_dataset(
    name: str, title: str, data_dir: Path, download: bool, mirror: str, md5: dict[str, str],
    class_names: tuple[str, ...],
) -> Dataset:
    folder = Path(data_dir) / name
    found = {base: _find_idx(folder, base) for base in _IDX_FILES}
    missing = [base for base, p in found.items() if p is None]
    if missing:
        failure = ""
        if download:
            try:
                for base in missing:
                    gz = f"{base}.gz"
                    _download(mirror + gz, folder / gz, md5[gz])
                    found[base] = folder / gz
            except _DownloadFailed as exc:
                failure = f" ({exc})"
        if not download or failure:
            still = [base for base, p in found.items() if p is None]
            raise _missing_files_error(
                title, folder, still, "(each gzipped as .gz or not) ", f" from {mirror}{failure}"
            )

    tr_x = _read_idx(found["train-images-idx3-ubyte"], _IDX_IMAGES_MAGIC, 3)
    tr_y = _read_idx(found["train-labels-idx1-ubyte"], _IDX_LABELS_MAGIC, 1)
    te_x = _read_idx(found["t10k-images-idx3-ubyte"], _IDX_IMAGES_MAGIC, 3)
    te_y = _read_idx(found["t10k-labels-idx1-ubyte"], _IDX_LABELS_MAGIC, 1)
    for split, x, y, xb, yb in (("train", tr_x, tr_y, "train-images", "train-labels"),
                                ("test", te_x, te_y, "t10k-images", "t10k-labels")):
        if len(x) != len(y):
            raise CompressError(f"{title} {split} files disagree: {xb} has {len(x)} images, {yb} has {len(y)} labels")
        if y.size and int(y.max()) >= len(class_names):
            raise CompressError(
                f"{title} {yb} contains label {int(y.max())}; expected 0..{len(class_names) - 1}"
            )
    if tr_x.shape[1:] != te_x.shape[1:]:
        raise CompressError(f"{title} train images are {tr_x.shape[1:]} but test images are {te_x.shape[1:]}")
    return _make_dataset(
        name, tr_x[:, None], tr_y.astype(np.int64), te_x[:, None], te_y.astype(np.int64),
        class_names, is_image=True, scale=1.0 / 255.0,
    )


@DATASETS.register("mnist")
def load_mnist(data_dir: Path, download: bool) -> Dataset:
    """MNIST handwritten digits from `<data_dir>/mnist/` (IDX files, .gz or raw)."""
    return _load_idx_dataset("mnist", "MNIST", data_dir, download, MNIST_MIRROR, MNIST_MD5,
                             tuple(str(i) for i in range(10)))


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(data_dir: Path, download: bool) -> Dataset:
    """Fashion-MNIST from `<data_dir>/fashion-mnist/` (IDX files, .gz or raw)."""
    return _load_idx_dataset("fashion-mnist", "Fashion-MNIST", data_dir, download, FASHION_MIRROR,
                             FASHION_MNIST_MD5, FASHION_CLASS_NAMES)


# --------------------------------------------------------------------------- CIFAR-10

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_SUBFOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
CIFAR_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles spell bytes
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that only resolves the numpy globals CIFAR batches need.

    Defence in depth: it refuses arbitrary callables, but pickles remain a risky format,
    so only load batches you trust (the official ones, from your own data folder).
    """

    _ALLOWED = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, ImportError, OSError, MemoryError) as exc:
        raise CompressError(f"{path} is not a readable CIFAR-10 pickle ({exc})") from exc


def _field(obj: dict, key: str, path: Path) -> Any:
    for k in (key.encode(), key):
        if k in obj:
            return obj[k]
    present = ", ".join(k.decode() if isinstance(k, bytes) else str(k) for k in obj)
    raise CompressError(f"{path} has no {key!r} entry (entries present: {present or 'none'})")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = _unpickle(path)
    if not isinstance(obj, dict):
        raise CompressError(f"{path} is not a CIFAR-10 batch: expected a dict, got {type(obj).__name__}")
    data = np.asarray(_field(obj, "data", path))
    labels = np.asarray(_field(obj, "labels", path))
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise CompressError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.ndim != 1 or len(labels) != len(data):
        raise CompressError(f"{path}: {len(data)} images but {labels.size} labels")
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise CompressError(f"{path}: labels must be integers 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _cifar_folder(base: Path) -> Path | None:
    needed = CIFAR_TRAIN_BATCHES + (CIFAR_TEST_BATCH,)
    for folder in (base, base / CIFAR_SUBFOLDER):
        if all((folder / f).is_file() for f in needed):
            return folder
    return None


def _extract_cifar(archive: Path, base: Path) -> None:
    """Extract only the known batch files, by name, so a hostile archive cannot write elsewhere."""
    wanted = set(CIFAR_TRAIN_BATCHES) | {CIFAR_TEST_BATCH, CIFAR_META}
    target = base / CIFAR_SUBFOLDER
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                p = PurePosixPath(member.name)
                if member.isfile() and p.name in wanted and p.parent.name == CIFAR_SUBFOLDER:
                    src = tar.extractfile(member)
                    if src is not None:
                        (target / p.name).write_bytes(src.read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise CompressError(f"{archive} could not be extracted ({exc})") from exc


@DATASETS.register("cifar10")
def load_cifar10(data_dir: Path, download: bool) -> Dataset:
    """CIFAR-10 from the python-pickle batches in `<data_dir>/cifar10/` (or its `cifar-10-batches-py/`).

    The batches are pickles, which can run code when loaded: only use trusted files
    (the official archive, in your own data folder). Loading goes through an
    unpickler restricted to numpy arrays, but that is a safety net, not a licence.
    """
    base = Path(data_dir) / "cifar10"
    folder = _cifar_folder(base)
    if folder is None:
        failure = ""
        if download:
            archive = base / "cifar-10-python.tar.gz"
            try:
                _download(CIFAR_URL, archive, CIFAR_ARCHIVE_MD5)
            except _DownloadFailed as exc:
                failure = f" ({exc})"
            else:
                _extract_cifar(archive, base)
                archive.unlink(missing_ok=True)
                folder = _cifar_folder(base)
                if folder is None:
                    failure = " (the downloaded archive did not contain the batch files)"
        if folder is None:
            files = list(CIFAR_TRAIN_BATCHES) + [CIFAR_TEST_BATCH]
            raise _missing_files_error(
                "CIFAR-10", base, files,
                f"(and optionally {CIFAR_META}; they may also sit in a {CIFAR_SUBFOLDER}/ subfolder) ",
                f" from {CIFAR_URL}{failure}",
            )

    parts = [_read_cifar_batch(folder / b) for b in CIFAR_TRAIN_BATCHES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_batch(folder / CIFAR_TEST_BATCH)

    class_names = CIFAR_CLASS_NAMES
    meta_path = folder / CIFAR_META
    if meta_path.is_file():
        meta = _unpickle(meta_path)
        if not isinstance(meta, dict):
            raise CompressError(f"{meta_path} is not CIFAR-10 metadata (expected a dict)")
        names = _field(meta, "label_names", meta_path)
        if not isinstance(names, (list, tuple)) or len(names) != 10:
            raise CompressError(f"{meta_path}: 'label_names' must list 10 names")
        class_names = tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names)

    return _make_dataset("cifar10", x_train, y_train, x_test, y_test, class_names,
                         is_image=True, scale=1.0 / 255.0)


# --------------------------------------------------------------------------- user files


def _is_user_file_name(name: str) -> bool:
    return name.lower().endswith(USER_FILE_SUFFIXES) or Path(name).expanduser().is_file()


def _user_path(name: str) -> Path:
    path = Path(name).expanduser()
    if not path.exists():
        raise CompressError(f"file not found: {path}")
    if not path.is_file():
        raise CompressError(f"{path} is a folder, not a .csv or .npz file")
    if path.suffix.lower() not in USER_FILE_SUFFIXES:
        raise CompressError(
            f"unsupported file type {path.suffix or '(no extension)'!r} for {path}; "
            f"allowed: {', '.join(USER_FILE_SUFFIXES)}"
        )
    for root in _lab_folders():  # a link planted in the lab's own folders must not lead out of them
        limits.check_inside(path, root)
    limits.check_file_size(path)
    return path.resolve()


def _lab_folders() -> list[Path]:
    """Folders whose files the lab found itself (data folder, uploads): links must stay inside."""
    folders = [paths.data_dir()]
    home = os.environ.get(paths.ENV_HOME)
    if home:
        folders.append(Path(home).expanduser() / "uploads")
    return folders


def _column_list(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(str(c)) for c in columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def _label_names(values: np.ndarray) -> list[str]:
    names = []
    for v in values:
        if isinstance(v, bytes):
            names.append(v.decode("utf-8", "replace"))
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            names.append(str(int(v)))  # 1.0 -> "1": labels read as floats still look like labels
        else:
            names.append(str(v.item() if isinstance(v, np.generic) else v))
    return names


def _build_user_dataset(name: str, source: str, x: np.ndarray, y_raw: np.ndarray, is_image: bool) -> Dataset:
    """Map labels to 0..K-1, check there is enough data per class, split 80/20 and normalise."""
    classes, y = np.unique(y_raw, return_inverse=True)
    y = y.reshape(-1).astype(np.int64)
    if len(y) >= MIN_ROWS:
        limits.check_classes(source, len(classes), len(y))  # before 50,000 class names are built
    names = _label_names(classes)
    if len(classes) < 2:
        raise CompressError(f"{source} has only one class ({names[0]!r}); need at least 2 classes")
    if len(y) < MIN_ROWS:
        raise CompressError(f"{source} has only {len(y)} rows; need at least {MIN_ROWS}")
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < MIN_ROWS_PER_CLASS:
        k = int(counts.argmin())
        raise CompressError(
            f"{source}: class {names[k]!r} has only {counts[k]} row(s); every class needs at least "
            f"{MIN_ROWS_PER_CLASS} so the train/test split can contain it"
        )
    # 20 % test, but never fewer test rows than classes (a stratified split needs one of each).
    n_test = max(math.ceil(USER_TEST_FRACTION * len(y)), len(classes))
    idx_train, idx_test = _stratified_split(y, n_test)
    return _make_dataset(name, x[idx_train], y[idx_train], x[idx_test], y[idx_test],
                         tuple(names), is_image=is_image)


def csv_column_count(path: Path) -> int:
    """Columns in the header line, read with a bounded buffer and checked against the limit."""
    import csv
    import io

    lim = limits.current()
    with open(path, "rb") as f:
        line = f.readline(lim.max_header_bytes + 1)
    if len(line) > lim.max_header_bytes:
        raise limits.refuse(f"{path.name}: the header line's length", len(line), "max_header_bytes",
                            lim.max_header_bytes, " bytes")
    try:
        header = next(csv.reader(io.StringIO(line.decode("utf-8-sig"))), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CompressError(f"{path} could not be read as CSV ({exc})") from None
    if len(header) > lim.max_columns:
        raise limits.refuse(f"{path.name}: the number of columns", len(header), "max_columns", lim.max_columns)
    return len(header)


def _read_csv_bounded(pd, path: Path, n_columns: int):
    """`pd.read_csv` in chunks, refusing as soon as the rows read break the row / cell limits."""
    lim = limits.current()
    chunk_rows = max(1, min(100_000, lim.max_cells // max(n_columns, 1)))
    chunks, rows = [], 0
    with pd.read_csv(path, chunksize=chunk_rows) as reader:
        for chunk in reader:
            rows += len(chunk)
            limits.check_table_size(path.name, rows, max(n_columns - 1, 1), lim)
            chunks.append(chunk)
    if not chunks:
        return pd.read_csv(path, nrows=0)
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _load_csv(path: Path, label_column: str, text_column: str = "text", max_length: int | None = None) -> Dataset:
    import pandas as pd  # lazy: only needed for user CSV files

    n_columns = csv_column_count(path)
    try:
        df = _read_csv_bounded(pd, path, n_columns)
    except UnicodeDecodeError as exc:
        raise CompressError(f"{path} is not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start} "
                            "cannot be decoded; save the file as UTF-8") from exc
    except pd.errors.EmptyDataError as exc:
        raise CompressError(f"{path} is empty; expected a header row and data rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise CompressError(f"{path} could not be read as CSV ({exc})") from exc
    if len(df) == 0:
        raise CompressError(f"{path} has a header but no data rows")
    columns = [str(c) for c in df.columns]
    df.columns = columns
    if label_column not in columns:
        raise CompressError(
            f"{path} has no label column {label_column!r}; columns present: {_column_list(columns)} "
            f"(choose the label column with label_column / --label-column)"
        )
    if text_column != "text" and text_column not in columns:  # named explicitly: it must be there
        raise CompressError(f"{path} has no text column {text_column!r}; columns present: {_column_list(columns)} "
                            "(choose the text column with text_column / --text-column)")
    if text_column in columns and TEXT_CSV:  # a text classification file: tokenized, not normalised
        return TEXT_CSV[0](df, path, text_column, label_column, max_length)
    features = [c for c in columns if c != label_column]
    if not features:
        raise CompressError(f"{path} has no feature columns besides the label column {label_column!r}")

    nan_counts = df.isna().sum()
    bad = [(c, int(nan_counts[c])) for c in columns if nan_counts[c] > 0]
    if bad:
        listed = ", ".join(f"{c!r} ({n})" for c, n in bad)
        raise CompressError(f"{path} has missing values (empty or NaN cells) in column(s) {listed}")

    for c in features:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col):
            coerced = pd.to_numeric(col, errors="coerce")
            bad_pos = int(np.flatnonzero(coerced.isna().to_numpy())[0])
            raise CompressError(
                f"{path}: column {c!r} is not numeric, e.g. line {bad_pos + 2} has {col.iloc[bad_pos]!r}; "
                f"every column except the label column {label_column!r} must hold numbers "
                f"(for text classification name the text column with --text-column)"
            )
    x = df[features].to_numpy(dtype=np.float64)
    inf_counts = np.isinf(x).sum(axis=0)
    if inf_counts.any():
        listed = ", ".join(f"{features[i]!r} ({int(inf_counts[i])})" for i in np.flatnonzero(inf_counts))
        raise CompressError(f"{path} has infinite values in column(s) {listed}")
    limits.check_values(str(path), x)

    labels = df[label_column]
    if pd.api.types.is_numeric_dtype(labels):
        y_raw = labels.to_numpy()
    else:  # text (or mixed) labels: compare them as strings
        y_raw = np.asarray([str(v) for v in labels.tolist()], dtype=str)
    return _build_user_dataset(path.name, str(path), x, y_raw, is_image=False)


def _load_npz(path: Path) -> Dataset:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK":  # np.load would otherwise try .npy / pickle and give a confusing error
        raise CompressError(
            f"{path} is not an .npz archive (save one with numpy.savez(path, X=features, y=labels))"
        )
    declared = limits.inspect_npz(path)  # header checks: nothing is unpacked before they pass
    if "X" in declared and "y" in declared:
        limits.check_npz_data_shapes(path, declared["X"], declared["y"])
        if declared["X"].dtype.kind not in "biuf":
            raise CompressError(f"{path}: X must be numeric, got dtype {declared['X'].dtype}")
        if declared["y"].dtype.kind not in "biufUS":
            raise CompressError(f"{path}: y must hold numbers or strings, got dtype {declared['y'].dtype}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if "X" not in keys or "y" not in keys:
                raise CompressError(
                    f"{path} must contain arrays 'X' (features) and 'y' (labels); "
                    f"keys present: {', '.join(map(repr, keys)) or 'none'}"
                )
            x = npz["X"]
            y = npz["y"]
    except CompressError:
        raise
    except ValueError as exc:
        raise CompressError(
            f"{path} could not be read: {exc} (object arrays are refused; save X and y as numeric or string arrays)"
        ) from exc
    except Exception as exc:  # BadZipFile, OSError, EOFError...: any unreadable archive is the user's file
        raise CompressError(f"{path} could not be read as .npz ({type(exc).__name__}: {exc})") from exc

    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise CompressError(f"{path}: y must be 1-D (one label per row), got shape {y.shape}")
    if x.ndim not in (2, 3, 4):
        raise CompressError(
            f"{path}: X must have 2 dims (N,F), 3 (N,H,W) or 4 (N,C,H,W or N,H,W,C); got shape {x.shape}"
        )
    if len(x) != len(y):
        raise CompressError(f"{path}: X has {len(x)} rows but y has {len(y)}; they must match")
    if x.dtype.kind not in "biuf":
        raise CompressError(f"{path}: X must be numeric, got dtype {x.dtype}")
    if y.dtype.kind not in "biufUS":
        raise CompressError(f"{path}: y must hold numbers or strings, got dtype {y.dtype}")
    if x.dtype.kind == "f":
        n_nan = int(np.isnan(x).sum())
        if n_nan:
            raise CompressError(f"{path}: X contains {n_nan} NaN value(s)")
        n_inf = int(np.isinf(x).sum())
        if n_inf:
            raise CompressError(f"{path}: X contains {n_inf} infinite value(s)")
    limits.check_values(str(path), x)
    if y.dtype.kind == "f":
        n_bad = int((~np.isfinite(y)).sum())
        if n_bad:
            raise CompressError(f"{path}: y contains {n_bad} NaN or infinite label(s)")

    is_image = x.ndim > 2
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[3] in (1, 3) and x.shape[1] not in (1, 3):
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NHWC -> NCHW
    if x.dtype.kind == "b":
        x = x.astype(np.uint8)
    return _build_user_dataset(path.name, str(path), x, y, is_image=is_image)


def _load_user_file(path: Path, label_column: str, text_column: str = "text",
                    max_length: int | None = None) -> Dataset:
    if path.suffix.lower() == ".csv":
        return _load_csv(path, label_column, text_column, max_length)
    return _load_npz(path)


# --------------------------------------------------------------------------- public API

_CACHE: "OrderedDict[tuple, Dataset]" = OrderedDict()
_CACHE_SIZE = 8  # a CIFAR-10 Dataset is ~0.7 GB; keep the cache bounded
_CACHE_LOCK = threading.Lock()


def _builtin_name(name: str) -> str | None:
    if name in DATASETS:
        return name
    lowered = name.lower()
    return lowered if lowered in DATASETS else None


def _unknown_name_error(name: str) -> CompressError:
    try:
        DATASETS.get(name)
    except CompressError as exc:
        return CompressError(f"{exc} (or a path to your own {' / '.join(USER_FILE_SUFFIXES)} file)")
    return CompressError(f"unknown data set {name!r}")  # pragma: no cover - name was registered


def clear_cache() -> None:
    """Forget every loaded data set (tests; or to free memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_dataset(
    name_or_path: str | os.PathLike,
    data_dir: Path | str | None = None,
    label_column: str = "label",
    download: bool = False,
    text_column: str = "text",
    max_length: int | None = None,
) -> Dataset:
    """Load a built-in data set by name, or the user's `.csv` / `.npz` file by path.

    Results are cached in-process (the UI reruns constantly): a built-in by
    name + data folder, a file by resolved path + modification time + size +
    label column, so editing the file reloads it. The same `Dataset` object is
    returned each time; do not modify its tensors in place.
    """
    name = str(name_or_path).strip()
    builtin = _builtin_name(name)
    if builtin is not None:
        folder = Path(data_dir).expanduser() if data_dir is not None else paths.data_dir()
        key: tuple = ("builtin", builtin, str(folder.resolve()))
        loader = lambda: DATASETS.get(builtin)(folder, download)  # noqa: E731
        if builtin in TEXT_BUILTINS and max_length is not None:  # text built-ins take a max length
            key += (max_length,)
            loader = lambda: TEXT_BUILTINS[builtin](folder, download, max_length)  # noqa: E731
    elif _is_user_file_name(name):
        path = _user_path(name)
        st = path.stat()
        key = ("file", str(path), st.st_mtime_ns, st.st_size, label_column, text_column, max_length)
        loader = lambda: _load_user_file(path, label_column, text_column, max_length)  # noqa: E731
    else:
        raise _unknown_name_error(name)

    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    with limits.memory_errors_as_compress_errors(f"loading {name}"):
        ds = loader()
    with _CACHE_LOCK:
        ds = _CACHE.setdefault(key, ds)  # a concurrent load of the same key wins; return one object
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ds


def dataset_fingerprint(name_or_path: str | os.PathLike, label_column: str = "label") -> str:
    """A stable id for cache keys: the name of a built-in, or a hash of a user file's bytes.

    Hashing the contents (not the path or mtime) means a copied or touched file
    still hits the baseline cache, while an edited one does not.
    """
    name = str(name_or_path).strip()
    builtin = _builtin_name(name)
    if builtin is not None:
        return builtin
    if not _is_user_file_name(name):
        raise _unknown_name_error(name)
    path = _user_path(name)
    return f"file:{_hash_file(path, 'sha256')[:16]}:{label_column}"



def default_epochs(name_or_path: str | os.PathLike) -> int:
    """A sensible number of training epochs: small images train longer, big sets shorter.

    Anything that is not a built-in name is treated as a user file (no error, so a
    UI can call this while a path is still being typed).
    """
    builtin = _builtin_name(str(name_or_path).strip())
    return _DEFAULT_EPOCHS[builtin] if builtin is not None else USER_FILE_EPOCHS


def describe(ds: Dataset) -> dict:
    """A small JSON-friendly summary for the UI and the CLI."""
    return {
        "name": ds.name,
        "n_train": int(ds.x_train.shape[0]),
        "n_test": int(ds.x_test.shape[0]),
        "input_shape": list(ds.input_shape),
        "num_classes": ds.num_classes,
        "class_names": list(ds.class_names),
        "is_image": ds.is_image,
        **({"is_text": True, "seq_len": int(ds.input_shape[0])} if ds.is_text else {}),
    }
