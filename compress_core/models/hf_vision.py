"""ViT-style image encoders from a local `save_pretrained` folder (`--model hf:DIR`, model_type "vit").

The same offline path as the text encoders (`from_pretrained(..., local_files_only=True)`), for
`ViTForImageClassification` and head-less `ViTModel` folders: a folder without a classification
head for the data set's classes gets a new one, and its baseline is that model fine-tuned. The
model takes images of its config's size (`num_channels x image_size x image_size`); a data set
of another size is resized with `--resize HxW` (the one-line shape error says so).

What applies to it: baseline fine-tuning, unstructured pruning of the attention and feed-forward
projections (patch embedding and head excluded, as for text encoders), fake k-bit and dynamic int8
(ONNX Runtime `quantize_dynamic`: the Linear layers are where a ViT computes; the patch
convolution stays fp32), export to ONNX/TorchScript/safetensors. Structured head removal is
written for BERT-style layers only and refuses a ViT in one line.
"""
from __future__ import annotations

import json
import re

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.models.transformers_env import import_transformers

VISION_TYPES = ("vit",)


def vision_type(name: str) -> str | None:
    """The model_type of an `hf:DIR` folder when it is an image encoder we load, else None (no error:
    a syntax-level question asked while a spec is checked; `load_vit` gives the one-line errors)."""
    from compress_core.models.hf import folder_of, is_hf

    if not is_hf(name):
        return None
    try:
        config = json.loads((folder_of(name) / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    kind = config.get("model_type") if isinstance(config, dict) else None
    return kind if kind in VISION_TYPES else None


class ImageClassifier(nn.Module):
    """Images `(batch, C, H, W)` in, logits out, around a Hugging Face image classifier."""

    is_vision_transformer = True
    int8_method = "dynamic"  # int8_onnx: Linear layers quantized per batch; the patch convolution stays fp32

    def __init__(self, hf: nn.Module):
        super().__init__()
        self.hf = hf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hf(pixel_values=x).logits

    def prunable_layers(self) -> list[tuple[str, nn.Module]]:
        """Linear layers of the attention and feed-forward blocks: patch embedding, pooler and head excluded."""
        return [(f"hf.{n}", m) for n, m in self.hf.named_modules()
                if isinstance(m, nn.Linear) and re.search(r"\.layers?\.\d+\.", f".{n}.")]  # vit.layers.0.* (v5)


def load_vit(name: str, num_classes: int) -> tuple[ImageClassifier, dict]:
    """(ImageClassifier around the folder's ViT, info: model_type, trained, input_shape, layers, heads)."""
    from compress_core.models.hf import _read_config, check_folder

    folder = check_folder(name)
    config = _read_config(folder)
    transformers = import_transformers()
    archs = config.get("architectures") or []
    has_head = any(a.endswith("ForImageClassification") for a in archs)
    trained = has_head and int(config.get("num_labels", len(config.get("id2label") or {}) or 2)) == int(num_classes)
    try:
        hf_config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True,
                                                             num_labels=int(num_classes))
        model = transformers.AutoModelForImageClassification.from_pretrained(
            str(folder), config=hf_config, local_files_only=True, ignore_mismatched_sizes=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CompressError(f"the model in {folder} could not be loaded ({first})") from None
    size = int(hf_config.image_size)
    shape = (int(hf_config.num_channels), size, size)
    info = {"source": "hf", "folder": str(folder), "model_type": config["model_type"], "trained": bool(trained),
            "input_shape": shape, "layers": int(hf_config.num_hidden_layers),
            "heads": int(hf_config.num_attention_heads)}
    wrapped = ImageClassifier(model)
    wrapped.source_info = info
    return wrapped, info


def is_vision_transformer(model: nn.Module) -> bool:
    return bool(getattr(model, "is_vision_transformer", False))
