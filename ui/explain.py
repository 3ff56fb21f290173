"""The "Explain this run" section of a finished run's view (the Runs page and every method page).

Computed on demand (a button), cached per run: per-class accuracy with the difference, the
confusion difference, the forgotten and learnt examples drawn (images, table rows or texts), the
seed exemplars of a seed sweep, and the per-layer attribution. The engine does the work
(`compress_core.explore.explain`); the figures come from `compress_core.present.explain`.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from compress_core import paths
from compress_core.errors import CompressError
from ui import figures as charts

CARDS = 12  # flipped examples drawn per table (the tables list more)


@st.cache_data(show_spinner=False, max_entries=32)
def _explained(run_id: str, home: str, finished_runs: int) -> tuple[dict, dict, dict]:
    """(explanation, forgotten inputs, learnt inputs); `finished_runs` renews it when a seed's run is added."""
    import torch

    from compress_core.explore.explain import example_inputs, explain_run

    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))  # a page shares the cores with the background workers
    try:
        result = explain_run(run_id, home)
        inputs = {which: example_inputs(run_id, [r["id"] for r in result["flips"][which][:CARDS]], home)
                  for which in ("forgotten", "learnt")}
    finally:
        torch.set_num_threads(threads)
    return result, inputs["forgotten"], inputs["learnt"]


def _cards(cards: list[dict], key: str) -> None:
    if not cards:
        st.caption("none")
        return
    if cards[0]["kind"] == "image":
        columns = st.columns(6)
        for i, card in enumerate(cards):
            columns[i % 6].image(card["content"], caption=card["caption"], width=96, clamp=True)
    elif cards[0]["kind"] == "table":
        st.dataframe(pd.DataFrame([{"example": c["caption"], **c["content"]} for c in cards]), key=key,
                     hide_index=True)
    else:
        for card in cards:
            st.markdown(f"**{card['caption']}**")
            st.text(card["content"][:500])


def _draw(result: dict, forgotten: dict, learnt: dict, prefix: str) -> None:
    from compress_core.present import explain as figures

    charts.show(figures.per_class_figure(result), f"{prefix}_explain_classes")  # 2x PNG camera + SVG/PNG export
    charts.show(figures.confusion_figure(result), f"{prefix}_explain_confusion")
    counts = result["flips"]["counts"]
    st.markdown(f"**Forgotten**: {counts['forgotten']} test examples the baseline got right and the run gets wrong, "
                f"most confident first (confidence = {result['flips']['confidence']['forgotten']}).")
    _cards(figures.example_cards(result, forgotten, "forgotten"), f"{prefix}_explain_forgotten_cards")
    st.dataframe(figures.flip_table(result, "forgotten"), key=f"{prefix}_explain_forgotten", hide_index=True)
    st.markdown(f"**Learnt**: {counts['learnt']} examples the baseline got wrong and the run gets right "
                f"(confidence = {result['flips']['confidence']['learnt']}).")
    _cards(figures.example_cards(result, learnt, "learnt"), f"{prefix}_explain_learnt_cards")
    st.dataframe(figures.flip_table(result, "learnt"), key=f"{prefix}_explain_learnt", hide_index=True)
    seeds = result["seeds"]
    if seeds.get("available"):
        st.caption(f"Seed exemplars: {len(seeds['exemplars'])} examples are forgotten under at least "
                   f"{seeds['threshold']} of the {len(seeds['seeds'])} seeds' runs ({seeds['method']}).")
    else:
        st.caption(f"Seed exemplars: {seeds['reason']}.")
    attr = result["attribution"]
    st.markdown("**Which layer is to blame**")
    if attr.get("available"):
        charts.show(figures.attribution_figure(result), f"{prefix}_explain_layers")
        st.dataframe(figures.attribution_table(result), key=f"{prefix}_explain_layer_table", hide_index=True)
        st.caption(f"Measured: {attr['method']}. Baseline {attr['baseline_accuracy']:.1%}, all layers compressed "
                   f"{attr['all_compressed_accuracy']:.1%}.")
    else:
        st.info(f"Per-layer attribution: {attr['reason']}.")
    for note in result.get("notes") or []:
        st.caption(f"Note: {note}")
    st.caption(f"Computed in {result['seconds']:.1f} s on {result['threads']} thread(s).")


def explain_section(run: dict, prefix: str) -> None:
    """An expander with an Explain button for a finished run that has a baseline; nothing otherwise."""
    from compress_core.methods.labels import explainable as built_in  # torch-free for built-in kinds
    from compress_core.runs import jobs

    ok = built_in(run)
    if ok is None:
        from compress_core.explore.explain import explainable  # imports torch

        ok = explainable(run)
    if not ok:
        return
    shown = st.session_state.get(f"{prefix}_explain_for") == run["id"]
    with st.expander("Explain this run: what changed against the baseline, and which layer is to blame",
                     expanded=shown):
        if not shown:
            st.caption("Evaluates the run and its baseline on the test split, then swaps the run's layers into the "
                       "baseline one by one (no retraining).")
            if st.button("Explain", key=f"{prefix}_explain", icon=":material/troubleshoot:"):
                st.session_state[f"{prefix}_explain_for"] = run["id"]
                shown = True
        if shown:
            home = str(paths.home_dir())
            finished = jobs.open_store(home).count(status="finished")
            try:
                with st.spinner("Explaining: evaluating the run, its baseline and one swapped model per layer…"):
                    result, forgotten, learnt = _explained(run["id"], home, finished)
            except CompressError as exc:
                st.error(str(exc), icon="⚠️")
                return
            _draw(result, forgotten, learnt, prefix)
