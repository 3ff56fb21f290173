"""Text classification data: sentences become int64 token ids, so the engine trains unchanged.

A text data set is a `Dataset` whose `x_*` are token ids `(N, L)`, right-padded with
`pad_id` to the longest tokenized text (at most `max_length`; longer texts are truncated
and the data set's `notes` say how many). The texts are kept beside the ids, so a model
with its own tokenizer (`hf:DIR`) re-encodes them with it (`retokenize`); everything
else (fit, evaluate, pruning, quantization) sees tensors as before.

The default encoding is a word-level vocabulary learned from the training split only
(Hugging Face `tokenizers`: lower-cased, split on whitespace and punctuation, the
`WORD_VOCAB - 2` most frequent words, `[PAD]` = 0 and `[UNK]` = 1). The built-in
`tinybert` reads it; it is rebuilt from the same split whenever needed, so it needs no
download and no file.

Sources: the bundled `text-demo` set (`text_demo.csv` beside this module, 1200 English
sentences in four topics written for the project, CC0; see `TEXT_DEMO_LICENSE.md` and
`scripts/make_text_demo.py`) and the user's CSV files with a text column.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from compress_core.errors import CompressError

DEFAULT_MAX_LENGTH = 128
MAX_LENGTH_LIMIT = 512  # position embeddings of the built-in and of most BERT-style encoders
WORD_VOCAB = 2048  # word-level vocabulary size (tinybert's embedding rows), special tokens included
PAD, UNK = "[PAD]", "[UNK]"
TEXT_DEMO_FILE = Path(__file__).with_name("text_demo.csv")


def check_max_length(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_LENGTH_LIMIT:
        raise CompressError(f"max_length must be an integer in [2, {MAX_LENGTH_LIMIT}]; got {value!r}")
    return value


def word_tokenizer(texts: Sequence[str]):
    """A word-level `tokenizers.Tokenizer` trained on `texts` (the training split)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=WORD_VOCAB, special_tokens=[PAD, UNK], min_frequency=1)
    tok.train_from_iterator(list(texts), trainer=trainer)
    return tok


def encode_word_level(tok, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], int]:
    """(token ids of each text, cut to `max_length`; how many texts were longer)."""
    ids = [e.ids for e in tok.encode_batch(list(texts))]
    truncated = sum(len(i) > max_length for i in ids)
    return [i[:max_length] for i in ids], truncated


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int, length: int) -> torch.Tensor:
    out = torch.full((len(rows), length), pad_id, dtype=torch.int64)
    for r, ids in enumerate(rows):
        ids = list(ids)[:length]
        out[r, :len(ids)] = torch.as_tensor(ids, dtype=torch.int64)
    return out


def truncation_note(truncated: int, total: int, max_length: int) -> str:
    return (f"{truncated} of {total} texts were longer than max_length {max_length} tokens and were truncated "
            "(raise --max-length to keep more)")


def build_text_dataset(name: str, source: str, texts_train: Sequence[str], y_train: np.ndarray,
                       texts_test: Sequence[str], y_test: np.ndarray, class_names: Sequence[str],
                       max_length: Optional[int] = None):
    """A `Dataset` of word-level token ids (vocabulary from the training texts only)."""
    from compress_core.data.datasets import Dataset

    max_length = check_max_length(max_length if max_length is not None else DEFAULT_MAX_LENGTH)
    tok = word_tokenizer(texts_train)
    train_ids, cut_train = encode_word_level(tok, texts_train, max_length)
    test_ids, cut_test = encode_word_level(tok, texts_test, max_length)
    length = max(1, max(len(i) for i in train_ids + test_ids))
    notes = ()
    if cut_train + cut_test:
        notes = (truncation_note(cut_train + cut_test, len(train_ids) + len(test_ids), max_length),)
    return Dataset(name=name, x_train=pad_ids(train_ids, 0, length),
                   y_train=torch.as_tensor(np.asarray(y_train), dtype=torch.int64),
                   x_test=pad_ids(test_ids, 0, length), y_test=torch.as_tensor(np.asarray(y_test), dtype=torch.int64),
                   input_shape=(length,), class_names=tuple(class_names), is_image=False, is_text=True, pad_id=0,
                   texts=(tuple(texts_train), tuple(texts_test)), notes=notes)


