"""`path/to/model.pt2`: a `torch.export` program, loaded only after proving it holds no pickle.

`torch.export.load` is not safe on untrusted files: it unpickles payloads marked `use_pickle`
(`torch.load(weights_only=False)`), opaque constants (`pickle.loads`), retries its sample inputs
with `weights_only=False` when the safe load fails, reads legacy archives through the same
fallback, and loads AOTInductor shared libraries when present. So the archive is read into memory
once and checked first (`check_archive`): a zip with the PT2 layout, only known members, no
pickled payload anywhere, sample inputs that `torch.load(weights_only=True)` accepts. Only then
is the same byte string handed to `torch.export.load`. A pickle or a TorchScript file named .pt2
is refused unread.

The exported graph calls aten functions, not modules; `modularize` turns its linear, conv2d and
batch_norm calls back into `nn.Linear`/`nn.Conv2d`/`nn.BatchNorm2d` modules (same parameter
objects) so that pruning and quantization see layers.
"""
from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import torch
from torch import fx, nn

from compress_core.errors import CompressError
from compress_core.models.sources import ResolvedModel, Source, Target, file_digest, register_source
from compress_core.models.sources.limits import MAX_MODEL_BYTES, MAX_UNPACKED_BYTES, refuse_serialized, sniff

# Copying an exported program's module (every method deep-copies its model) trips a deprecation inside
# torch's pytree that the user can do nothing about; only that message is silenced.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)

_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
_ALLOWED_DIRS = ("models/", "data/weights/", "data/constants/", "data/sample_inputs/", "extra/")


def _refuse(name: str, why: str) -> None:
    raise CompressError(f"{name!r} is not accepted as a torch.export program: {why}; nothing in it was loaded")


def _payload_files(name: str, zf: zipfile.ZipFile, root: str, config_path: str, folder: str, prefix: str) -> set[str]:
    """Files a weights/constants config names, after checking none is a pickle."""
    try:
        config = json.loads(zf.read(root + config_path)).get("config", {})
    except (KeyError, ValueError, AttributeError):
        _refuse(name, f"{config_path} is missing or unreadable")
    files = set()
    for fqn, meta in config.items():
        if not isinstance(meta, dict) or meta.get("use_pickle"):
            _refuse(name, f"tensor {fqn!r} is stored as a pickle")
        path = str(meta.get("path_name", ""))
        if not path.startswith(prefix) or "/" in path:
            _refuse(name, f"{fqn!r} is a {path.split('_')[0] or 'non-tensor'} object (pickled), not a tensor")
        files.add(root + folder + path)
    return files


def check_archive(name: str, data: bytes) -> None:
    """Refuse anything but a pickle-free PT2 archive (see the module docstring)."""
    kind = sniff(data)
    refuse_serialized(name, kind, "a torch.export program")
    if kind != "zip":
        _refuse(name, "it is not a zip archive (torch.export.save writes one)")
    zf = zipfile.ZipFile(io.BytesIO(data))
    infos = zf.infolist()
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        _refuse(name, "its members unpack to more than the size limit")
    roots = {i.filename.split("/", 1)[0] for i in infos}
    if len(roots) != 1:
        _refuse(name, "it has more than one top-level folder")
    root = roots.pop() + "/"
    names = {i.filename for i in infos if not i.filename.endswith("/")}
    if root + "archive_format" not in names or zf.read(root + "archive_format").strip() != b"pt2":
        _refuse(name, "it lacks the PT2 archive_format marker (older torch.export formats are read through pickle)")
    models = [n[len(root + "models/"):-5] for n in names if n.startswith(root + "models/") and n.endswith(".json")]
    if not models:
        _refuse(name, "it holds no exported model")
    allowed = {root + f for f in _FIXED}
    for model in models:
        allowed.add(f"{root}models/{model}.json")
        allowed.add(f"{root}data/weights/{model}_weights_config.json")
        allowed.add(f"{root}data/constants/{model}_constants_config.json")
        allowed.add(f"{root}data/sample_inputs/{model}.pt")
        allowed |= _payload_files(name, zf, root, f"data/weights/{model}_weights_config.json", "data/weights/",
                                  "weight_")
        allowed |= _payload_files(name, zf, root, f"data/constants/{model}_constants_config.json",
                                  "data/constants/", "tensor_")
    for member in sorted(names - allowed):
        if not member.startswith(root + "extra/") or member.endswith((".so", ".dll", ".pyd", ".pt", ".pkl")):
            _refuse(name, f"it contains {member[len(root):]!r}, which is not part of a plain exported program "
                          "(compiled code and pickles are never loaded)")
    for model in models:
        sample = f"{root}data/sample_inputs/{model}.pt"
        if sample in names:
            try:
                torch.load(io.BytesIO(zf.read(sample)), weights_only=True)
            except Exception:
                _refuse(name, "its sample inputs are not plain tensors (torch.export.load would unpickle them)")


