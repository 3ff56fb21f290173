"""Which models read text, and text data encoded the way a model reads it."""
from __future__ import annotations

from compress_core.errors import CompressError


def takes_text(name: str) -> bool:
    """Whether model `name` reads token ids (tinybert, hf:DIR) rather than numeric features."""
    from compress_core.models.hf import is_hf
    from compress_core.models.zoo import MODELS

    from compress_core.models.hf_vision import vision_type

    return (is_hf(name) and not vision_type(name)) or (name in MODELS and MODELS.get(name).needs_text)


def match_data(name: str, data, max_length: int):
    """`data` encoded the way model `name` reads it, or a one-line error when they do not fit.

    Text for an `hf:DIR` model is re-encoded with the folder's tokenizer; the built-in
    tinybert reads the word-level ids the data set already holds.
    """
    from compress_core.data.text import retokenize
    from compress_core.models.hf import is_hf, load_tokenizer

    if data.is_text and not takes_text(name):
        takes = "images (a ViT)" if is_hf(name) else "numeric features"
        raise CompressError(f"model {name!r} takes {takes}, but data set {data.name!r} is text; "
                            "use 'tinybert' or hf:DIR for text")
    if not data.is_text and takes_text(name):
        raise CompressError(f"model {name!r} takes text, but data set {data.name!r} is not text; use 'text-demo' "
                            "or a CSV with a text column (--text-column)")
    if data.is_text and is_hf(name):
        return retokenize(data, load_tokenizer(name), max_length)
    return data
