"""Figures and tables of a run's explanation (`explore.explain.explain_run`), as pure functions.

No Streamlit: the Runs page and every method page draw what these return, the CLI prints
`text_summary`, and tests check them without a browser.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=30, t=60, b=40), hovermode="closest",
              legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0.0))
BASELINE, RUN, GAIN, LOSS = "#6c757d", "#1f77b4", "#2ca02c", "#d62728"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _points(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} pt"


def per_class_figure(explanation: dict) -> go.Figure:
    """Per-class accuracy of the baseline and the run (bars), and the difference in points below."""
    rows = explanation["per_class"]
    labels = [r["label"] for r in rows]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.08)
    for key, name, colour in (("baseline_accuracy", "baseline", BASELINE), ("run_accuracy", "compressed run", RUN)):
        values = [None if r[key] is None else r[key] * 100 for r in rows]
        fig.add_bar(x=labels, y=values, name=name, marker_color=colour, row=1, col=1,
                    customdata=[r["examples"] for r in rows],
                    hovertemplate="class %{x}: %{y:.1f}% of %{customdata} test examples<extra>" + name + "</extra>")
    diffs = [None if r["difference"] is None else r["difference"] * 100 for r in rows]
    fig.add_bar(x=labels, y=diffs, name="difference (run - baseline)", row=2, col=1,
                marker_color=[LOSS if (d or 0) < 0 else GAIN for d in diffs],
                hovertemplate="class %{x}: %{y:+.1f} points<extra></extra>")
    fig.update_yaxes(title_text="top-1 accuracy (%)", row=1, col=1)
    fig.update_yaxes(title_text="difference (points)", row=2, col=1, zeroline=True)
    fig.update_xaxes(title_text="class", type="category", row=2, col=1)
    acc = explanation["accuracy"]
    fig.update_layout(title=f"Per-class accuracy on {explanation['examples']} test examples: baseline "
                            f"{_pct(acc['baseline'])}, run {_pct(acc['run'])}", barmode="group", **LAYOUT)
    return fig


def confusion_figure(explanation: dict) -> go.Figure:
    """Heatmap of confusion(run) - confusion(baseline): red cells off the diagonal are new mistakes."""
    labels = [str(c) for c in explanation["class_names"]]
    matrix = explanation["confusion_difference"]
    top = max((abs(v) for row in matrix for v in row), default=1) or 1
    fig = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, zmid=0, zmin=-top, zmax=top,
                               colorscale=[[0, "#2166ac"], [0.5, "#f7f7f7"], [1, "#b2182b"]],
                               text=[[f"{v:+d}" if v else "" for v in row] for row in matrix], texttemplate="%{text}",
                               colorbar=dict(title="examples"),
                               hovertemplate="true %{y}, predicted %{x}: %{z:+d} examples (run - baseline)"
                                             "<extra></extra>"))
    fig.update_layout(title="Confusion difference (run - baseline): off the diagonal, red is a new mistake",
                      xaxis_title="predicted class", yaxis_title="true class", **LAYOUT)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def attribution_figure(explanation: dict) -> go.Figure | None:
    """Horizontal bars per layer (most to blame on top): accuracy drop with only that layer compressed,
    and accuracy recovered by restoring only it; the layer's share of parameters and FLOPs in the labels."""
    attr = explanation.get("attribution") or {}
    if not attr.get("available"):
        return None
    rows = list(reversed(attr["rows"]))  # plotly draws the first bar at the bottom
    names = [f"{r['layer']} ({r['params_share']:.0%} params, {r['flops_share']:.0%} FLOPs)" for r in rows]
    fig = go.Figure()
    fig.add_bar(y=names, x=[r["drop"] * 100 for r in rows], orientation="h", name="drop: only this layer compressed",
                marker_color=LOSS, hovertemplate="%{y}: %{x:.1f} points below the baseline<extra></extra>")
    fig.add_bar(y=names, x=[r["recovered"] * 100 for r in rows], orientation="h",
                name="recovered: every layer but this one compressed", marker_color=GAIN,
                hovertemplate="%{y}: %{x:+.1f} points above all layers compressed<extra></extra>")
    fig.update_layout(title=f"Which layer is to blame (measured by layer swaps, {attr['mode']} mode, "
                            f"{attr['examples']} test examples)", barmode="group",
                      xaxis_title="accuracy (points)", yaxis_title="layer", **LAYOUT)
    return fig


