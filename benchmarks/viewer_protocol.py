"""A dashboard viewer without a browser: the messages Streamlit's frontend sends, built from what it received.

`bench_viewers.py` simulates many people moving preview sliders at once. Twenty Chromium
renderers need far more CPU than the server they are meant to load (docs/performance.md, "Many
viewers"), so each simulated viewer speaks Streamlit's websocket protocol instead: protobuf
`BackMsg`s to `/_stcore/stream`, `ForwardMsg`s back. No library does this (Streamlit's own
`AppTest` runs the script in-process, without the server's session and websocket path), so the
little state a browser keeps is rebuilt here by hand, copied from what Streamlit 1.67's frontend
sends (read from a real Chromium's websocket frames with Playwright; `tests/e2e/
test_viewer_protocol_browser.py` compares the two on every preview page):

- the first message asks for the page by name (`rerun_script` with `page_name` and the browser's
  `context_info`, no widget states);
- every widget element the server draws (`delta.new_element` whose widget id starts with `$$ID`)
  registers its value as the frontend does on mount (its `value` when `set_value`, otherwise its
  `default`, in the WidgetState field the frontend uses for that widget kind); buttons, charts'
  selections and other trigger widgets send nothing until used, as in the browser;
- a slider move is a `rerun_script` with the state of every widget the page shows, the page's
  script hash, the fragment id of the element (a fragment rerun runs only that fragment) and the
  hashes of the cacheable messages held (the frontend's `ForwardMsgCache`: kept while younger
  than `max_cached_message_age` script runs, ages counted as the frontend does).

Timing a move: from sending it to the `script_finished` of a fragment run that started after it
(`FINISHED_FRAGMENT_RUN_SUCCESSFULLY`); a run stopped early for a newer request
(`FINISHED_EARLY_FOR_RERUN`) leaves its moves waiting for the next run, as a browser would wait.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

WIDGET_PREFIX = "$$ID-"
# Widgets whose state the frontend sends only once the user acts (triggers, chart selections, uploads).
# "bidi_component": a components v2 element (the previews' live chart, ui/live_chart.py) sends state only when
# its JavaScript sets some; the live chart never does (checked against Chromium by
# tests/e2e/test_viewer_protocol_browser.py).
SILENT_KINDS = {"button", "download_button", "plotly_chart", "form_submit_button", "file_uploader", "link_button",
                "vega_lite_chart", "arrow_data_frame", "deck_gl_json_chart", "chat_input", "camera_input",
                "audio_input", "button_group", "feedback", "bidi_component"}
FINISHED_OK = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_FRAGMENT_RUN_SUCCESSFULLY")
FINISHED_SCRIPT_OK = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_SUCCESSFULLY")
FINISHED_EARLY = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")


class UnknownWidget(ValueError):
    """A page draws a widget whose state this module does not know how to send (so the load would be wrong)."""


def user_key(widget_id: str) -> str:
    """The page's `key=` of a widget, from Streamlit's element id `$$ID-<hash>-<key>`."""
    return widget_id[len(WIDGET_PREFIX):].split("-", 1)[1] if widget_id.startswith(WIDGET_PREFIX) else widget_id


def initial_state(kind: str, proto) -> WidgetState | None:
    """The WidgetState the frontend registers when it mounts widget `proto` of element kind `kind`.

    None for widgets that send nothing until used. Raises `UnknownWidget` for kinds not copied from the
    browser yet, so a page that grows a new kind of widget fails loudly instead of being loaded wrongly.
    """
    if kind in SILENT_KINDS:
        return None
    state = WidgetState(id=proto.id)
    if kind == "slider":
        values = proto.value if proto.set_value else proto.default
        if proto.type == proto.SELECT_SLIDER:  # the chosen options' labels, not their indices
            state.string_array_value.data.extend(proto.options[int(i)] for i in values)
        else:
            state.double_array_value.data.extend(values)
    elif kind in ("radio", "selectbox"):
        if proto.set_value:
            state.string_value = proto.raw_value
        elif proto.HasField("default"):  # index=None: no option chosen, nothing to send
            state.string_value = proto.options[proto.default]
        else:
            return None
    elif kind == "checkbox":
        state.bool_value = proto.value if proto.set_value else proto.default
    elif kind == "number_input":
        value = proto.value if proto.set_value else proto.default
        if proto.data_type == proto.INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    elif kind == "text_input":
        state.string_value = proto.value if proto.set_value else proto.default
    else:
        raise UnknownWidget(f"widget kind {kind!r} ({proto.id}): its state shape is not copied from the browser yet")
    return state


@dataclass
class _Cached:
    run_count: int
    fragment_id: str | None


@dataclass
class Session:
    """What one browser tab knows of its Streamlit session; builds the BackMsgs the tab would send."""

    url: str  # the page's address as the browser shows it, e.g. http://localhost:8501/prune
    page_name: str  # "prune"
    widgets: dict[str, WidgetState] = field(default_factory=dict)  # widget id -> state, in registration order
    kinds: dict[str, str] = field(default_factory=dict)  # widget id -> element kind
    fragment_of: dict[str, str] = field(default_factory=dict)  # widget id -> fragment id ("" outside fragments)
    page_script_hash: str = ""
    max_cached_message_age: int = 2
    cache: dict[str, _Cached] = field(default_factory=dict)  # the frontend's ForwardMsgCache, hashes only
    script_run_count: int = 0
    seen_this_run: set[str] = field(default_factory=set)
    run_fragments: tuple[str, ...] = ()  # fragment ids of the run in progress (empty: a full script run)

    def context_info(self, msg) -> None:
        """The browser's context (Chromium in this lab's tests: UTC, en-US, light scheme, not embedded)."""
        info = msg.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url, info.is_embedded, info.color_scheme = self.url, False, "light"

    def open_page(self) -> bytes:
        """The first message of a tab: run the page named `page_name`, no widget states yet."""
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.widget_states.SetInParent()
        rerun.page_name = self.page_name
        self.context_info(rerun)
        return msg.SerializeToString()

    def key_id(self, key: str) -> str:
        """The widget id of the widget with page key `key` (KeyError when the page did not draw it)."""
        for widget_id in self.widgets:
            if user_key(widget_id) == key:
                return widget_id
        raise KeyError(f"no widget with key {key!r} on {self.page_name}; keys: {[user_key(w) for w in self.widgets]}")

    def move(self, key: str, value: float) -> bytes:
        """A slider move to `value`: the frontend's rerun request for the slider's fragment."""
        widget_id = self.key_id(key)
        state = self.widgets[widget_id]
        del state.double_array_value.data[:]
        state.double_array_value.data.append(value)
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.widget_states.widgets.extend(self.widgets.values())
        rerun.page_script_hash = self.page_script_hash
        if self.fragment_of.get(widget_id):
            rerun.fragment_id = self.fragment_of[widget_id]
        rerun.cached_message_hashes.extend(self.cache)
        self.context_info(rerun)
        return msg.SerializeToString()

    def absorb(self, msg: ForwardMsg) -> None:
        """Update what the tab knows from one message of the server (widgets, script hash, message cache)."""
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_script_hash = msg.new_session.page_script_hash or self.page_script_hash
            if msg.new_session.config.max_cached_message_age:
                self.max_cached_message_age = msg.new_session.config.max_cached_message_age
            self.run_fragments = tuple(msg.metadata.run.fragment_ids)
            self.seen_this_run = set()
        elif kind == "navigation":  # st.navigation: the page the script runs now
            self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
        elif kind == "ref_hash":
            if msg.ref_hash in self.cache:
                self.cache[msg.ref_hash].run_count = self.script_run_count
        elif kind == "script_finished":
            status = msg.script_finished
            if status in (FINISHED_SCRIPT_OK,) and not self.run_fragments:
                for widget_id in [w for w in self.widgets if w not in self.seen_this_run]:
                    del self.widgets[widget_id]  # the frontend drops the state of widgets no longer shown
            if status != FINISHED_EARLY:
                self._age_cache(tuple(msg.metadata.run.fragment_ids) or self.run_fragments)
        if kind != "ref_hash" and msg.metadata.cacheable and msg.hash:
            if msg.hash in self.cache:
                self.cache[msg.hash].run_count = self.script_run_count
            else:
                fragment = msg.delta.fragment_id if kind == "delta" else ""
                self.cache[msg.hash] = _Cached(self.script_run_count, fragment or None)
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            element_kind = element.WhichOneof("type")
            proto = getattr(element, element_kind)
            widget_id = getattr(proto, "id", "")
            if isinstance(widget_id, str) and widget_id.startswith(WIDGET_PREFIX):
                self._register(element_kind, proto, msg.delta.fragment_id)

    def _register(self, kind: str, proto, fragment_id: str) -> None:
        state = initial_state(kind, proto)
        if state is None:
            return
        self.seen_this_run.add(proto.id)
        self.kinds[proto.id] = kind
        self.fragment_of[proto.id] = fragment_id
        if proto.id not in self.widgets or getattr(proto, "set_value", False):
            self.widgets[proto.id] = state

    def _age_cache(self, fragment_ids: tuple[str, ...]) -> None:
        """The frontend's `ForwardMsgCache.incrementRunCount`: drop messages older than the allowed age."""
        self.script_run_count += 1
        for digest, cached in list(self.cache.items()):
            if fragment_ids and (not cached.fragment_id or cached.fragment_id not in fragment_ids):
                continue
            if self.script_run_count - cached.run_count > self.max_cached_message_age:
                del self.cache[digest]


