"""Import `transformers` offline and safely (shared by the built-in tinybert and hf:DIR models)."""
from __future__ import annotations

import os
import sys

from compress_core.errors import CompressError
from compress_core.models.sources.tv_ops import ensure_torchvision


def import_transformers():
    """`transformers`, offline, importable even beside a torchvision wheel built for another torch.

    transformers imports torchvision when it finds it; a torchvision that does not match our
    torch raises at import (PyPI's does). `tv_ops.ensure_torchvision` makes it importable first;
    only where even that fails is torchvision hidden from transformers, which then treats it
    as absent (text models never need it).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" not in sys.modules and "torchvision" not in sys.modules:
        try:  # the same torchvision timm and onnx2torch use (models/sources/tv_ops.py), so hiding it
            ensure_torchvision()  # here never breaks them later in the same process
        except Exception:  # noqa: BLE001 - any failure means: unusable here
            for key in [k for k in sys.modules if k.startswith("torchvision.")]:
                del sys.modules[key]
            sys.modules["torchvision"] = None  # importlib.util.find_spec now reports it missing
    try:
        import transformers
    except ImportError as exc:
        raise CompressError(f"hf: models need the transformers package ({exc}); "
                            "install it with pip install -r requirements.txt") from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars in CLI output or logs
    return transformers
