"""The model source choice shared by the run pages: built-in, timm zoo, uploaded file, local factory.

Uploads (.onnx, .pt2, optional .safetensors weights) are size-limited and stored under
`<home>/uploads/models/` named by their content hash, never by the user's file name. Python
factories are offered only from `<home>/models/*.py` (a folder the operator controls) and are
listed by parsing the files (nothing is imported until a run uses one); they are marked as local
code. Before any run the chosen model is built once and summarised (parameters, layers,
expected input, FLOPs), so a misfit shows here as the same one line the run would give.
"""
from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import streamlit as st

from compress_core import fmt
from compress_core.errors import CompressError

CHOICES = ("built-in", "timm zoo", "uploaded file", "local factory")
MODEL_SUFFIXES = (".onnx", ".pt2")
MAX_MODEL_UPLOAD_MB = 200
NORMALIZE = {"model default": None, "auto (training-split statistics)": "auto", "none (pixels in [0, 1])": "none",
             "custom MEAN,STD": "custom"}


def check_model_upload(name: str, data: bytes, allowed=MODEL_SUFFIXES) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        raise CompressError(f"{name!r} has type {suffix or '(none)'}; allowed: {', '.join(allowed)}")
    if not data:
        raise CompressError(f"{name!r} is empty")
    if len(data) > MAX_MODEL_UPLOAD_MB * 2**20:
        raise CompressError(f"{name!r} is {fmt.size(len(data))}; the limit is {MAX_MODEL_UPLOAD_MB} MB")
    return suffix


def save_model_upload(data: bytes, suffix: str, home: Path) -> Path:
    folder = home / "uploads" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def local_factories(home: Path) -> list[str]:
    """`<home>/models/<file>.py:<function>` for every public top-level function, found by parsing (not importing)."""
    found = []
    for path in sorted((home / "models").glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        found += [f"{path}:{node.name}" for node in tree.body
                  if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]
    return found


def _uploaded(prefix: str, key: str, label: str, home: Path, suffixes, what: str) -> str | None:
    file = st.file_uploader(f"{label}: {what} (at most {MAX_MODEL_UPLOAD_MB} MB)", type=[s[1:] for s in suffixes],
                            key=f"{prefix}_{key}_{suffixes[0][1:]}_file", max_upload_size=MAX_MODEL_UPLOAD_MB)
    if file is None:
        return None
    data = file.getvalue()
    try:
        return str(save_model_upload(data, check_model_upload(file.name, data, suffixes), home))
    except CompressError as exc:
        st.error(str(exc))
        return None


@st.cache_data(show_spinner="Building the model…", max_entries=16)
def summary(value: str, weights: str | None, normalize: str | None, resize: str | None, dataset: str,
            label_column: str, _data) -> dict:
    from compress_core.models.fit import model_and_data
    from compress_core.present.model_summary import summarize

    spec = SimpleNamespace(model=value, hidden=None, weights=weights, normalize=normalize, resize=resize)
    resolved, data = model_and_data(spec, _data)
    return summarize(resolved.module, data.input_shape, description=resolved.description,
                     normalize=resolved.normalize, comes_trained=resolved.comes_trained)


def show_summary(s: dict, key: str) -> None:
    trained = "comes trained: evaluated as given, not retrained" if s["comes_trained"] else "trained here first"
    st.caption(f"{s['description']} · {trained} · input {'×'.join(map(str, s['input_shape']))} · "
               f"normalize {s['normalize']}")
    cols = st.columns(3)
    cols[0].metric("Parameters", f"{s['params']:,}")
    cols[1].metric("FLOPs / sample", "n/a" if s["flops"] is None else f"{s['flops']:,}",
                   help="FlopCounterMode, 2 FLOPs per multiply-add, one sample")
    cols[2].metric("Layers with weights", len(s["layers"]))
    st.dataframe(s["layers"], hide_index=True, key=key, height=min(35 * (len(s["layers"]) + 1) + 3, 300))


def other_source(prefix: str, data, key: str, label: str, choice: str, home: Path, dataset: str,
                 label_column: str) -> tuple[str, None]:
    """The widgets of a non-built-in source; (model value, None). Options go to `options(prefix, key)`."""
    value, weights = None, None
    if choice == "timm zoo":
        name = st.text_input(f"{label}: timm architecture", "resnet18", key=f"{prefix}_{key}_timm",
                             help="any timm.list_models() name; adapted to the data's channels and classes, random "
                                  "init unless you upload weights; nothing is downloaded")
        value = f"timm:{name.strip()}"
        weights = _uploaded(prefix, key, label, home, (".safetensors",), "optional weights (.safetensors)")
    elif choice == "uploaded file":
        value = _uploaded(prefix, key, label, home, MODEL_SUFFIXES, "an ONNX (.onnx) or torch.export (.pt2) model")
        weights = _uploaded(prefix, key, label, home, (".safetensors",), "optional weights (.safetensors)")
    else:
        factories = local_factories(home)
        if not factories:
            st.info(f"No factories found: put a Python file with a function returning an nn.Module in "
                    f"{home / 'models'} (the browser never uploads code).")
        else:
            value = st.selectbox(f"{label}: local factory", factories, key=f"{prefix}_{key}_factory",
                                 format_func=lambda v: Path(v.rsplit(':', 1)[0]).name + ":" + v.rsplit(':', 1)[1])
            st.warning("Local code: this function runs with the app's permissions.", icon="⚠️")
            weights = _uploaded(prefix, key, label, home, (".safetensors",), "optional weights (.safetensors)")
    norm = NORMALIZE[st.selectbox(f"{label}: input normalisation", list(NORMALIZE), key=f"{prefix}_{key}_normalize",
                                  help="model default: auto for models trained here, none for models that come "
                                       "trained")]
    if norm == "custom":
        norm = st.text_input("MEAN,STD (per channel m1/m2/m3,s1/s2/s3)", "0.5,0.25", key=f"{prefix}_{key}_norm_text")
    resize = st.text_input(f"{label}: resize images to (HxW, empty: no resizing)", "", key=f"{prefix}_{key}_resize")
    st.session_state[f"{prefix}_{key}_options"] = {"weights": weights, "normalize": norm, "resize": resize or None}
    if value is None:
        st.stop()
    try:
        show_summary(summary(value, weights, norm, resize or None, dataset, label_column, data),
                     f"{prefix}_{key}_summary")
    except CompressError as exc:
        st.error(str(exc))
        st.stop()
    return value, None


def options(prefix: str, key: str = "model") -> dict:
    """Spec fields of the picked source (empty for a built-in model)."""
    if st.session_state.get(f"{prefix}_{key}_source", CHOICES[0]) == CHOICES[0]:
        return {}
    return {k: v for k, v in st.session_state.get(f"{prefix}_{key}_options", {}).items() if v is not None}
