"""Speed results as tables, verdicts and Plotly figures (pure functions of a `measure.speed` result)."""
from __future__ import annotations

from typing import Optional

import pandas as pd
import plotly.graph_objects as go

FASTER, SLOWER = 1.05, 0.95  # within 5 % either way counts as the same speed (timing noise)
GREEN, RED, GREY = "#2e7d32", "#c62828", "#757575"


def cells_frame(result: dict) -> pd.DataFrame:
    """One row per cell: form, role, runtime, batch, threads, available, median_ms, iqr_ms, speedup, reason."""
    cols = ["form", "role", "runtime", "batch", "threads", "available", "median_ms", "q1_ms", "q3_ms", "iqr_ms",
            "speedup", "reason"]
    frame = pd.DataFrame(result.get("cells") or [])
    for col in cols:
        if col not in frame.columns:
            frame[col] = None
    return frame[cols]


def _ratio(x) -> str:
    return f"{x:.2f}×" if x is not None and x == x else "n/a"


def verdict(speedups: dict[int, Optional[float]]) -> tuple[str, Optional[bool]]:
    """A plain sentence on a form's speed-ups by batch size, and whether it is good (None: neutral).

    E.g. "faster from batch 8 up (2.1× at 64); slower at batch 1: per-call overhead".
    """
    known = {b: s for b, s in sorted(speedups.items()) if s is not None}
    if not known:
        return "not available here", None
    faster = [b for b, s in known.items() if s >= FASTER]
    slower = [b for b, s in known.items() if s < SLOWER]
    best = max(known, key=known.get)
    if len(faster) == len(known):
        return f"faster at every batch size ({_ratio(known[min(known)])} at {min(known)}, " \
               f"{_ratio(known[max(known)])} at {max(known)})", True
    if not faster:
        if len(slower) == len(known):
            return f"slower at every batch size ({_ratio(known[best])} at best, batch {best})", False
        return "the same speed within 5 % (no gain)" + (f"; slower at batch {', '.join(map(str, slower))}"
                                                          if slower else ""), False if slower else None
    first = min(faster)
    tail = all(b in faster for b in known if b >= first)
    text = (f"faster from batch {first} up" if tail else f"faster at batch {', '.join(map(str, faster))}") + \
        f" ({_ratio(known[best])} at {best})"
    if slower:
        small = [b for b in slower if b < first]
        text += f"; slower at batch {', '.join(map(str, slower))}" + (": per-call overhead" if small else "")
    return text, True


def verdicts(result: dict, threads: Optional[int] = None) -> list[dict]:
    """A verdict per non-baseline form (against the baseline in its own runtime) and the runtime gain
    of ONNX Runtime fp32 over torch eager, at `threads` (default: the most threads timed)."""
    frame = cells_frame(result)
    if frame.empty:
        return []
    threads = threads or int(frame["threads"].dropna().max())
    frame = frame[frame["threads"] == threads]
    out = []
    for form, rows in frame.groupby("form", sort=False):
        role = rows["role"].iloc[0]
        if role == "baseline":
            continue
        speedups = {int(r.batch): (r.speedup if r.available else None) for r in rows.itertuples()}
        text, good = verdict(speedups)
        reason = next((r for r in rows["reason"] if isinstance(r, str)), None)
        out.append({"form": form, "against": "the baseline in the same runtime", "verdict": text, "good": good,
                    "threads": threads, **({"reason": reason} if reason and good is None else {})})
    base = frame[frame["role"] == "baseline"]
    torch_rows = base[base["runtime"] == "torch"].set_index("batch")["median_ms"]
    ort_rows = base[(base["runtime"] == "onnxruntime") & base["available"].fillna(False).astype(bool)]
    if not ort_rows.empty and not torch_rows.empty:
        gains = {int(r.batch): torch_rows.get(r.batch) / r.median_ms if r.median_ms else None
                 for r in ort_rows.itertuples()}
        text, good = verdict(gains)
        out.append({"form": ort_rows["form"].iloc[0], "against": "the same model in torch eager (runtime gain)",
                    "verdict": text, "good": good, "threads": threads})
    return out


