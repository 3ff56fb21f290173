"""Resource bounds for everything the lab reads or builds from user input.

A shared lab reads files it did not make: a 2 MB NPZ can declare 10 GB of zeros, a
1 MB CSV can hold 50,000 classes or 200,000 columns. Every loader therefore checks
the sizes a file *declares* (NPZ headers, the CSV header line, rows while reading)
against these limits before it unpacks anything, and refuses in one line that names
the limit, its value and the environment variable that changes it.

Each limit has a default suited to a laptop-sized lab and can be overridden by an
environment variable `COMPRESS_LAB_LIMIT_<NAME>` (e.g. `COMPRESS_LAB_LIMIT_MAX_ROWS=
2000000`). The values are read on every call, so a test or an operator can change
them without restarting anything.

The NPZ header reading is hand-written on top of numpy's public `numpy.lib.format`
header functions: numpy has no "inspect an .npz without loading it" call.
"""
from __future__ import annotations

import contextlib
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from numpy.lib import format as npy_format

from compress_core.env_settings import from_environment
from compress_core.errors import CompressError

ENV_PREFIX = "COMPRESS_LAB_LIMIT_"


@dataclass(frozen=True)
class Limits:
    """The bounds; every field can be set by `COMPRESS_LAB_LIMIT_<FIELD NAME IN CAPITALS>`."""

    max_file_mb: float = 1024.0          # size of a user .csv / .npz file on disk
    max_array_mb: float = 1024.0         # bytes an .npz declares for all its arrays together
    max_rows: int = 2_000_000            # rows (examples) in a user data set
    max_columns: int = 10_000            # columns of a CSV file
    max_features: int = 200_000          # values per example (columns, or C*H*W for images)
    max_cells: int = 100_000_000         # rows x values per example (about 800 MB as float64)
    max_classes: int = 1_000             # distinct labels
    max_logit_cells: int = 100_000_000   # rows x classes (teacher logits of distillation)
    max_abs_value: float = 1e15          # |feature| (beyond this, variances overflow float64)
    max_npz_members: int = 16            # arrays in one .npz
    max_hidden_width: int = 16_384       # width of one hidden layer of a user-configured MLP
    max_hidden_layers: int = 32          # number of hidden layers
    max_model_params: int = 200_000_000  # parameters of a model built from user settings
    max_header_bytes: int = 4 * 1024 * 1024  # length of a CSV header line

    @staticmethod
    def env_name(field: str) -> str:
        return ENV_PREFIX + field.upper()


def current() -> Limits:
    """The limits now in force: defaults overridden by `COMPRESS_LAB_LIMIT_*` variables."""
    return from_environment(Limits, Limits.env_name)


def refuse(what: str, value, limit_name: str, limit_value, unit: str = "") -> CompressError:
    """The one-line refusal: what was found, the limit, and the variable that raises it."""
    return CompressError(f"{what} is {_num(value)}{unit}; the limit is {_num(limit_value)}{unit} "
                         f"(set {Limits.env_name(limit_name)} to change it)")


def _num(v) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


# --------------------------------------------------------------------------- files


def check_file_size(path: Path, limits: Limits | None = None) -> None:
    limits = limits or current()
    size = path.stat().st_size
    if size > limits.max_file_mb * 1024 * 1024:
        raise refuse(f"{path.name} size", size / 1024 / 1024, "max_file_mb", limits.max_file_mb, " MB")


def check_inside(path: Path, root: Path) -> None:
    """Refuse `path` if it lies under `root` but a symlink takes it outside `root`.

    Files the lab finds in its own folders (data folder, uploads) must stay there: a
    link planted in the data folder must not make the lab read /etc or another user's files.
    """
    try:
        root_resolved = Path(root).expanduser().resolve()
        raw = Path(os.path.abspath(Path(path).expanduser()))
    except OSError:
        return
    inside_raw = raw == root_resolved or root_resolved in raw.parents or \
        Path(os.path.abspath(Path(root).expanduser())) in raw.parents
    if not inside_raw:
        return
    resolved = raw.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise CompressError(f"{raw} is a link to {resolved}, outside the folder {root_resolved}; "
                            f"links out of the lab's folders are refused, copy the file in instead")


# --------------------------------------------------------------------------- NPZ


