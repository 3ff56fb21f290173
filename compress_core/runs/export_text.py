"""Export of text (transformer) runs: a Hugging Face `save_pretrained` folder, and the graph forms.

`export_hf` writes the run's compressed model as a folder that loads back with
`AutoModelForSequenceClassification.from_pretrained(DIR, local_files_only=True)`: safetensors
weights, a config with the compressed shape, and the tokenizer the run's data was encoded
with (an `hf:DIR` model's own; for the built-in `tinybert`, the word-level `tokenizers`
vocabulary rebuilt from the training split, wrapped as a `PreTrainedTokenizerFast`).
Before the folder is kept it is loaded back and checked: its logits against the run's model
on the first test inputs (max |diff| <= `TOLERANCE`) and its tokenizer against the run's
token ids of the same test texts. A folder that disagrees is removed.

Shapes a BERT-style config can carry: `num_hidden_layers` (layer-dropping students) and one
`intermediate_size` (FFN channels). It cannot carry fewer heads: the head size is always
`hidden_size / num_attention_heads`, and transformers 5 dropped `pruned_heads`. Removed heads
are therefore stored as zero weights (zero Q/K/V rows and output-projection columns: the head
contributes exactly nothing, so the logits are unchanged), and so are FFN channels of layers
narrower than the widest. The run's physically smaller form is the onnx/safetensors export.

Also here, for the file formats of text runs: `fit_run_structure` makes a freshly built text
model take a run's saved weights (fewer layers, fewer heads), and `check_inputs` adds a
shorter-length batch so a graph's dynamic token axis is checked, not only its batch axis.
"""
from __future__ import annotations

import copy
import os
import re
import secrets
import shutil
from pathlib import Path

import torch
from torch import nn

from compress_core.data.text import PAD, UNK, word_tokenizer
from compress_core.errors import CompressError
from compress_core.methods.registry import spec_from_dict
from compress_core.models.hf import is_hf, load_tokenizer
from compress_core.models.text import _parts, is_text_model, keep_layers
from compress_core.models.transformers_env import import_transformers
from compress_core.runs import jobs
from compress_core.runs.artifacts import write_error
from compress_core.runs.export_checks import CHECK_ROWS, TOLERANCE, check_not_link, quiet_exporters

MARK = "compression_lab"  # config.json key naming the run a folder was exported from


# --------------------------------------------------------------------------- loading a run's text model

def fit_run_structure(model: nn.Module, state: dict) -> nn.Module:
    """A freshly built text model with as many encoder layers as `state` holds (a layer-dropping
    student); other models unchanged. Heads and FFN widths follow in `load_pruned` + `sync_heads`."""
    if not is_text_model(model):
        return model
    found = {int(m.group(1)) for k in state for m in [re.search(r"\.encoder\.layer\.(\d+)\.", k)] if m}
    if found and len(found) < len(model.encoder_layers()):
        return keep_layers(model, len(found))
    return model


def sync_heads(model: nn.Module) -> nn.Module:
    """Set each attention block's head count from its (possibly pruned) Q weight, after `load_pruned`."""
    if is_text_model(model):
        for layer in model.encoder_layers():
            sa = _parts(layer)[0]
            sa.all_head_size = sa.query.out_features
            sa.num_attention_heads = sa.query.out_features // sa.attention_head_size
    return model