def parse(payload: bytes) -> ForwardMsg:
    msg = ForwardMsg()
    msg.ParseFromString(payload)
    return msg


def widget_values(back_msg: bytes) -> dict[str, tuple[str, object]]:
    """A rerun request's widget states as {page key: (field, value)}: what two requests are compared by."""
    msg = BackMsg()
    msg.ParseFromString(back_msg)
    out = {}
    for state in msg.rerun_script.widget_states.widgets:
        which = state.WhichOneof("value")
        value = getattr(state, which)
        out[user_key(state.id)] = (which, list(value.data) if hasattr(value, "data") else value)
    return out


def request_shape(back_msg: bytes) -> dict:
    """Everything of a rerun request but the widget states' order: {field: value}, for comparing two requests."""
    msg = BackMsg()
    msg.ParseFromString(back_msg)
    rerun = msg.rerun_script
    return {"kind": msg.WhichOneof("type"), "page_name": rerun.page_name, "page_script_hash": rerun.page_script_hash,
            "fragment_id": rerun.fragment_id, "query_string": rerun.query_string, "is_auto_rerun": rerun.is_auto_rerun,
            "cached_message_hashes": sorted(rerun.cached_message_hashes), "widgets": widget_values(back_msg),
            "context_info": str(rerun.context_info)}