@dataclass(frozen=True)
class NpyInfo:
    """What one .npy member of an .npz declares in its header (nothing is unpacked)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_len: int       # bytes before the data
    stored_bytes: int     # uncompressed size the zip directory gives for the member

    @property
    def nbytes(self) -> int:
        return int(math.prod(self.shape)) * self.dtype.itemsize


def _read_header(fp) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    version = npy_format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
    else:  # 2.0 and 3.0 differ only in the header length field / encoding
        shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype), fp.tell()


def inspect_npz(path: Path, limits: Limits | None = None) -> dict[str, NpyInfo]:
    """Read the headers of every array in an .npz and refuse it if they break a limit.

    Refused before anything is unpacked: not a zip, too many members, a member that is
    not an .npy, object arrays (they would need pickle), declared sizes over
    `max_array_mb`, and members shorter than their header says (truncated files).
    """
    limits = limits or current()
    check_file_size(path, limits)
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > limits.max_npz_members:
                raise refuse(f"{path.name}: the number of arrays", len(members), "max_npz_members",
                             limits.max_npz_members)
            found: dict[str, NpyInfo] = {}
            total = 0
            for info in members:
                if not info.filename.endswith(".npy"):
                    raise CompressError(f"{path.name}: member {info.filename!r} is not a .npy array; "
                                        f"an .npz holds only arrays (numpy.savez)")
                with zf.open(info) as fp:
                    try:
                        shape, fortran, dtype, header_len = _read_header(fp)
                    except (ValueError, EOFError) as exc:
                        raise CompressError(f"{path.name}: array {info.filename!r} has a bad header "
                                            f"({exc})") from None
                name = info.filename[:-4]
                if dtype.hasobject:
                    raise CompressError(f"{path.name}: array {name!r} holds Python objects (dtype {dtype}); "
                                        f"object arrays need pickle and are refused, save numbers or strings")
                if any(s < 0 for s in shape):
                    raise CompressError(f"{path.name}: array {name!r} declares a negative shape {shape}")
                item = NpyInfo(name, shape, dtype, fortran, header_len, info.file_size)
                total += item.nbytes
                if total > limits.max_array_mb * 1024 * 1024:
                    raise refuse(f"{path.name}: the arrays' declared size (array {name!r} has shape {shape}, "
                                 f"{dtype})", total / 1024 / 1024, "max_array_mb", limits.max_array_mb, " MB")
                if info.file_size < header_len + item.nbytes:
                    raise CompressError(f"{path.name}: array {name!r} is truncated: its header declares "
                                        f"{item.nbytes:,} bytes of data, the archive holds "
                                        f"{max(info.file_size - header_len, 0):,}")
                found[name] = item
    except CompressError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise CompressError(f"{path.name} could not be read as .npz ({type(exc).__name__}: {exc})") from None
    return found


def check_npz_data_shapes(path: Path, x: NpyInfo, y: NpyInfo, limits: Limits | None = None) -> None:
    """Declared X / y shapes against the row, feature and cell limits (before loading)."""
    limits = limits or current()
    rows = x.shape[0] if x.shape else 0
    if rows == 0:
        raise CompressError(f"{path.name}: X has no rows (shape {x.shape}); need at least one example per row")
    if any(s == 0 for s in x.shape[1:]):
        raise CompressError(f"{path.name}: X has an empty dimension (shape {x.shape}); every row needs values")
    check_table_size(path.name, rows, int(math.prod(x.shape[1:])), limits)
    if y.shape and y.shape[0] != rows:
        raise CompressError(f"{path}: X has {rows} rows but y has {y.shape[0]}; they must match")


def npz_head(path: Path, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `rows` rows of X and y, reading only those bytes from the archive (a preview).

    `np.load(...)["X"][:5]` unpacks the whole array first; here only the header and
    `rows` rows are decompressed, so a preview of a huge file costs kilobytes.
    """
    found = inspect_npz(path)
    if "X" not in found or "y" not in found:
        raise CompressError(f"{path.name} must contain arrays 'X' and 'y'; found {', '.join(found) or 'none'}")
    out = []
    with zipfile.ZipFile(path) as zf:
        for key in ("X", "y"):
            info = found[key]
            if info.fortran_order and len(info.shape) > 1:
                raise CompressError(f"{path.name}: array {key!r} is stored in Fortran order; "
                                    f"save it with numpy.ascontiguousarray first")
            n = min(rows, info.shape[0]) if info.shape else 1
            per_row = int(math.prod(info.shape[1:])) if info.shape else 1
            with zf.open(key + ".npy") as fp:
                fp.read(info.header_len)
                raw = fp.read(n * per_row * info.dtype.itemsize)
            arr = np.frombuffer(raw, dtype=info.dtype).reshape((n, *info.shape[1:]) if info.shape else ())
            out.append(arr)
    return out[0], out[1]


