"""Size limits and file sniffing shared by the file sources: nothing is parsed before these checks."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

from compress_core.errors import CompressError

MAX_MODEL_BYTES = int(float(os.environ.get("COMPRESS_LAB_MAX_MODEL_MB", "1024")) * 2**20)
MAX_UNPACKED_BYTES = 4 * MAX_MODEL_BYTES  # a zip archive's members together, against zip bombs

TORCHSCRIPT_HINT = ("TorchScript archives are refused: loading one runs its compiled code and unpickles its "
                    "objects; upload an ONNX file (torch.onnx.export) or a torch.export program (.pt2, "
                    "torch.export.save) instead, or weights as .safetensors with a model factory")
PICKLE_HINT = ("is a Python pickle (torch.save of a whole model or a checkpoint); pickles can run arbitrary code "
               "and are never loaded; upload an ONNX file or a torch.export program (.pt2), or weights as "
               ".safetensors (safetensors.torch.save_file(model.state_dict(), path)) with a model factory")


def read_limited(path: Path, limit: int = MAX_MODEL_BYTES) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise CompressError(f"model file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size > limit:
        raise CompressError(f"model file {path.name!r} is {size / 2**20:.0f} MiB; the limit is "
                            f"{limit / 2**20:.0f} MiB (COMPRESS_LAB_MAX_MODEL_MB)")
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


def sniff(data: bytes) -> str:
    """'pickle', 'torchscript', 'torch-save', 'zip' or 'other', from the first bytes and a zip listing."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if data[:4] == b"PK\x03\x04":
        import io

        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return "other"
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "torch-save"
        return "zip"
    return "other"


def refuse_serialized(name: str, kind: str, expected: str) -> None:
    """Raise the one line for a pickle / TorchScript / torch.save file given where `expected` was asked."""
    if kind == "torchscript":
        raise CompressError(f"{name!r} is a TorchScript archive, not {expected}. {TORCHSCRIPT_HINT}")
    if kind in ("pickle", "torch-save"):
        raise CompressError(f"{name!r} {PICKLE_HINT}; it was not loaded")
