"""What every export checks and how it writes: the tolerance against PyTorch, the rows it is
checked on, quiet exporters, and never writing through a symbolic link (file and folder exports alike)."""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from compress_core.errors import CompressError

TOLERANCE = 1e-4  # max |ONNX or TorchScript output - PyTorch output| on CHECK_ROWS test inputs
CHECK_ROWS = 64


@contextmanager
def quiet_exporters() -> Iterator[None]:
    """Silence the TorchScript/legacy-ONNX deprecation notices: they address torch developers,
    and the formats they export are still what users deploy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def check_not_link(out: Path) -> None:
    """Refuse an output path that is a symbolic link: writing would overwrite whatever it points at."""
    if out.is_symlink():
        raise CompressError(f"--out {str(out)!r} is a symbolic link (to {os.readlink(out)!r}); refusing to write "
                            f"through it, give a plain file name")
