"""Transformer encoders for text classification, and their structural edits.

`TextClassifier` wraps a Hugging Face `*ForSequenceClassification` so it looks like every
other model of the lab: token ids `(batch, L)` in, logits out. It builds the attention
mask from the padding id and trims each batch to its longest real text (dynamic padding),
so padded positions cost nothing.

The structural edits work on BERT-family encoders (BERT, RoBERTa, ELECTRA: `encoder.layer[i]`
with `attention.self.{query,key,value}`, `attention.output.dense`, `intermediate.dense`,
`output.dense`):

- `remove_heads`: attention heads removed physically (rows of Q/K/V, columns of the output
  projection). Written by hand: transformers 5 dropped `prune_heads`, and Torch-Pruning
  traces one example shape through the model's data-dependent trimming.
- `remove_ffn_channels`: feed-forward channels removed (rows of `intermediate.dense`,
  columns of `output.dense`).
- `keep_layers`: a shallower copy from every k-th layer (DistilBERT-style initialisation).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from compress_core.errors import CompressError

TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=512)


class TextClassifier(nn.Module):
    """Token ids in, logits out, around a Hugging Face sequence classifier."""

    is_text_model = True

    def __init__(self, hf: nn.Module, pad_id: int = 0):
        super().__init__()
        self.hf = hf
        self.pad_id = int(pad_id)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != self.pad_id
        length = int(mask.sum(1).max()) if ids.numel() else 1
        length = max(length, 1)
        return self.hf(input_ids=ids[:, :length], attention_mask=mask[:, :length].long()).logits

    def export_module(self) -> nn.Module:
        """The same classifier without the per-batch trim, for graph export (a traced trim length would
        be frozen into the graph); padded positions are masked, so its logits are the same. It takes this
        model's train/eval mode: exporters restore the wrapper's mode afterwards, and a wrapper left in
        training mode would switch the shared encoder back to dropout."""
        return _Untrimmed(self).train(self.training)

    def example_input(self, batch: int, seq_len: int, device=None) -> torch.Tensor:
        """Random ids of full length `seq_len` (no padding): timing and FLOPs at a stated length."""
        vocab = int(self.hf.config.vocab_size)
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (batch, int(seq_len)), generator=gen)
        ids[ids == self.pad_id] = (self.pad_id + 1) % vocab
        return ids.to(device) if device is not None else ids

    def encoder_layers(self) -> nn.ModuleList:
        base = getattr(self.hf, self.hf.base_model_prefix, None)
        layers = getattr(getattr(base, "encoder", None), "layer", None)
        if not isinstance(layers, nn.ModuleList):
            raise CompressError(f"{type(self.hf).__name__} has no BERT-style encoder.layer list; structured "
                                "pruning and layer dropping support BERT, RoBERTa and ELECTRA encoders")
        return layers

    # Also prunable beyond the attention/FFN projections: "embeddings" (the nn.Embedding tables) and/or
    # "head" (the Linear layers outside the encoder: pooler, classifier). Empty by default; a prune run
    # sets it on its own copy (PruneSpec.include_embeddings / include_head), so every reader of
    # `prunable_layers` (masks, per-layer sparsity, make_permanent) sees the same choice.
    prune_extra: tuple = ()

    def prunable_layers(self) -> list[tuple[str, nn.Module]]:
        """Linear layers of the attention and feed-forward blocks; embeddings, pooler and head excluded
        unless `prune_extra` names them."""
        inside = [(f"hf.{n}", m) for n, m in self.hf.named_modules()
                  if isinstance(m, nn.Linear) and ".encoder." in f".{n}." and ".layer." in f".{n}"]
        embeddings = [(f"hf.{n}", m) for n, m in self.hf.named_modules() if isinstance(m, nn.Embedding)]
        head = [(f"hf.{n}", m) for n, m in self.hf.named_modules()
                if isinstance(m, nn.Linear) and ".encoder." not in f".{n}."]
        return ((embeddings if "embeddings" in self.prune_extra else []) + inside
                + (head if "head" in self.prune_extra else []))


def build_tinybert(input_shape: Sequence[int], num_classes: int) -> TextClassifier:
    """A small BERT (2 layers, hidden 64, 4 heads, FFN 128) over the word-level vocabulary."""
    from compress_core.data.text import WORD_VOCAB
    from compress_core.models.transformers_env import import_transformers

    transformers = import_transformers()
    if len(input_shape) != 1:
        raise CompressError(f"model 'tinybert' takes text (token ids); this data set has input shape {tuple(input_shape)}")
    config = transformers.BertConfig(vocab_size=WORD_VOCAB, num_labels=int(num_classes), pad_token_id=0,
                                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, **TINY)
    return TextClassifier(transformers.BertForSequenceClassification(config), pad_id=0)


def is_text_model(model: nn.Module) -> bool:
    return bool(getattr(model, "is_text_model", False))


def _parts(layer: nn.Module):
    try:
        att = layer.attention
        return att.self, att.output.dense, layer.intermediate.dense, layer.output.dense
    except AttributeError:
        raise CompressError(f"{type(layer).__name__} is not a BERT-style layer (attention.self, intermediate, "
                            "output); structured pruning supports BERT, RoBERTa and ELECTRA encoders") from None


def _slice_linear(linear: nn.Linear, index: torch.Tensor, dim: int) -> None:
    """Keep rows (dim 0: outputs) or columns (dim 1: inputs) `index` of `linear`, in place."""
    with torch.no_grad():
        weight = linear.weight.index_select(dim, index).clone()
        linear.weight = nn.Parameter(weight)
        if dim == 0 and linear.bias is not None:
            linear.bias = nn.Parameter(linear.bias.index_select(0, index).clone())
    linear.out_features, linear.in_features = linear.weight.shape


def head_scores(layer: nn.Module, p: int = 1) -> torch.Tensor:
    """Importance of each head: the Lp norm of its Q, K, V rows and output-projection columns."""
    sa, out, _, _ = _parts(layer)
    n, size = sa.num_attention_heads, sa.attention_head_size
    parts = [sa.query.weight.view(n, size, -1), sa.key.weight.view(n, size, -1), sa.value.weight.view(n, size, -1),
             out.weight.view(out.weight.shape[0], n, size).transpose(0, 1)]
    return sum(w.detach().abs().pow(p).reshape(n, -1).sum(1) for w in parts)


def remove_heads(layer: nn.Module, heads: Sequence[int]) -> None:
    """Remove attention heads `heads` of one layer physically (at least one head stays)."""
    sa, out, _, _ = _parts(layer)
    n, size = sa.num_attention_heads, sa.attention_head_size
    drop = set(int(h) for h in heads)
    keep = [h for h in range(n) if h not in drop]
    if not keep:
        raise CompressError(f"cannot remove all {n} heads of a layer; at least one must stay")
    index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep])
    for linear in (sa.query, sa.key, sa.value):
        _slice_linear(linear, index, 0)
    _slice_linear(out, index, 1)
    sa.num_attention_heads = len(keep)
    sa.all_head_size = len(keep) * size


def remove_ffn_channels(layer: nn.Module, amount: float, p: int = 1) -> int:
    """Remove the `amount` share of one layer's feed-forward channels with the smallest Lp norm; kept count."""
    _, _, inter, out = _parts(layer)
    n = inter.out_features
    keep_n = max(1, int(n * (1 - amount)))
    score = inter.weight.detach().abs().pow(p).sum(1) + out.weight.detach().abs().pow(p).sum(0)
    index = torch.sort(torch.topk(score, keep_n).indices).values
    _slice_linear(inter, index, 0)
    _slice_linear(out, index, 1)
    return keep_n


