"""The load generator's message building (`benchmarks/viewer_protocol.py`), without a server or a browser.

The messages a simulated viewer sends must keep the shape Streamlit's frontend gives them (checked
against a real Chromium by `tests/e2e/test_viewer_protocol_browser.py`); these tests pin that shape
on hand-made server messages, so a Streamlit upgrade that renames a field or changes how a widget's
state is sent fails here first.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


vp = _load("viewer_protocol")
URL = "http://localhost:8501/prune"
FRAGMENT = "frag-amount"


def new_session(fragments=()) -> ForwardMsg:
    msg = ForwardMsg()
    msg.new_session.page_script_hash = "main-hash"
    msg.new_session.config.max_cached_message_age = 2
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def element(kind: str, key: str, fragment: str = "", cacheable_hash: str = "", **fields) -> ForwardMsg:
    msg = ForwardMsg()
    proto = getattr(msg.delta.new_element, kind)
    proto.id = f"$$ID-0123456789abcdef-{key}"
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(proto, name).extend(value)
        else:
            setattr(proto, name, value)
    msg.delta.fragment_id = fragment
    if cacheable_hash:
        msg.hash, msg.metadata.cacheable = cacheable_hash, True
    return msg


def finished(status: str, fragments=()) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = ForwardMsg.ScriptFinishedStatus.Value(status)
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def prune_page() -> list[ForwardMsg]:
    """The messages of a page run: navigation, one widget of each kind the preview pages use, a chart, a button."""
    nav = ForwardMsg()
    nav.navigation.page_script_hash = "prune-hash"
    return [
        new_session(), nav,
        element("radio", "prune_method", options=["l1", "random"], default=0),
        element("selectbox", "prune_model", options=["mlp", "lenet300"], default=1),
        element("checkbox", "lecture_mode", set_value=True, value=False),
        element("number_input", "prune_epochs", default=3.0, data_type=0),
        element("number_input", "distill_alpha_box", default=0.5, data_type=1),
        element("slider", "distill_width", options=["16", "32", "64"], default=[1.0], type=2),
        element("slider", "prune_amount", fragment=FRAGMENT, default=[50.0], type=1),
        element("plotly_chart", "prune_preview_hist", fragment=FRAGMENT, cacheable_hash="figure-1", spec="{}"),
        element("button", "prune_run", label="Run"),
        finished("FINISHED_SUCCESSFULLY"),
    ]


def session_after(messages) -> "vp.Session":
    session = vp.Session(url=URL, page_name="prune")
    for msg in messages:
        session.absorb(msg)
    return session


def test_page_request_names_the_page_and_sends_no_widget_state():
    msg = BackMsg()
    msg.ParseFromString(vp.Session(url=URL, page_name="prune").open_page())
    rerun = msg.rerun_script
    assert msg.WhichOneof("type") == "rerun_script"
    assert rerun.page_name == "prune" and rerun.HasField("widget_states") and not rerun.widget_states.widgets
    assert not rerun.fragment_id and not rerun.page_script_hash
    assert (rerun.context_info.url, rerun.context_info.locale, rerun.context_info.color_scheme) == (URL, "en-US", "light")


def test_slider_move_is_a_fragment_rerun_with_every_widget_state():
    session = session_after(prune_page())
    msg = BackMsg()
    msg.ParseFromString(session.move("prune_amount", 51))
    rerun = msg.rerun_script
    assert rerun.fragment_id == FRAGMENT
    assert rerun.page_script_hash == "prune-hash"  # the page's (navigation), not the main script's
    assert not rerun.page_name
    assert list(rerun.cached_message_hashes) == ["figure-1"]
    assert vp.widget_values(msg.SerializeToString()) == {
        "prune_method": ("string_value", "l1"),
        "prune_model": ("string_value", "lenet300"),
        "lecture_mode": ("bool_value", False),
        "prune_epochs": ("int_value", 3),
        "distill_alpha_box": ("double_value", 0.5),
        "distill_width": ("string_array_value", ["32"]),
        "prune_amount": ("double_array_value", [51.0]),
    }
    assert [s.id for s in rerun.widget_states.widgets][-1] == "$$ID-0123456789abcdef-prune_amount"


def test_moved_value_survives_the_fragment_redrawing_its_slider():
    session = session_after(prune_page())
    session.move("prune_amount", 51)
    session.absorb(new_session([FRAGMENT]))
    session.absorb(element("slider", "prune_amount", fragment=FRAGMENT, default=[50.0], type=1))
    session.absorb(finished("FINISHED_FRAGMENT_RUN_SUCCESSFULLY", [FRAGMENT]))
    assert vp.widget_values(session.move("prune_amount", 52))["prune_amount"] == ("double_array_value", [52.0])
    msg = BackMsg()
    msg.ParseFromString(session.move("prune_amount", 53))
    assert len(msg.rerun_script.widget_states.widgets) == 7


def test_cached_messages_expire_after_the_frontends_age_limit():
    session = session_after(prune_page())
    for _ in range(3):  # fragment runs that do not send the figure again
        session.absorb(new_session([FRAGMENT]))
        session.absorb(finished("FINISHED_FRAGMENT_RUN_SUCCESSFULLY", [FRAGMENT]))
    msg = BackMsg()
    msg.ParseFromString(session.move("prune_amount", 51))
    assert list(msg.rerun_script.cached_message_hashes) == []


def test_a_full_run_drops_widgets_it_no_longer_shows():
    session = session_after(prune_page())
    session.absorb(new_session())
    session.absorb(element("slider", "prune_amount", fragment=FRAGMENT, default=[50.0], type=1))
    session.absorb(finished("FINISHED_SUCCESSFULLY"))
    assert list(vp.widget_values(session.move("prune_amount", 60))) == ["prune_amount"]


def test_an_unknown_widget_kind_fails_loudly():
    with pytest.raises(vp.UnknownWidget, match="color_picker"):
        session_after([new_session(), element("color_picker", "prune_colour", default="#000000")])


def test_unknown_key_names_the_keys_on_the_page():
    with pytest.raises(KeyError, match="prune_amount"):
        session_after(prune_page()).move("quantize_bits", 5)


def test_viewer_walks_step_by_step_and_bounces_at_the_ends():
    bench = _load("bench_viewers")
    assert bench.walk("prune", 0, 3) == [51, 52, 53]
    assert bench.walk("quantize", 0, 6) == [5, 6, 7, 8, 7, 6]
    assert bench.walk("distill", 0, 2) == [4.5, 5.0]
    values = bench.walk("prune", 7 * 19, 200)
    assert all(0 <= v <= 99 for v in values) and all(abs(a - b) == 1 for a, b in zip(values, values[1:]))
