"""Hugging Face transformers from a local `save_pretrained` folder (`--model hf:DIR`).

`load_hf(folder, num_classes)` returns the model wrapped as a `TextClassifier` (token ids
in, logits out) and what it expects. Only the real `from_pretrained` path on the local
folder is used (`local_files_only=True`, `HF_HUB_OFFLINE=1`): nothing is downloaded.
A folder without a sequence-classification head (e.g. a sentence-embedding encoder) gets
a new head for the data set's classes, and its baseline is that model fine-tuned.

Integration note (bring-your-own-model, issue 11): this module is self-contained. Today
`models/zoo.build_model` and `specs.check_model` route `hf:` names here; at merge time
the hook belongs in the model-source resolver (`compress_core/models/sources...`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from compress_core.errors import CompressError
from compress_core.models.transformers_env import import_transformers

PREFIX = "hf:"
# Encoders whose layers `models/text.py` knows how to slice (heads, FFN channels, layer dropping).
SUPPORTED = ("bert", "roberta", "xlm-roberta", "electra", "camembert")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")


def is_hf(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def folder_of(name: str) -> Path:
    return Path(name[len(PREFIX):]).expanduser()


def check_folder(name: str) -> Path:
    """Cheap checks of an `hf:DIR` name (the spec calls this): a folder with a config.json."""
    folder = folder_of(name)
    if not str(folder) or name == PREFIX:
        raise CompressError("hf: needs a folder, e.g. hf:./my-model (a save_pretrained folder)")
    if not folder.is_dir():
        raise CompressError(f"model folder not found: {folder} (hf:DIR takes a save_pretrained folder)")
    if not (folder / "config.json").is_file():
        raise CompressError(f"{folder} is not a Hugging Face model folder: it has no config.json "
                            "(save one with model.save_pretrained(folder) and tokenizer.save_pretrained(folder))")
    return folder


def _read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompressError(f"{folder / 'config.json'} is not a readable JSON config ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise CompressError(f"{folder / 'config.json'} has no model_type; it is not a transformers config")
    return config


def fingerprint(name: str) -> str:
    """Hash of the folder's config, tokenizer and weight files (for baseline cache keys)."""
    folder = check_folder(name)
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            stat = path.stat()
            if stat.st_size < (1 << 20):
                digest.update(path.read_bytes())
            else:  # large weight files: size and modification time, not a full read
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def load_tokenizer(name: str):
    folder = check_folder(name)
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise CompressError(f"{folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                            "save it beside the model with tokenizer.save_pretrained(folder)")
    transformers = import_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CompressError(f"the tokenizer in {folder} could not be loaded ({first})") from None


def load_hf(name: str, num_classes: int):
    """(TextClassifier around the folder's model, info). info: model_type, trained (the head fits
    `num_classes` and came with the weights), pad_id, layers, heads."""
    from compress_core.models.text import TextClassifier

    folder = check_folder(name)
    config = _read_config(folder)
    model_type = config["model_type"]
    if model_type not in SUPPORTED:
        raise CompressError(f"{folder}: architecture {model_type!r} is not supported; supported encoders: "
                            f"{', '.join(SUPPORTED)} (text), vit (images)")
    tokenizer = load_tokenizer(name)
    transformers = import_transformers()
    archs = config.get("architectures") or []
    has_head = any(a.endswith("ForSequenceClassification") for a in archs)
    trained = has_head and int(config.get("num_labels", len(config.get("id2label") or {}) or 2)) == int(num_classes)
    try:
        hf_config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True,
                                                             num_labels=int(num_classes))
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            str(folder), config=hf_config, local_files_only=True, ignore_mismatched_sizes=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CompressError(f"the model in {folder} could not be loaded ({first})") from None
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    info = {"source": "hf", "folder": str(folder), "model_type": model_type, "trained": bool(trained),
            "pad_id": int(pad_id), "layers": int(hf_config.num_hidden_layers),
            "heads": int(hf_config.num_attention_heads)}
    wrapped = TextClassifier(model, pad_id=int(pad_id))
    wrapped.source_info = info
    return wrapped, info
