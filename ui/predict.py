""""Predict, then reveal": a question the student answers before the app measures the answer.

`ask(...)` draws one question in a bordered box: a radio (choices) or a slider (a number) for the
guess and a "Commit my guess" button. Nothing is measured, and nothing of the answer is in the
page, before the commit. On commit the guess is frozen (its widget disabled), `measure()` runs the
engine, `judge(guess, measured)` (`compress_core.present.teach_predict`) says how far the guess
was, and `details(measured, guess)` may draw more (a table, a figure). "Ask again" clears the
commit. State lives in `st.session_state` under the question's key, so a rerun keeps the reveal.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import streamlit as st


def _commit(key: str) -> None:
    st.session_state[f"{key}_committed"] = {"guess": st.session_state[f"{key}_guess"]}


def _reset(key: str) -> None:
    st.session_state.pop(f"{key}_committed", None)


def committed(key: str) -> Optional[Any]:
    """The committed guess of question `key`, or None before the commit."""
    entry = st.session_state.get(f"{key}_committed")
    return None if entry is None else entry["guess"]


def ask(key: str, question: str, *, measure: Callable[[], Any], judge: Callable[[Any, Any], dict],
        options: Optional[Sequence] = None, format_func: Callable = str, slider: Optional[dict] = None,
        details: Optional[Callable[[Any, Any], None]] = None, note: str = "",
        spinner: str = "Measuring the answer…") -> None:
    """One predict-then-reveal question with widget keys `<key>_guess`, `<key>_commit`, `<key>_reset`.

    Give `options` (a radio, labels by `format_func`) or `slider` (keyword arguments of
    `st.slider`: label, min_value, max_value, value, step, format). `judge` returns a dict with
    `text` and `correct` or `close`; `note` says how the answer is measured (shown before commit).
    """
    if (options is None) == (slider is None):
        raise ValueError("give either options or slider")
    guess = committed(key)
    frozen = guess is not None
    with st.container(border=True, key=f"{key}_box"):
        st.markdown(f"**Predict, then reveal.** {question}")
        if options is not None:
            st.radio("Your guess", list(options), key=f"{key}_guess", format_func=format_func, horizontal=True,
                     disabled=frozen)
        else:
            st.slider(**{"label": "Your guess", **slider}, key=f"{key}_guess", disabled=frozen)
        if not frozen:
            st.button("Commit my guess", key=f"{key}_commit", on_click=_commit, args=(key,),
                      icon=":material/lock:")
            st.caption("The answer is measured only after you commit. " + note)
            return
        with st.spinner(spinner):
            measured = measure()
        verdict = judge(guess, measured)
        good = verdict.get("correct", verdict.get("close", False))
        (st.success if good else st.warning)(verdict["text"], icon=":material/check_circle:" if good else
                                             ":material/lightbulb:")
        if details is not None:
            details(measured, guess)
        st.button("Ask again", key=f"{key}_reset", on_click=_reset, args=(key,), icon=":material/refresh:")
