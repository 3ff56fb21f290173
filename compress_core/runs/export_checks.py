"""What every export checks and how it writes: the formats, the tolerance against PyTorch, the rows it is
checked on, quiet exporters, and never writing through a symbolic link (file and folder exports alike).

No torch at import: the Compare page lists the formats and the tolerance before anything is exported."""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from compress_core.errors import CompressError

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "safetensors": ".safetensors",
           "state_dict": ".pt"}  # format -> file suffix
INT8_FORMATS = ("torchscript", "state_dict")  # what packed int8 weights (torch.ao) can be exported as
TOLERANCE = 1e-4  # max |ONNX or TorchScript output - PyTorch output| on CHECK_ROWS test inputs
CHECK_ROWS = 64


@contextmanager
def quiet_exporters() -> Iterator[None]:
    """Silence the TorchScript/legacy-ONNX deprecation notices: they address torch developers,
    and the formats they export are still what users deploy."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def check_not_link(out: Path) -> None:
    """Refuse an output path that is a symbolic link: writing would overwrite whatever it points at."""
    if out.is_symlink():
        raise CompressError(f"--out {str(out)!r} is a symbolic link (to {os.readlink(out)!r}); refusing to write "
                            f"through it, give a plain file name")
