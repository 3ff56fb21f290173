"""Who may do what in the dashboard: viewers and operators of a shared lab.

Local use (no shared mode) stays as it was: everyone is an operator. In shared mode
(`COMPRESS_LAB_SHARED=1` or `streamlit run app.py -- --shared`) every visitor is a
**viewer**: runs, charts, reports, Learn and preview sliders, but no starting,
cancelling or deleting runs and no uploads. An **operator** signs in in the sidebar:
with Streamlit's `st.login` when an identity provider is configured in
`.streamlit/secrets.toml` (optionally limited to `COMPRESS_LAB_OPERATOR_EMAILS`), or
with the password in `COMPRESS_LAB_OPERATOR_PASSWORD`, compared in constant time
(`hmac.compare_digest`) and rate-limited per server process and per session.

Pages ask `can_operate()` and show `VIEWER_LINE` where a control is disabled.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sys
import threading
import time
from collections import deque

import streamlit as st

from compress_core import sharing

VIEWER_LINE = ("This lab is shared: viewers can look at runs, charts, reports and Learn; "
               "an operator signs in (sidebar) to start, cancel or delete runs and upload data.")
ROLE_KEY = "_access_role"
MAX_FAILURES = 5          # wrong passwords per window, per server process (all sessions) ...
FAILURE_WINDOW_S = 300.0  # ... after which sign-in waits until the oldest failure leaves the window
SESSION_MAX_FAILURES = 3  # and per session, with the same window

_failures: deque[float] = deque()
_failures_lock = threading.Lock()


def is_shared() -> bool:
    """Shared mode: the environment variable or `--shared` after `--` on the streamlit command line."""
    return sharing.shared_mode() or "--shared" in sys.argv[1:]


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all
        return False


def _login_user_is_operator() -> bool:
    if not _auth_configured():
        return False
    try:
        if not st.user.is_logged_in:
            return False
        email = str(st.user.get("email") or "").lower()
    except Exception:
        return False
    allowed = [e.strip().lower() for e in os.environ.get(sharing.ENV_OPERATOR_EMAILS, "").split(",") if e.strip()]
    return not allowed or email in allowed


def role() -> str:
    """'operator' or 'viewer' for this session."""
    if not is_shared():
        return "operator"
    if st.session_state.get(ROLE_KEY) == "operator" or _login_user_is_operator():
        return "operator"
    return "viewer"


def can_operate() -> bool:
    return role() == "operator"


def viewer_line(where=st) -> None:
    """The one line that says why a control is missing or disabled."""
    where.info(VIEWER_LINE, icon=":material/visibility:")


def _wait_left(now: float, session_failures: list) -> float:
    """Seconds before another attempt is allowed (0 if now)."""
    with _failures_lock:
        while _failures and now - _failures[0] > FAILURE_WINDOW_S:
            _failures.popleft()
        waits = [FAILURE_WINDOW_S - (now - _failures[0])] if len(_failures) >= MAX_FAILURES else []
    recent = [t for t in session_failures if now - t <= FAILURE_WINDOW_S]
    if len(recent) >= SESSION_MAX_FAILURES:
        waits.append(FAILURE_WINDOW_S - (now - recent[0]))
    return max(waits, default=0.0)


def check_password(given: str, session_failures: list, now: float | None = None) -> tuple[bool, str]:
    """(accepted, message). Constant-time comparison; refuses while rate-limited."""
    now = time.monotonic() if now is None else now
    expected = os.environ.get(sharing.ENV_PASSWORD, "")
    if not expected:
        return False, f"No operator password is set on this server ({sharing.ENV_PASSWORD})."
    wait = _wait_left(now, session_failures)
    if wait > 0:
        return False, f"Too many wrong passwords; try again in {wait:.0f} s."
    # hash both sides first: compare_digest then compares equal-length values whatever was typed
    ok = hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())
    if ok:
        return True, "Signed in as operator."
    session_failures.append(now)
    with _failures_lock:
        _failures.append(now)
    return False, "Wrong password."


def sidebar() -> None:
    """Role, sign-in and sign-out in the sidebar (shared mode only)."""
    if not is_shared():
        return
    box = st.sidebar
    if can_operate():
        box.caption(":material/key: Operator")
        if st.session_state.get(ROLE_KEY) == "operator":
            if box.button("Sign out", key="access_sign_out"):
                st.session_state.pop(ROLE_KEY, None)
                st.rerun()
        elif _auth_configured() and box.button("Log out", key="access_logout"):
            st.logout()
        return
    box.caption(":material/visibility: Viewer: shared lab")
    if _auth_configured() and box.button("Log in as operator", key="access_login"):
        st.login()
    if os.environ.get(sharing.ENV_PASSWORD):
        box.text_input("Operator password", type="password", key="access_password")
        box.button("Sign in", key="access_sign_in", on_click=_attempt_sign_in)
        message = st.session_state.pop("_access_message", None)
        if message:
            box.error(message)


def _attempt_sign_in() -> None:
    """Button callback: check the typed password, then clear it from the session."""
    failures = st.session_state.setdefault("_access_failures", [])
    ok, message = check_password(st.session_state.get("access_password") or "", failures)
    st.session_state["access_password"] = ""  # allowed in a callback: the box is empty after each try
    if ok:
        st.session_state[ROLE_KEY] = "operator"
    else:
        st.session_state["_access_message"] = message
