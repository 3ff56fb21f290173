"""Lecture mode: a dashboard a lecturer can project. Larger fonts, controls collapsed, one idea per screen.

`setup()` runs on every page (app.py): a sidebar toggle whose state is kept in the URL (`?lecture=1`),
so a lecturer can bookmark or share the projected view; when it is on, the page's text and charts are
larger (CSS and chart fonts) and per-figure export menus are hidden. Every page gets that much.

`sections(entries, key)` draws a page made of lessons, `entries` being (title, function) in page
order. Normal mode: one tab per title prefix (the part before ": ", tabs in order of first appearance;
the entries of one tab in list order, separated by a line), each lesson followed by its "export all
figures" zip; only the open tab's lessons run (a tab switch reruns the page; the open tab is
`st.session_state["<key>_tab"]`), and the other lessons' settings are kept (`keep_lesson_state`). Lecture mode shows one lesson at a time with a section picker and Previous/Next buttons
(the section is kept in the URL too, `&section=3`). Pages read `on()` to hide secondary widgets and
`expanded(default)` to close expanders in lecture mode.
"""
from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from ui import figures

PARAM = "lecture"  # ?lecture=1
SECTION_PARAM = "section"  # &section=N, 1-based, on a page drawn by `sections`
KEY = "lecture_mode"  # the sidebar toggle
_STATE = "_lecture_on"  # the mode itself: a widget's state is dropped in a run that does not draw it
CHART_FONT = 18  # px; Plotly's default is 12
OFF = ("0", "false", "off", "no", "")

# Streamlit sizes its text in rem, so a larger root font scales headings, text, widgets and metrics
# together; formulas are 1em of that larger text (KaTeX's own 1.21em would be too wide) and scroll if still too wide.
CSS = """
<style>
html { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.1rem; line-height: 1.55; }
[data-testid="stCaptionContainer"] { font-size: 0.95rem; }
.katex { font-size: 1em; }
.katex-display { overflow-x: auto; overflow-y: hidden; }
[data-testid="stMetricValue"] { font-size: 2.2rem; }
[data-testid="stMainBlockContainer"] { padding: 4rem 2rem 4rem; max-width: none; }
[data-testid="stMetricLabel"] * { white-space: normal !important; text-overflow: clip !important; overflow: visible !important; }
.lab-card-value { font-size: 2.2rem; }
.lab-card-label { white-space: normal; overflow: visible; }
</style>
"""
# Streamlit keeps the scroll position across reruns; a new section is scrolled to its top (the section number makes
# each script new, so it runs again on the next change).
TO_THE_TOP = """<script>/* section {section} */
document.querySelector('[data-testid="stMain"]')?.scrollTo(0, 0); window.scrollTo(0, 0);
</script>"""
# On a page drawn by `sections`: what comes before the section bar (the page's title and introduction) is hidden,
# so the screen starts with the bar and the section's own heading.
ONLY_THE_SECTION = """
<style>
[data-testid="stVerticalBlock"] > :has(~ .st-key-{bar}, ~ * > .st-key-{bar}) {{ display: none; }}
</style>
"""


def on() -> bool:
    """Whether this session is in lecture mode."""
    return bool(st.session_state.get(_STATE, False))


def expanded(default: bool) -> bool:
    """An expander's `expanded=`: as the page wants in normal mode, closed in lecture mode."""
    return default and not on()


def _url_says() -> bool:
    value = st.query_params.get(PARAM)
    return value is not None and str(value).strip().lower() not in OFF


def _toggled() -> None:
    st.session_state[_STATE] = st.session_state[KEY]


def setup() -> bool:
    """The sidebar toggle, the URL and the styles; call once per run before the page draws. Returns on()."""
    if _STATE not in st.session_state:  # a new session (a reload, a shared link): the URL decides
        st.session_state[_STATE] = _url_says()
    st.session_state[KEY] = on()
    st.sidebar.toggle("Lecture mode", key=KEY, on_change=_toggled,
                      help="Larger fonts, controls collapsed and, on the Learn page, one section per screen with "
                           "Previous/Next. The address gets ?lecture=1: bookmark or share it.")
    if on():
        st.query_params[PARAM] = "1"
        st.html(CSS)
        figures.set_presentation(font_size=CHART_FONT, menus=False)
    else:
        if PARAM in st.query_params:
            del st.query_params[PARAM]
        figures.set_presentation()
    return on()


def _tab_of(title: str) -> str:
    return title.split(":", 1)[0].strip()


def _draw(title: str, draw: Callable[[], None], key: str) -> None:
    figures.begin_lesson(title)
    draw()
    figures.lesson_export(title, key=f"{key}_zip_{figures.slug(title)}")


