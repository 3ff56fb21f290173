"""Writing and reading run artifacts so that faults end in one clear line.

Writes go to a uniquely named temporary file beside the target and are renamed into
place only when complete, so a full disk or a read-only folder never leaves a
half-written `model.pt` (nor a `*.tmp`: the temporary file is removed on any error)
and two processes saving the same file never collide on one temporary name.
OS errors that a user can fix (disk full, read-only folder, no permission) become
`CompressError`s naming the file and the cause. Reads turn a missing or corrupted
artifact into one line too, instead of a torch/zip traceback.
"""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import Callable

from compress_core.errors import CompressError

_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "the file is too large for this file system",
}


def write_error(exc: OSError, path: Path) -> CompressError:
    """A user-facing line for an OS error while writing `path`."""
    cause = _CAUSES.get(exc.errno, exc.strerror or type(exc).__name__)
    return CompressError(f"could not write {path}: {cause} ([Errno {exc.errno}]); free space or choose "
                         f"a writable folder (--home / COMPRESS_LAB_HOME) and run again")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` for a unique temporary file beside `path`, then rename it to `path`.

    The temporary file is removed whatever goes wrong; user-fixable OS errors become
    `CompressError`. Returns `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in _CAUSES:
            raise write_error(exc, path) from None
        raise
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink()
    except OSError:
        pass


def save_torch(obj, path: str | os.PathLike) -> Path:
    """`torch.save(obj, path)`, atomically (see `atomic_write`)."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def load_state(path: str | os.PathLike, what: str = "the saved weights") -> dict:
    """`torch.load(path, weights_only=True)` with one line for a missing or corrupted file."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CompressError(f"{what} are missing ({path}); they may have been deleted, run it again") from None
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompressError(f"{what} ({path}) are corrupted and cannot be read ({first[:160]}); "
                            f"run it again") from None
