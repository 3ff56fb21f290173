"""Figures and tables of a Deep Compression run's storage: where the bytes go, stage by stage.

Pure functions of a run's metrics and baseline dicts (no Streamlit): the run's page and tests
call them. Every size is a measured file length (see `measure.storage_codec`); the dense fp32
checkpoint and gzip of it are drawn beside as references.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.graph_objects as go

from compress_core import fmt
from compress_core.measure.storage_codec import PARTS
from compress_core.present.plots import color_of, figure

PART_LABELS = {"header": "header", "codebooks": "codebooks", "huffman_tables": "Huffman tables",
               "values": "values (centroid indices)", "indices": "relative positions",
               "biases": "biases and other tensors"}
PART_COLOURS = {"header": "#7f7f7f", "codebooks": "#bcbd22", "huffman_tables": "#17becf", "values": "#e377c2",
                "indices": "#9467bd", "biases": "#8c564b"}
REFERENCE_COLOUR = "#c7c7c7"


def breakdown(metrics: Mapping) -> dict[str, int]:
    """{part: bytes} of the run's encoded file (empty for a run without one)."""
    return {part: metrics[f"storage_{part}_bytes"] for part in PARTS if f"storage_{part}_bytes" in metrics}


def stage_table(metrics: Mapping, baseline: Mapping) -> pd.DataFrame:
    """One row per form of the model: the dense fp32 checkpoint, gzip of it, then each stage's file.

    Columns: form, bytes, compression ratio (the baseline's fp32 checkpoint / bytes), accuracy (None where
    the form is a reference that was not evaluated on its own).
    """
    base_size = baseline.get("size_fp32_bytes") or metrics.get("size_fp32_bytes")
    rows = [{"form": "dense fp32 checkpoint (baseline)", "bytes": base_size, "accuracy": metrics.get("baseline_accuracy")}]
    if metrics.get("size_dense_gzip_bytes"):
        rows.append({"form": "gzip -9 of the dense fp32 checkpoint (same weights)",
                     "bytes": metrics["size_dense_gzip_bytes"], "accuracy": metrics.get("accuracy")})
    for stage in metrics.get("stages") or []:
        rows.append({"form": stage["stage"], "bytes": stage["bytes"], "accuracy": stage["accuracy"]})
    table = pd.DataFrame(rows, columns=["form", "bytes", "accuracy"])
    table["compression_ratio"] = [base_size / b if base_size and b else None for b in table["bytes"]]
    return table[["form", "bytes", "compression_ratio", "accuracy"]]


def sizes_figure(metrics: Mapping, baseline: Mapping, title: str = "Size by stage: file lengths") -> go.Figure:
    """Bytes of every form (log axis): fp32 and gzip references in grey, each stage in the run kind's colour,
    each bar labelled with its size and ratio."""
    table = stage_table(metrics, baseline)
    colours = [REFERENCE_COLOUR if i < len(table) - len(metrics.get("stages") or []) else color_of("deep-compression")
               for i in range(len(table))]
    text = [f"{fmt.size(b)} ({fmt.ratio(r)} smaller)" if r and r != 1 else fmt.size(b)
            for b, r in zip(table["bytes"], table["compression_ratio"])]
    fig = figure(title, "bytes (log scale)", "", showlegend=False)
    fig.add_bar(y=list(table["form"]), x=list(table["bytes"]), orientation="h", marker_color=colours, text=text,
                textposition="auto", hovertemplate="%{y}: %{text}<extra></extra>")
    fig.update_xaxes(type="log")
    fig.update_yaxes(autorange="reversed")
    return fig


def breakdown_figure(metrics: Mapping, title: str = "Where the bytes of the encoded file go") -> go.Figure:
    """The encoded file as one stacked bar: header, codebooks, Huffman tables, values, positions, biases."""
    parts = breakdown(metrics)
    total = sum(parts.values()) or 1
    fig = figure(title, "bytes", "", barmode="stack")
    for part, size in parts.items():
        fig.add_bar(y=["encoded file"], x=[size], orientation="h", name=f"{PART_LABELS[part]}: {fmt.size(size)}",
                    marker_color=PART_COLOURS[part],
                    hovertemplate=f"{PART_LABELS[part]}: {fmt.size(size)} ({size / total:.1%})<extra></extra>")
    fig.update_layout(height=260)
    return fig