def prune_structure(model: TextClassifier, amount: float, importance: str = "l1") -> list[dict]:
    """Remove `amount` of the heads and of the FFN channels of every layer (lowest norms first).

    Returns one row per layer: heads before/kept, FFN channels before/kept, removed heads.
    """
    p = {"l1": 1, "l2": 2}[importance]
    rows = []
    for i, layer in enumerate(model.encoder_layers()):
        sa, _, inter, _ = _parts(layer)
        heads_before, ffn_before = sa.num_attention_heads, inter.out_features
        n_drop = heads_before - max(1, int(heads_before * (1 - amount)))
        drop = sorted(torch.argsort(head_scores(layer, p))[:n_drop].tolist())
        if drop:
            remove_heads(layer, drop)
        kept = remove_ffn_channels(layer, amount, p)
        rows.append({"layer": i, "heads_before": heads_before, "heads_kept": heads_before - len(drop),
                     "heads_removed": drop, "ffn_before": ffn_before, "ffn_kept": kept})
    return rows


def keep_layers(model: TextClassifier, k: int) -> TextClassifier:
    """A copy with `k` of the encoder's layers: every (n/k)-th one, the last always kept.

    DistilBERT (Sanh et al. 2019) initialises its student from every other teacher layer;
    evenly spaced indices generalise that to any k.
    """
    layers = model.encoder_layers()
    n = len(layers)
    if not 1 <= k <= n:
        raise CompressError(f"student_layers must be in [1, {n}] for a teacher with {n} layers; got {k}")
    picks = sorted({round((i + 1) * n / k) - 1 for i in range(k)})
    student = copy.deepcopy(model)
    base = getattr(student.hf, student.hf.base_model_prefix)
    base.encoder.layer = nn.ModuleList([base.encoder.layer[i] for i in picks])
    student.hf.config.num_hidden_layers = k
    for new_index, layer in enumerate(base.encoder.layer):  # attention caches index layers by position
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    return student


def layer_indices(n: int, k: int) -> list[int]:
    return sorted({round((i + 1) * n / k) - 1 for i in range(k)})


def structure(model: nn.Module) -> dict:
    """Layers, heads per layer and FFN width per layer of a text model (for results and previews)."""
    if not is_text_model(model):
        return {}
    layers = model.encoder_layers()
    parts = [_parts(layer) for layer in layers]
    return {"encoder_layers": len(layers), "heads": [p[0].num_attention_heads for p in parts],
            "ffn_channels": [p[2].out_features for p in parts]}



class _Untrimmed(nn.Module):
    """`TextClassifier` without trimming: attention mask from the pad id over the full length."""

    def __init__(self, classifier: "TextClassifier"):
        super().__init__()
        self.hf, self.pad_id = classifier.hf, classifier.pad_id

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hf(input_ids=ids, attention_mask=(ids != self.pad_id).long()).logits