def latency_figure(result: dict, threads: Optional[int] = None, title: str = "Latency vs batch size") -> go.Figure:
    """Median latency per call (ms, log scale) against batch size, one line per form, IQR as error bars."""
    frame = cells_frame(result)
    fig = go.Figure()
    if not frame.empty:
        threads = threads or int(frame["threads"].dropna().max())
        frame = frame[(frame["threads"] == threads) & frame["available"].fillna(False).astype(bool)]
        for form, rows in frame.groupby("form", sort=False):
            rows = rows.sort_values("batch")
            dash = "dot" if rows["role"].iloc[0] == "baseline" else "solid"
            fig.add_trace(go.Scatter(
                x=rows["batch"], y=rows["median_ms"], name=form, mode="lines+markers", line={"dash": dash},
                error_y={"type": "data", "symmetric": False, "array": rows["q3_ms"] - rows["median_ms"],
                         "arrayminus": rows["median_ms"] - rows["q1_ms"]},
                hovertemplate="batch %{x}: %{y:.3f} ms (median)<extra>" + form + "</extra>"))
    fig.update_layout(title=f"{title} ({threads} thread{'s' if threads != 1 else ''}; median, IQR bars)",
                      xaxis={"title": "batch size", "type": "log"}, yaxis={"title": "latency per call (ms)",
                                                                           "type": "log"},
                      legend={"orientation": "h", "y": -0.25}, margin={"t": 60})
    return fig


def break_even_figure(be: dict) -> go.Figure:
    """Measured CSR-over-dense speed-up vs sparsity per layer, the 1× line and each break-even marked."""
    fig = go.Figure()
    for layer in be.get("layers") or []:
        pts = [p for p in layer["points"] if p.get("speedup") is not None]
        fig.add_trace(go.Scatter(x=[p["sparsity"] * 100 for p in pts], y=[p["speedup"] for p in pts],
                                 mode="lines+markers", name=f"{layer['name']} {'×'.join(map(str, layer['shape']))}"))
        if layer.get("break_even") is not None:
            fig.add_vline(x=layer["break_even"] * 100, line_dash="dash", line_color=GREEN,
                          annotation_text=f"{layer['name']}: {layer['break_even']:.0%}", annotation_position="top left")
    fig.add_hline(y=1.0, line_color=GREY, annotation_text="dense speed (1×)", annotation_position="bottom right")
    fig.update_layout(title=f"Sparse (CSR) vs dense Linear kernels at batch {be.get('batch')}: break-even sparsity",
                      xaxis={"title": "sparsity of the layer (%)"},
                      yaxis={"title": "measured speed-up over dense (×)", "type": "log"},
                      legend={"orientation": "h", "y": -0.25}, margin={"t": 60})
    return fig


def table_text(result: dict) -> str:
    """The speed table as plain text for the terminal."""
    frame = cells_frame(result)
    head = f"speed of {'run ' + result['run_id'] if 'run_id' in result else 'model ' + str(result.get('model'))}"
    lines = [head + " (median ms per call, IQR; speed-up against the baseline in the same runtime)"]
    width = max([len(f) for f in frame["form"]] + [4])
    for (threads, batch), rows in frame.groupby(["threads", "batch"]):
        lines.append(f"  batch {batch}, {threads} thread(s)")
        for r in rows.itertuples():
            if r.available:
                lines.append(f"    {r.form:<{width}}  {r.median_ms:9.4f} ms  IQR {r.iqr_ms:8.4f}  {_ratio(r.speedup):>7}")
            else:
                lines.append(f"    {r.form:<{width}}  {r.reason}")
    for v in verdicts(result):
        lines.append(f"  verdict: {v['form']}: {v['verdict']}")
    be = result.get("break_even") or {}
    for layer in be.get("layers") or []:
        at = "never wins up to 99 %" if layer["break_even"] is None else f"wins from {layer['break_even']:.0%} sparsity"
        lines.append(f"  break-even at batch {be['batch']}: {layer['name']} {layer['shape']}: sparse {at}")
    if result.get("path"):
        lines.append(f"  stored: {result['path']}")
    return "\n".join(lines)


def cpu_line(cpu: Optional[dict]) -> str:
    """The processor facts that decide bf16/fp16 speed, in one line (empty when not recorded)."""
    if not cpu:
        return ""
    flags = ", ".join(cpu.get("flags") or []) or "none of AMX / AVX-512 BF16 / FP16"
    return (f"Processor: torch CPU capability {cpu.get('torch_cpu_capability')}; matrix-engine flags: {flags}; "
            f"oneDNN bf16 {'yes' if cpu.get('mkldnn_bf16') else 'no'}, fp16 {'yes' if cpu.get('mkldnn_fp16') else 'no'}.")
