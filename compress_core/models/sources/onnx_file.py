"""`path/to/model.onnx`: an ONNX graph converted to PyTorch modules with onnx2torch.

Before conversion the file is checked without executing anything: its size, that it parses as
an ONNX protobuf, that every tensor it stores holds as many bytes as its shape declares (a
forged 2 GB initializer in a tiny file is refused before anything is allocated), that no tensor
lives in external files, and that onnx2torch has a converter for every operator (the first
unsupported one is named). The converted model comes trained and expects the graph's input
shape; ONNX files from other frameworks usually expect their own preprocessing, so the default
normalisation is "none" (pixel values in [0, 1]).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from compress_core.errors import CompressError
from compress_core.models.sources import ResolvedModel, Source, Target, file_digest, register_source
from compress_core.models.sources.limits import MAX_MODEL_BYTES, refuse_serialized, sniff

_TYPED_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def _onnx2torch():
    from compress_core.models.sources.tv_ops import ensure_torchvision

    ensure_torchvision()
    try:
        import onnx2torch
    except ImportError as exc:
        raise CompressError(f"ONNX models need onnx2torch (pip install onnx2torch==1.5.15): {exc}") from None
    return onnx2torch


def parse(name: str, data: bytes):
    """The ModelProto in `data`, or a one-line refusal (nothing is executed)."""
    import onnx
    from google.protobuf.message import DecodeError

    refuse_serialized(name, sniff(data), "an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise CompressError(f"{name!r} is not a readable ONNX model (truncated or another format): "
                            f"{' '.join(str(exc).split()) or type(exc).__name__}") from None
    if not model.graph.node:
        raise CompressError(f"{name!r} is not a readable ONNX model: its graph has no operators")
    return model


def _tensor_bytes(tensor) -> tuple[int, int]:
    """(bytes the dims declare, bytes the tensor holds)."""
    from onnx import TensorProto, helper

    if tensor.data_type in (TensorProto.STRING, TensorProto.UNDEFINED):
        return 0, 0
    itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    declared = math.prod(tensor.dims) * itemsize
    if tensor.raw_data:
        return declared, len(tensor.raw_data)
    for field_name in _TYPED_FIELDS:
        values = getattr(tensor, field_name)
        if len(values):
            return declared, math.prod(tensor.dims) * itemsize if len(values) >= math.prod(tensor.dims) \
                else len(values) * itemsize
    return declared, 0


def _stored_tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t


def check_tensors(name: str, model) -> None:
    from onnx import TensorProto

    for tensor in _stored_tensors(model.graph):
        if tensor.data_location == TensorProto.EXTERNAL:
            raise CompressError(f"{name!r} keeps tensor {tensor.name!r} in an external file; external data is not "
                                "accepted: save the model with all tensors inside the .onnx file")
        declared, held = _tensor_bytes(tensor)
        if declared != held and not (declared == 0 and held == 0):
            raise CompressError(f"{name!r}: tensor {tensor.name!r} declares shape {list(tensor.dims)} "
                                f"({declared:,} bytes) but holds {held:,} bytes; the file is truncated or forged")


def check_operators(name: str, model) -> None:
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY

    known = {(d.domain or "", d.operation_type) for d in _CONVERTER_REGISTRY}
    for node in model.graph.node:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if (domain, node.op_type) not in known:
            where = f" (domain {node.domain!r})" if domain else ""
            raise CompressError(f"{name!r}: ONNX operator {node.op_type}{where} (node {node.name or '?'!r}) is not "
                                "supported by onnx2torch 1.5.15, so the model cannot be converted to PyTorch")


def input_shape(name: str, model) -> tuple[int, ...] | None:
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise CompressError(f"{name!r} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); the lab feeds "
                            "one input batch")
    dims = inputs[0].type.tensor_type.shape.dim
    sample = [d.dim_value if d.HasField("dim_value") else 0 for d in list(dims)[1:]]
    return tuple(sample) if sample and all(s > 0 for s in sample) else None


def _build(value: str, target: Target) -> ResolvedModel:
    path = Path(value)
    data, digest = file_digest(path, MAX_MODEL_BYTES)
    model = parse(path.name, data)
    check_tensors(path.name, model)
    onnx2torch = _onnx2torch()
    check_operators(path.name, model)
    shape = input_shape(path.name, model)
    try:
        module = onnx2torch.convert(model)
    except NotImplementedError as exc:
        found = re.search(r"operation_type='([^']+)', version=(\d+)", str(exc))
        if found:  # a known operator at an opset onnx2torch 1.5.15 lacks a converter for
            raise CompressError(f"{path.name!r}: ONNX operator {found.group(1)} at opset {found.group(2)} is not "
                                "supported by onnx2torch 1.5.15; export with an older opset (e.g. "
                                "torch.onnx.export(..., opset_version=17))") from None
        raise CompressError(f"{path.name!r}: onnx2torch cannot convert it: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # a malformed graph: say so in one line
        raise CompressError(f"{path.name!r}: the ONNX graph could not be converted: {type(exc).__name__}: "
                            f"{' '.join(str(exc).split())}") from None
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return ResolvedModel(module, shape, True, "none", f"ONNX {path.name} (opset {opset}, "
                         f"{len(model.graph.node)} operators, converted with onnx2torch)", "onnx", f"onnx:{digest}")


register_source(Source("onnx", "path/to/model.onnx", lambda v: Path(v).suffix.lower() == ".onnx",
                       lambda v: None, _build, browser=True))