def per_class_table(explanation: dict) -> pd.DataFrame:
    return pd.DataFrame([{"class": r["label"], "examples": r["examples"], "baseline": _pct(r["baseline_accuracy"]),
                          "run": _pct(r["run_accuracy"]), "difference": _points(r["difference"])}
                         for r in explanation["per_class"]])


def flip_table(explanation: dict, which: str = "forgotten") -> pd.DataFrame:
    """The forgotten (or learnt) examples as a table, class names instead of indices."""
    names = explanation["class_names"]
    rows = []
    for r in explanation["flips"][which]:
        row = {"test example": r["id"], "true": names[r["true"]], "baseline predicts": names[r["baseline_pred"]],
               "run predicts": names[r["run_pred"]], "confidence": round(r["confidence"], 3),
               "true-class prob. baseline": round(r["baseline_true_prob"], 3),
               "true-class prob. run": round(r["run_true_prob"], 3)}
        if "seeds_forgotten" in r:
            row["forgotten under seeds"] = f"{r['seeds_forgotten']}/{len(explanation['seeds']['seeds'])}"
            row["exemplar"] = r["exemplar"]
        rows.append(row)
    return pd.DataFrame(rows)


def attribution_table(explanation: dict) -> pd.DataFrame:
    attr = explanation.get("attribution") or {}
    if not attr.get("available"):
        return pd.DataFrame()
    return pd.DataFrame([{"layer": r["layer"], "params share": f"{r['params_share']:.1%}",
                          "FLOPs share": f"{r['flops_share']:.1%}", "weights changed": f"{r['changed_share']:.1%}",
                          "acc. only this compressed": _pct(r["accuracy_only_this"]),
                          "acc. all but this compressed": _pct(r["accuracy_all_but_this"]),
                          "drop": _points(r["drop"]), "recovered": _points(r["recovered"]),
                          "output SQNR (dB)": "identical" if r["sqnr_db"] is None else f"{r['sqnr_db']:.1f}"}
                         for r in attr["rows"]])


def example_cards(explanation: dict, inputs: dict, which: str = "forgotten") -> list[dict]:
    """One card per flipped example: {kind, content (image array | row dict | text), caption}.

    `inputs` is `explore.explain.example_inputs(...)` for the ids of `explanation["flips"][which]`, in order.
    """
    names = explanation["class_names"]
    cards = []
    for r, item in zip(explanation["flips"][which], inputs["items"]):
        mark = " · exemplar (most seeds)" if r.get("exemplar") else ""
        caption = (f"#{r['id']}: true {names[r['true']]}, baseline {names[r['baseline_pred']]}, "
                   f"run {names[r['run_pred']]} ({r['confidence']:.0%}){mark}")
        cards.append({"kind": inputs["kind"], "content": item, "caption": caption})
    return cards


def text_summary(explanation: dict) -> str:
    """The explanation as plain text for the terminal."""
    acc = explanation["accuracy"]
    lines = [f"run {explanation['run_id']} ({explanation['kind']}, {explanation['model']} on "
             f"{explanation['dataset']}): accuracy {_pct(acc['run'])} vs baseline {_pct(acc['baseline'])} on "
             f"{explanation['examples']} test examples", "", per_class_table(explanation).to_string(index=False), ""]
    counts = explanation["flips"]["counts"]
    lines.append(f"forgotten (baseline right, run wrong): {counts['forgotten']}; learnt (baseline wrong, run right): "
                 f"{counts['learnt']}; confidence of forgotten = {explanation['flips']['confidence']['forgotten']}")
    for which in ("forgotten", "learnt"):
        table = flip_table(explanation, which)
        if not table.empty:
            lines += ["", f"{which}:", table.head(20).to_string(index=False)]
    seeds = explanation["seeds"]
    lines.append("")
    lines.append(f"seed exemplars: {len(seeds['exemplars'])} examples forgotten under at least {seeds['threshold']} "
                 f"of {len(seeds['seeds'])} seeds: {seeds['exemplars'][:20]}" if seeds.get("available")
                 else f"seed exemplars: {seeds['reason']}")
    attr = explanation["attribution"]
    lines.append("")
    if attr.get("available"):
        lines += [f"per-layer attribution ({attr['mode']} mode): baseline {_pct(attr['baseline_accuracy'])}, all "
                  f"layers compressed {_pct(attr['all_compressed_accuracy'])}",
                  attribution_table(explanation).to_string(index=False)]
    else:
        lines.append(f"per-layer attribution: {attr['reason']}")
    lines += [f"note: {n}" for n in explanation.get("notes") or []]
    return "\n".join(lines)