# --------------------------------------------------------------------------- tables and labels


def check_table_size(source: str, rows: int, per_row: int, limits: Limits | None = None) -> None:
    limits = limits or current()
    if rows > limits.max_rows:
        raise refuse(f"{source}: the number of rows", rows, "max_rows", limits.max_rows)
    if per_row > limits.max_features:
        raise refuse(f"{source}: the number of values per row", per_row, "max_features", limits.max_features)
    if rows * per_row > limits.max_cells:
        raise refuse(f"{source}: rows x values per row", rows * per_row, "max_cells", limits.max_cells)


def check_classes(source: str, n_classes: int, n_rows: int, limits: Limits | None = None) -> None:
    """At most `max_classes` labels, at most half the rows (two rows per class), bounded logits."""
    limits = limits or current()
    if n_classes > limits.max_classes:
        raise refuse(f"{source}: the number of classes", n_classes, "max_classes", limits.max_classes)
    if n_classes > n_rows // 2:
        raise CompressError(f"{source} has {n_classes:,} classes in {n_rows:,} rows; at most half the rows "
                            f"({n_rows // 2:,}) may be classes, so each class has 2 rows for the split")
    if n_rows * n_classes > limits.max_logit_cells:
        raise refuse(f"{source}: rows x classes", n_rows * n_classes, "max_logit_cells", limits.max_logit_cells)


def check_values(source: str, x: np.ndarray, limits: Limits | None = None) -> None:
    """Finite features no larger than `max_abs_value` (1e308 would overflow the statistics)."""
    limits = limits or current()
    if x.dtype.kind != "f" or x.size == 0:
        if x.dtype.kind in "iu" and x.size and max(abs(int(x.min())), abs(int(x.max()))) > limits.max_abs_value:
            raise refuse(f"{source}: the largest |value|", float(max(abs(int(x.min())), abs(int(x.max())))),
                         "max_abs_value", limits.max_abs_value)
        return
    n_bad = int(np.count_nonzero(~np.isfinite(x)))
    if n_bad:
        raise CompressError(f"{source}: X contains {n_bad} NaN or infinite value(s); every value must be finite")
    biggest = float(np.abs(x).max())
    if biggest > limits.max_abs_value:
        raise CompressError(f"{source}: X holds values up to {biggest:.3g}; the limit is |value| <= "
                            f"{limits.max_abs_value:.3g} (rescale the data, or set "
                            f"{Limits.env_name('max_abs_value')} to change it)")


# --------------------------------------------------------------------------- models


def check_hidden(widths: tuple[int, ...], limits: Limits | None = None) -> None:
    limits = limits or current()
    if len(widths) > limits.max_hidden_layers:
        raise refuse("the number of hidden layers", len(widths), "max_hidden_layers", limits.max_hidden_layers)
    widest = max(widths, default=0)
    if widest > limits.max_hidden_width:
        raise refuse("the widest hidden layer", widest, "max_hidden_width", limits.max_hidden_width)


def check_param_count(n_params: int, what: str = "the model", limits: Limits | None = None) -> None:
    limits = limits or current()
    if n_params > limits.max_model_params:
        raise refuse(f"the parameter count of {what}", n_params, "max_model_params", limits.max_model_params)


# --------------------------------------------------------------------------- memory


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


@contextlib.contextmanager
def memory_errors_as_compress_errors(what: str = "this run") -> Iterator[None]:
    """Turn running out of memory (MemoryError, torch's allocator errors) into one clear line."""
    try:
        yield
    except CompressError:
        raise
    except (MemoryError, RuntimeError) as exc:
        if not _is_oom(exc):
            raise
        raise CompressError(f"out of memory during {what}: the data or model is too large for this "
                            f"machine; use a smaller data set, fewer classes or a smaller model") from None