def check_inputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The test inputs a graph export is checked on: `x`, and for a text model also a smaller batch
    trimmed to its longest real text (a different batch size and token length than `x`)."""
    if not is_text_model(model):
        return [x]
    small = x[: max(1, len(x) // 4)]
    length = max(1, int((small != model.pad_id).sum(1).max()))
    return [x, small[:, :length]] if length < x.shape[1] or len(small) < len(x) else [x]


def graph_module(model: nn.Module) -> nn.Module:
    """What ONNX and TorchScript trace: a text model without its per-batch trim (see `export_module`)."""
    return model.export_module() if is_text_model(model) else model


# --------------------------------------------------------------------------- the Hugging Face folder

def _pad_linear(linear: nn.Linear, size: int, dim: int) -> None:
    """Grow `linear` to `size` outputs (dim 0) or inputs (dim 1) with zero weights (and zero bias)."""
    have = linear.weight.shape[dim]
    if have == size:
        return
    with torch.no_grad():
        shape = list(linear.weight.shape)
        shape[dim] = size - have
        linear.weight = nn.Parameter(torch.cat([linear.weight, linear.weight.new_zeros(shape)], dim))
        if dim == 0 and linear.bias is not None:
            linear.bias = nn.Parameter(torch.cat([linear.bias, linear.bias.new_zeros(size - have)]))
    linear.out_features, linear.in_features = linear.weight.shape


def hf_model(model: nn.Module, class_names) -> tuple[nn.Module, dict]:
    """(a copy of the run's Hugging Face model with a config matching its tensors, shape info)."""
    model.encoder_layers()  # one line for an encoder without a BERT-style layer list
    hf = copy.deepcopy(model.hf).cpu().eval()
    config = hf.config
    head_size = int(config.hidden_size // config.num_attention_heads)
    full_heads = int(config.num_attention_heads)
    layers = getattr(hf, hf.base_model_prefix).encoder.layer  # the same list `model.encoder_layers()` checked
    parts = [_parts(layer) for layer in layers]
    heads = [p[0].query.out_features // head_size for p in parts]
    ffn = [p[2].out_features for p in parts]
    width = max(ffn)
    for (sa, out, inter, down) in parts:
        for linear in (sa.query, sa.key, sa.value):
            _pad_linear(linear, full_heads * head_size, 0)
        _pad_linear(out, full_heads * head_size, 1)
        sa.num_attention_heads, sa.all_head_size = full_heads, full_heads * head_size
        _pad_linear(inter, width, 0)
        _pad_linear(down, width, 1)
    config.num_hidden_layers = len(layers)
    config.intermediate_size = width
    config.id2label = {i: str(name) for i, name in enumerate(class_names)}
    config.label2id = {str(name): i for i, name in enumerate(class_names)}
    zero_heads = sum(full_heads - h for h in heads)
    zero_ffn = sum(width - f for f in ffn)
    shape = {"layers": len(layers), "heads_kept": heads, "ffn_channels_kept": ffn,
             "zero_padded_heads": zero_heads, "zero_padded_ffn_channels": zero_ffn}
    return hf, shape


def tokenizer_for(spec, data):
    """The tokenizer the run's token ids came from, as a transformers tokenizer that can `save_pretrained`."""
    name = spec.teacher if str(spec.model).startswith("teacher-pruned:") else spec.model
    if is_hf(name):
        return load_tokenizer(name)
    if not data.texts:
        raise CompressError(f"data set {data.name!r} keeps no texts, so the tokenizer of model {name!r} cannot be "
                            "rebuilt; the hf format is not available for this run (use onnx or safetensors)")
    from transformers import PreTrainedTokenizerFast


    # the built-in models read the word-level vocabulary learned from the training split (data/text.py)
    return PreTrainedTokenizerFast(tokenizer_object=word_tokenizer(data.texts[0]), pad_token=PAD, unk_token=UNK,
                                   model_max_length=int(getattr(spec, "max_length", 128)))


def _tokenizer_mismatch(tokenizer, data, rows: int, max_length: int) -> int:
    """How many of the first `rows` test texts the saved tokenizer encodes differently from the run."""
    encoded = tokenizer(list(data.texts[1][:rows]), truncation=True, max_length=max_length)["input_ids"]
    bad = 0
    for ids, row in zip(encoded, data.x_test[:rows]):
        real = row[row != data.pad_id].tolist()  # right-padded ids of the run
        bad += list(ids) != real
    return bad


def hf_max_diff(folder: Path, model: nn.Module, inputs: list[torch.Tensor]) -> float:
    """Max |logits of the folder loaded with AutoModelForSequenceClassification - the run's model's|."""
    transformers = import_transformers()
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
    loaded.eval()
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            got = loaded(input_ids=x, attention_mask=(x != model.pad_id).long()).logits
            worst = max(worst, float((got - model(x)).abs().max()))
    return worst


def output_dir(run: dict, out_path, home) -> Path:
    """The folder an hf export writes: `out_path` (or `<artifacts>/<run>/export/hf`), new, empty, or an
    earlier export of this lab (its config names a run); never a link or a file."""

    if out_path is None:
        out = jobs.open_store(home).artifacts_dir(run["id"]) / "export" / "hf"
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        out = Path(out_path)
    check_not_link(out)
    if out.exists() and not out.is_dir():
        raise CompressError(f"--out {str(out)!r} is a file; the hf format writes a folder, give a new folder name")
    if not out.parent.is_dir():
        raise CompressError(f"the folder of {str(out)!r} does not exist")
    if out.is_dir() and any(out.iterdir()) and not _ours(out):
        raise CompressError(f"--out {str(out)!r} is a folder that already holds other files; give a new or empty "
                            "folder")
    return out


def _ours(folder: Path) -> bool:
    import json

    try:
        return MARK in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the checked folder `tmp` to `out`, replacing an empty folder or an earlier export there."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_hf(run: dict, load, out_path, home=None) -> dict:
    """Write a finished text run's model as a checked `save_pretrained` folder; what was written.

    `load()` returns (model, its data, is_int8): `export.load_run_model` for this run, passed in by
    `export.export_run` so this module does not import it back."""

    if "int8_onnx" in (run.get("artifacts") or {}) or "int8_weights" in (run.get("artifacts") or {}):
        raise CompressError(f"run {run['id']} is int8: its weights have no Hugging Face form; export it as onnx, or "
                            "export the unquantized run as hf")
    model, data, is_int8 = load()
    if not is_text_model(model):
        raise CompressError(f"run {run['id']} is not a text model; the hf format writes transformers folders, use "
                            "onnx, torchscript, safetensors or state_dict")
    spec = spec_from_dict(run["spec"])
    out = output_dir(run, out_path, home)
    tokenizer = tokenizer_for(spec, data)
    max_length = int(getattr(spec, "max_length", 128))
    bad = _tokenizer_mismatch(tokenizer, data, CHECK_ROWS, max_length)
    if bad:
        raise CompressError(f"the tokenizer rebuilt for run {run['id']} encodes {bad} of the first {CHECK_ROWS} test "
                            "texts differently from the run, so no hf folder was written")
    hf, shape = hf_model(model, data.class_names)
    setattr(hf.config, MARK, {"run_id": run["id"], "kind": run["kind"], **shape})
    inputs = check_inputs(model, data.x_test[:CHECK_ROWS])
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with quiet_exporters():
            hf.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            diff = hf_max_diff(tmp, model, inputs)
        if not diff <= TOLERANCE:
            raise CompressError(f"the hf folder of run {run['id']} disagrees with PyTorch by {diff:.3g} (> "
                                f"{TOLERANCE:g}) on test inputs, so it was not kept")
        _replace_dir(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(exc, out) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    note = ("a save_pretrained folder (config, safetensors weights, tokenizer); load it with "
            "AutoModelForSequenceClassification.from_pretrained(folder) and AutoTokenizer.from_pretrained(folder)")
    if shape["zero_padded_heads"] or shape["zero_padded_ffn_channels"]:
        note += (f"; {shape['zero_padded_heads']} removed head(s) and {shape['zero_padded_ffn_channels']} FFN "
                 "channel(s) are stored as zero weights (a BERT config has one head count and one FFN width; "
                 "the logits are unchanged), so the folder is not smaller by them: the onnx or safetensors export "
                 "keeps the smaller shapes")
    return {"run_id": run["id"], "format": "hf", "path": str(out), "bytes": size,
            "input_shape": list(data.input_shape), "int8": is_int8, "max_abs_diff": diff, "tolerance": TOLERANCE,
            "files": sorted(p.name for p in out.iterdir()), "config": {
                "num_hidden_layers": shape["layers"], "num_attention_heads": int(hf.config.num_attention_heads),
                "intermediate_size": int(hf.config.intermediate_size)},
            "heads_kept": shape["heads_kept"], "ffn_channels_kept": shape["ffn_channels_kept"],
            "tokenizer_checked_rows": min(CHECK_ROWS, len(data.x_test)), "note": note}