def text_dataset_from_frame(df, path, text_column: str, label_column: str, max_length: Optional[int] = None):
    """Check a CSV's text and label columns, map labels to 0..K-1, split 80/20 (stratified) and tokenize."""
    from compress_core.data import datasets as ds

    extra = [c for c in df.columns if c not in (text_column, label_column)]
    if extra:
        raise CompressError(f"{path}: a text file takes a text column {text_column!r} and a label column "
                            f"{label_column!r} only; also found {ds._column_list(extra)}")
    labels = df[label_column]
    if labels.isna().any():
        line = int(np.flatnonzero(labels.isna().to_numpy())[0]) + 2
        raise CompressError(f"{path}: label column {label_column!r} is empty on line {line}")
    raw = df[text_column]
    texts = ["" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in raw.tolist()]
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if len(empty) == len(texts):
        raise CompressError(f"{path}: text column {text_column!r} is empty (no row holds any text)")
    if empty:
        raise CompressError(f"{path}: text column {text_column!r} is empty on line {empty[0] + 2} "
                            f"({len(empty)} empty row(s) in all); every row needs a text")
    y_raw = labels.to_numpy() if __import__("pandas").api.types.is_numeric_dtype(labels) \
        else np.asarray([str(v) for v in labels.tolist()], dtype=str)
    return split_and_build(Path(path).name, str(path), texts, y_raw, max_length)


def split_and_build(name: str, source: str, texts: list[str], y_raw: np.ndarray, max_length: Optional[int]):
    """The same class checks and fixed-seed stratified 80/20 split as numeric user files."""
    from compress_core.data import datasets as ds

    classes, y = np.unique(y_raw, return_inverse=True)
    y = y.reshape(-1).astype(np.int64)
    names = ds._label_names(classes)
    if len(classes) < 2:
        raise CompressError(f"{source} has only one class ({names[0]!r}); need at least 2 classes")
    if len(y) < ds.MIN_ROWS:
        raise CompressError(f"{source} has only {len(y)} rows; need at least {ds.MIN_ROWS}")
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < ds.MIN_ROWS_PER_CLASS:
        k = int(counts.argmin())
        raise CompressError(f"{source}: class {names[k]!r} has only {counts[k]} row(s); every class needs at least "
                            f"{ds.MIN_ROWS_PER_CLASS} so the train/test split can contain it")
    n_test = max(math.ceil(ds.USER_TEST_FRACTION * len(y)), len(classes))
    idx_train, idx_test = ds._stratified_split(y, n_test)
    return build_text_dataset(name, source, [texts[i] for i in idx_train], y[idx_train],
                              [texts[i] for i in idx_test], y[idx_test], names, max_length)


def load_text_demo(data_dir: Path, download: bool, max_length: Optional[int] = None):
    """The bundled English topic set (sports / weather / cooking / technology), offline."""
    import pandas as pd

    df = pd.read_csv(TEXT_DEMO_FILE, encoding="utf-8")
    ds = text_dataset_from_frame(df, TEXT_DEMO_FILE, "text", "label", max_length)
    from dataclasses import replace

    return replace(ds, name="text-demo")


def _register() -> None:
    """Fill the text hooks of `datasets` (imported by `compress_core.data`, so always in place)."""
    from compress_core.data import datasets

    if "text-demo" not in datasets.DATASETS:
        datasets.DATASETS.add("text-demo", lambda data_dir, download: load_text_demo(data_dir, download))
    datasets.TEXT_BUILTINS["text-demo"] = load_text_demo
    if not datasets.TEXT_CSV:
        datasets.TEXT_CSV.append(text_dataset_from_frame)


_register()


# --------------------------------------------------------------------------- other tokenizers

def retokenize(data, tokenizer, max_length: Optional[int] = None):
    """`data` re-encoded with a Hugging Face tokenizer (an `hf:DIR` model's own), same split and labels.

    Padding is dynamic at two levels: the tensors are padded to the longest encoded text
    (not to `max_length`), and the model trims every batch to its longest real text.
    """
    from dataclasses import replace

    if not data.is_text or data.texts is None:
        raise CompressError(f"data set {data.name!r} holds no texts to tokenize")
    max_length = check_max_length(max_length if max_length is not None else DEFAULT_MAX_LENGTH)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        raise CompressError("the model's tokenizer has no padding token; set one (tokenizer.pad_token) and save it again")
    encoded, cut = [], 0
    for texts in data.texts:
        full = tokenizer(list(texts), truncation=False, add_special_tokens=True)["input_ids"]
        cut += sum(len(i) > max_length for i in full)
        rows = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
        encoded.append(rows)
    length = max(1, max(len(r) for rows in encoded for r in rows))
    total = sum(len(t) for t in data.texts)
    notes = (truncation_note(cut, total, max_length),) if cut else ()
    return replace(data, x_train=pad_ids(encoded[0], pad_id, length), x_test=pad_ids(encoded[1], pad_id, length),
                   input_shape=(length,), pad_id=int(pad_id), notes=notes)