def sections(entries: Sequence[tuple[str, Callable[[], None]]], key: str) -> None:
    """Draw the lessons `entries` in tabs (normal mode: only the open tab's) or one per screen (lecture mode)."""
    try:
        if on():
            _one_per_screen(list(entries), key)
            return
        tabs = list(dict.fromkeys(_tab_of(title) for title, _ in entries))
        # Only the open tab's lessons run and are sent (issue 19: one lesson's elements instead of every
        # lesson's, so a slider move re-lays out a short page). Not bound to the URL (bind="query-params"): Streamlit
        # 1.67's st.switch_page, which the lessons' "try it" buttons call, refuses to clear a bound query parameter.
        for tab, container in zip(tabs, st.tabs(tabs, key=f"{key}_tab", on_change="rerun")):
            if not container.open:
                continue
            with container:
                for i, (title, draw) in enumerate([e for e in entries if _tab_of(e[0]) == tab]):
                    if i:
                        st.divider()
                    _draw(title, draw, key)
        for param in (PARAM, SECTION_PARAM):
            if param in st.query_params:
                del st.query_params[param]
        keep_lesson_state(key)
    finally:
        figures.end_lessons()


def keep_lesson_state(key: str) -> None:
    """Keep the settings of the lessons not drawn in this run (closed tabs, other slides).

    Streamlit forgets the value of a widget that a full run does not draw, so a lesson's sliders would be back
    at their defaults after a visit to another tab. Writing a value back through the Session State API makes it
    the user's value, which Streamlit keeps (its documented way to keep widget values across pages). Called after
    the lessons are drawn, for the keys this run did not draw (a drawn widget's value may not be written any more);
    buttons (bool values, which the API may not set) and the tab bar itself are left out.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    # Which keys this run drew: Streamlit's own record (internal, 1.67). Without it nothing is written back, and
    # the closed lessons' settings start again from their defaults, as any Streamlit page would.
    drawn = getattr(getattr(get_script_run_ctx(), "shared", None), "widget_user_keys_this_run", None)
    if drawn is None:
        return
    bar = f"{key}_tab"
    for name in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{key}_") and k != bar]:
        value = st.session_state[name]
        if name not in drawn and not isinstance(value, bool):
            st.session_state[name] = value


def _step(state_key: str, by: int, count: int) -> None:
    st.session_state[state_key] = min(max(st.session_state.get(state_key, 0) + by, 0), count - 1)


def _nav(state_key: str, count: int, key: str, picker: bool, titles: list[str]) -> None:
    current = st.session_state[state_key]
    left, middle, right = st.columns([1.5, 4, 1.5], vertical_alignment="bottom")
    left.button("Previous", key=f"{key}_prev", icon=":material/arrow_back:", disabled=current == 0,
                on_click=_step, args=(state_key, -1, count), width="stretch")
    right.button("Next", key=f"{key}_next", icon=":material/arrow_forward:", icon_position="right",
                 disabled=current == count - 1, on_click=_step, args=(state_key, 1, count), width="stretch")
    if picker:
        middle.selectbox("Section", range(count), key=state_key, label_visibility="collapsed",
                         format_func=lambda i: f"{i + 1} of {count} · {titles[i]}")
    else:
        middle.caption(f"Section {current + 1} of {count}: {titles[current]}")


def _one_per_screen(entries: list[tuple[str, Callable[[], None]]], key: str) -> None:
    titles = [title for title, _ in entries]
    state_key = f"{key}_lecture_section"
    if state_key not in st.session_state:  # first lecture view of this session: the URL may name a section
        try:
            st.session_state[state_key] = min(max(int(st.query_params.get(SECTION_PARAM, 1)) - 1, 0), len(titles) - 1)
        except ValueError:
            st.session_state[state_key] = 0
    st.html(ONLY_THE_SECTION.format(bar=f"{key}_lecture_bar"))
    current = st.session_state[state_key]
    with st.container(key=f"{key}_lecture_bar"):
        _nav(state_key, len(titles), f"{key}_lecture", True, titles)
        if st.session_state.get(f"{state_key}_shown") != current:  # a new slide starts at its top
            st.session_state[f"{state_key}_shown"] = current
            st.html(TO_THE_TOP.format(section=current), unsafe_allow_javascript=True)  # a fixed script, no user text
    st.query_params.update({PARAM: "1", SECTION_PARAM: str(current + 1)})  # this slide's link
    title, draw = entries[current]
    _draw(title, draw, key)
    st.divider()
    _nav(state_key, len(titles), f"{key}_lecture_bottom", False, titles)
    keep_lesson_state(key)  # the other slides' settings
