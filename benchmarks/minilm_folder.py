"""A MiniLM-sized BERT text classifier saved as a Hugging Face folder, built here (nothing downloaded).

The shape of `all-MiniLM-L6-v2`'s encoder (6 layers, hidden 384, 12 heads, intermediate 1536, a
30,522-row word-piece vocabulary: ~22.7 M parameters with the 4-class head), randomly initialised
and trained for a few steps on the bundled `text-demo` training split (40 steps of 32 sentences, ~40 s on
2 cores; from scratch it stays near chance accuracy, 100 steps did not change that: fine for timing, where
only the shape and the data count), then written with
`save_pretrained` (config, safetensors, tokenizer) so the lab loads it the way a user brings a
model: `hf:DIR` through `compress_core.models.sources` (the Prune page's "local Hugging Face folder"
box). Its head has the data set's 4 classes, so the lab evaluates it as given instead of fine-tuning
a baseline. The vocabulary is the demo set's words plus `[unusedN]` fillers up to MiniLM's size, so
the embedding table (and every file size) is MiniLM's.

    python benchmarks/minilm_folder.py DIR [--steps 40]

`bench_ui.py --dataset text-minilm` and `profile_preview.py --text-model DIR` call `ensure_folder`.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
             intermediate_size=1536, max_position_embeddings=512)


def ensure_folder(folder: Path, steps: int = 40, seed: int = 0) -> Path:
    """`folder` with the MiniLM-sized model (built and trained once; an existing folder is reused)."""
    folder = Path(folder)
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    import torch

    from compress_core.data.datasets import load_dataset
    from compress_core.data.text import TEXT_DEMO_FILE, retokenize
    from compress_core.models.text import TextClassifier
    from compress_core.models.transformers_env import import_transformers

    transformers = import_transformers()
    words = sorted(set(re.findall(r"[a-z]+", TEXT_DEMO_FILE.read_text(encoding="utf-8").lower())))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, ".", ",", "!", "?", "'", "-"]
    vocab += [f"[unused{i}]" for i in range(SHAPE["vocab_size"] - len(vocab))]
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(tmp / "vocab.txt"), do_lower_case=True)
    data = retokenize(load_dataset("text-demo"), tokenizer)
    config = transformers.BertConfig(**SHAPE, num_labels=data.num_classes,
                                     id2label=dict(enumerate(data.class_names)),
                                     label2id={n: i for i, n in enumerate(data.class_names)})
    torch.manual_seed(seed)
    hf = transformers.BertForSequenceClassification(config)
    model = TextClassifier(hf, pad_id=int(tokenizer.pad_token_id))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    began = time.perf_counter()
    for _ in range(steps):  # a few steps: the accuracy then moves with pruning like a trained model's
        idx = torch.randint(0, len(data.x_train), (32,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    hf.eval()
    hf.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    tmp.rename(folder)
    print(f"MiniLM-sized model: {sum(p.numel() for p in hf.parameters()) / 1e6:.1f} M parameters, {steps} steps "
          f"in {time.perf_counter() - began:.0f} s, last loss {loss.item():.3f} -> {folder}", file=sys.stderr)
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    ensure_folder(Path(args.folder), args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