def modularize(gm: fx.GraphModule) -> fx.GraphModule:
    """Replace aten linear/conv2d/batch_norm calls on parameters by equivalent nn modules, in place.

    Written by hand: no library turns an exported aten graph back into layer modules. Calls whose
    weights are not plain parameters (computed weights) are left as they are.
    """
    params = dict(gm.named_parameters())
    buffers = dict(gm.named_buffers())
    count = 0

    def attr(node):
        return node.target if isinstance(node, fx.Node) and node.op == "get_attr" else None

    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        target = node.target
        args = list(node.args) + [None] * 12
        module = None
        if target is torch.ops.aten.linear.default and attr(args[0 + 1]) in params:
            w = params[attr(args[1])]
            b = params.get(attr(args[2])) if args[2] is not None else None
            module = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
            module.weight = w
            if b is not None:
                module.bias = b
        elif target is torch.ops.aten.conv2d.default and attr(args[1]) in params:
            w = params[attr(args[1])]
            b = params.get(attr(args[2])) if args[2] is not None else None
            stride, padding, dilation, groups = (args[3] or [1, 1]), (args[4] or [0, 0]), (args[5] or [1, 1]), \
                (args[6] or 1)
            if isinstance(padding, str):
                continue
            module = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), tuple(stride), tuple(padding),
                               tuple(dilation), groups, bias=b is not None)
            module.weight = w
            if b is not None:
                module.bias = b
        elif target is torch.ops.aten.batch_norm.default and attr(args[3]) in buffers and not args[5]:
            mean, var = buffers[attr(args[3])], buffers[attr(args[4])]
            w = params.get(attr(args[1])) if args[1] is not None else None
            b = params.get(attr(args[2])) if args[2] is not None else None
            val = node.meta.get("val")
            cls = nn.BatchNorm2d if val is not None and val.dim() == 4 else nn.BatchNorm1d
            module = cls(mean.shape[0], eps=float(args[7] or 1e-5), momentum=float(args[6] or 0.1),
                         affine=w is not None)
            if w is not None:
                module.weight, module.bias = w, b
            module.running_mean, module.running_var = mean, var
        if module is None:
            continue
        weight_name = attr(args[1]) if target is not torch.ops.aten.batch_norm.default else attr(args[3])
        owner = weight_name.rsplit(".", 1)[0] if "." in weight_name else f"layer{count}"
        name = owner.replace(".", "_") + "_module"
        gm.add_submodule(name, module)
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(name, (node.args[0],))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        count += 1
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    # The originals stay registered under their old names for unused get_attr targets; drop them.
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for pname in list(params) + list(buffers):
        if pname not in used and "." in pname and not pname.endswith("_module"):
            owner, leaf = pname.rsplit(".", 1)
            try:
                holder = gm.get_submodule(owner)
            except AttributeError:
                continue
            if not holder.__class__.__name__.endswith("_module") and not owner.endswith("_module"):
                holder._parameters.pop(leaf, None)
                holder._buffers.pop(leaf, None)
    return gm


def _build(value: str, target: Target) -> ResolvedModel:
    path = Path(value)
    data, digest = file_digest(path, MAX_MODEL_BYTES)
    check_archive(path.name, data)
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as exc:
        raise CompressError(f"{path.name!r}: torch.export.load could not read it: {type(exc).__name__}: "
                            f"{' '.join(str(exc).split())}") from None
    inputs = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in
              program.graph_signature.user_inputs]
    if len(inputs) != 1:
        raise CompressError(f"{path.name!r} takes {len(inputs)} inputs; the lab feeds one input batch")
    val = inputs[0].meta.get("val")
    shape = None
    if val is not None:
        dims = list(val.shape[1:])
        if all(isinstance(d, int) for d in dims):
            shape = tuple(int(d) for d in dims)
        if isinstance(val.shape[0], int):
            raise CompressError(f"{path.name!r} was exported for batches of exactly {val.shape[0]}; export with a "
                                "dynamic batch: dynamic_shapes=({0: torch.export.Dim('batch')},)")
    module = modularize(program.module())
    for method in ("train", "eval"):  # export forbids train()/eval(); the layers above now honour the mode
        module.__dict__.pop(method, None)
    return ResolvedModel(module, shape, True, "none", f"torch.export program {path.name}", "pt2", f"pt2:{digest}")


register_source(Source("pt2", "path/to/model.pt2 (torch.export.save)", lambda v: Path(v).suffix.lower() == ".pt2",
                       lambda v: None, _build, browser=True))
