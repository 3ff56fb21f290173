"""Links that open a view: `runs?run=ID`, `compare?compare=ID,ID`, `report?report=ID,ID`.

A page calls `preselect` before drawing its run picker: the ids in the URL become the
picker's value once per session and link (later clicks are the visitor's own), and ids
this lab does not know get one line. `show_link` prints the page's link in a code box,
whose copy button puts it on the clipboard (Streamlit has no clipboard call of its own).
"""
from __future__ import annotations

import streamlit as st

from compress_core import fmt


def ids_in_url(param: str) -> list[str]:
    """The comma-separated ids of `?param=`, stripped, de-duplicated, in order."""
    raw = st.query_params.get(param)
    if not raw:
        return []
    seen: list[str] = []
    for part in str(raw).split(","):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return seen[:50]


def preselect(param: str, state_key: str, known, multi: bool) -> list[str]:
    """Put the URL's known ids into `st.session_state[state_key]` once per link; returns the unknown ids."""
    ids = ids_in_url(param)
    if not ids:
        return []
    known = set(known)
    found = [i for i in ids if i in known]
    unknown = [i for i in ids if i not in known]
    marker = f"_permalink_{param}"
    if st.session_state.get(marker) != ids and found:
        st.session_state[marker] = ids
        st.session_state[state_key] = found if multi else found[0]
    if unknown:
        shown = ", ".join(fmt.md_escape(i) for i in unknown[:5])
        st.warning(f"The link names run(s) this lab does not have (deleted, unfinished or from another lab): {shown}")
    return unknown


def show_link(page: str, param: str, ids: list[str]) -> None:
    """The link to this view, relative to the app's address, with a copy button."""
    if ids:
        st.caption("Link to this view (copy it with the button in the box; prefix the lab's address):")
        st.code(f"{page}?{param}={','.join(ids)}", language=None)
