"""`hf:DIR`: a Hugging Face `save_pretrained` folder (config, safetensors weights, tokenizer), loaded offline.

The loading itself lives in `models/hf.py` (`from_pretrained(local_files_only=True)`); this source
only tells the resolver what such a model is: a text classifier whose head either came fitted to
the data set's classes (the baseline as given) or is new (the baseline is the model fine-tuned).
"""
from __future__ import annotations

from compress_core.models.hf import PREFIX, check_folder, fingerprint, is_hf, load_hf
from compress_core.models.hf_vision import load_vit, vision_type
from compress_core.models.sources import ResolvedModel, Source, Target, register_source


def _build(value: str, target: Target) -> ResolvedModel:
    if target.hidden:
        from compress_core.errors import CompressError

        raise CompressError(f"model {value!r} has a fixed architecture; --hidden applies to 'mlp' only")
    if vision_type(value):  # a ViT image encoder (models/hf_vision.py)
        module, info = load_vit(value, target.num_classes)
        trained = bool(info.get("trained"))
        head = "its own head, fitted to the classes" if trained else "a new classification head (fine-tuned here)"
        return ResolvedModel(module, info["input_shape"], trained, "none" if trained else "auto",
                             f"Hugging Face {info['model_type']} image encoder from {value[3:]} with {head}", "hf",
                             f"hf:{fingerprint(value)}")
    module, info = load_hf(value, target.num_classes)
    trained = bool(info.get("trained"))
    head = "its own head, fitted to the classes" if trained else "a new classification head (fine-tuned here)"
    return ResolvedModel(module, None, trained, "none", f"Hugging Face {info.get('model_type')} from {value[3:]} "
                         f"with {head}", "hf", f"hf:{fingerprint(value)}")


register_source(Source("hf", f"{PREFIX}DIR (a Hugging Face save_pretrained folder, loaded offline)", is_hf,
                       check_folder, _build, browser=False))
