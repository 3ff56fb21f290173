"""Make torchvision's Python side importable beside a CPU torch whose build its `_C.so` does not match.

Why this exists: timm and onnx2torch import torchvision. PyPI's torchvision 0.28.0 (the build
for torch 2.13.0) links its compiled `_C.so` against the CUDA torch libraries, so beside the CPU
torch wheel the library fails to load, and torchvision's import then dies on its first
`register_fake("torchvision::nms")` ("operator torchvision::nms does not exist"). Neither timm
nor onnx2torch calls torchvision's compiled detection operators; they only need the package to
import. Defining the schemas of those 12 operators (no kernels) lets it import; calling one of
them would raise "no kernel", which nothing in this lab does.

Where torchvision's own library loads (a matching torch build, a CUDA install), the operators
already exist and this module does nothing. Import `ensure_torchvision()` before timm/onnx2torch.
"""
from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import torch

# Schemas copied from torchvision/csrc/ops/*.cpp (0.28.0), the operators its Python side refers to.
SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, "
    "SymInt width) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
    "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
    "SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
    "SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
)

_LIBRARY = None  # kept alive: a torch.library.Library drops its definitions when collected
DEFINED = False  # True when this module had to define the schemas (reported by `status()`)


def _has_op(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def ensure_torchvision() -> None:
    """Import torchvision, defining its operator schemas first when its compiled library cannot load."""
    global _LIBRARY, DEFINED
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return  # already imported, or absent (the caller's import then names what is missing)
    if not _has_op("nms"):
        folder = Path(importlib.util.find_spec("torchvision").origin).parent
        for lib in sorted(folder.glob("_C*.so")) + sorted(folder.glob("_C*.pyd")):
            try:
                torch.ops.load_library(str(lib))  # what torchvision's own import tries first
            except (OSError, RuntimeError):
                pass
            break
    if not _has_op("nms"):
        _LIBRARY = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 - schemas only, on purpose
        for schema in SCHEMAS:
            _LIBRARY.define(schema)
        DEFINED = True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Failed to load.*extension.*")
        warnings.filterwarnings("ignore", message=".*image.so.*")
        import torchvision  # noqa: F401


def status() -> str:
    return ("torchvision imported with schema-only detection operators (its compiled library does not match this "
            "torch build)" if DEFINED else "torchvision imported normally")
