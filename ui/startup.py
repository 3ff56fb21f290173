"""Start-up tweaks for the first page a fresh server draws (issue 19: cold start to Home <= 1.5 s).

Streamlit checks, on the first element any script sends in a process, whether it runs in a Python
REPL (`delta_generator._maybe_print_use_warning` → `env_util.is_repl()`), only to print a "use
`streamlit run`" warning. The check calls `inspect.stack()`, which reads the source of every frame
and resolves every loaded module's file: 0.18 s of the 0.28 s that Home's first script run took
(cProfile of the first run, `benchmarks/cold_start_marks.py` with `COLD_CPROFILE`), on the critical
path of every cold start. Under `streamlit run` the warning can never apply (the runtime exists), so
`skip_repl_check` marks it as already shown. Streamlit-internal: if a later Streamlit drops the flag,
nothing breaks (the check simply runs again); `tests/test_startup.py` notices.

`disable_nagle` works around a Streamlit 1.67 start-up bug: its server pre-binds the listening socket as
`socket.socket(family=...)`, whose protocol number is 0, and asyncio only turns Nagle's algorithm off
(`TCP_NODELAY`, its default for every TCP transport) when the protocol number is `IPPROTO_TCP`. With Nagle on,
every small response on a reused keep-alive connection waits for the browser's delayed ACK of its headers
before the body leaves: ~40 ms per static file after a connection's first (measured: Streamlit's 61 start-up
files took 2.7 s over one connection and 0.43-0.52 s over Chromium's six, 0.07-0.15 s with `TCP_NODELAY`;
docs/performance.md, "cs20").
"""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
from pathlib import Path

_THEME_MODULE = "streamlit.elements.lib.streamlit_plotly_theme"
_theme_lock = threading.Lock()
_theme_pending = []  # the real theme configuration while it is deferred and has not run (0 or 1 function)


def skip_repl_check() -> bool:
    """Mark Streamlit's once-per-process REPL warning as shown; returns whether the flag existed."""
    from streamlit import delta_generator

    if not hasattr(delta_generator, "_use_warning_has_been_displayed"):
        return False
    delta_generator._use_warning_has_been_displayed = True
    return True


_FD_FOLDER = "/proc/self/fd"  # Linux: one entry per open file descriptor of this process


def disable_nagle() -> int:
    """Turn Nagle's algorithm off on this process's listening TCP sockets and the connections they accepted.

    Returns how many sockets it changed. Only sockets that listen, and connections whose local port is a
    listening port (the server's accepted connections, not the process's outgoing ones), are touched. Linux
    copies `TCP_NODELAY` from a listening socket to each connection it accepts later, so one call per process
    covers every later visitor; the connections already open (the first browser's, its websocket) are set
    directly. Where `/proc/self/fd` does not exist (not Linux) it does nothing and returns 0. Reads the socket
    options through duplicated descriptors, so it never closes or replaces Streamlit's own sockets.
    """
    if not os.path.isdir(_FD_FOLDER):
        return 0
    sockets = []
    try:
        for name in os.listdir(_FD_FOLDER):
            try:
                copy = os.dup(int(name))
            except (OSError, ValueError):  # closed since the listing
                continue
            try:
                sockets.append(socket.socket(fileno=copy))
            except OSError:  # not a socket
                os.close(copy)
        tcp = [s for s in sockets if s.family in (socket.AF_INET, socket.AF_INET6) and s.type == socket.SOCK_STREAM]
        ports = {_local_port(s) for s in tcp if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)}
        changed = 0
        for s in tcp:
            if _local_port(s) in ports and not s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                changed += 1
        return changed
    finally:
        for s in sockets:
            s.close()  # the duplicate only; the original descriptor stays open


def _local_port(sock: socket.socket) -> int | None:
    try:
        return sock.getsockname()[1]
    except OSError:
        return None


_nagle_checked = False


def disable_nagle_once() -> int:
    """`disable_nagle` on the first call in this process (app.py calls it on every script run); later calls return 0.

    One call is enough: the listening socket passes `TCP_NODELAY` on to every connection accepted after it."""
    global _nagle_checked
    if _nagle_checked:
        return 0
    _nagle_checked = True
    return disable_nagle()


# ---------------------------------------------------------------- launcher only (`python -m ui.serve`)
# These run before Streamlit's server starts, which no code of the app can do under `streamlit run app.py`
# (Streamlit runs app.py per browser session, after the server has bound its socket and scanned packages).
# They wrap Streamlit internals and do nothing when those are gone (each returns whether it applied).


def _after_bind(action, name: str) -> bool:
    """Wrap Streamlit's `_bind_socket` so that `action(sock)` runs on each socket it binds (once per `name`)."""
    try:
        from streamlit.web.server.starlette import starlette_server
    except ImportError:
        return False
    original = getattr(starlette_server, "_bind_socket", None)
    if original is None:
        return False
    done = getattr(original, "lab_after_bind", ())
    if name in done:
        return True

    def bind(*args, **kwargs):
        sock = original(*args, **kwargs)
        action(sock)
        return sock

    bind.lab_after_bind = (*done, name)
    starlette_server._bind_socket = bind
    return True


def nodelay_at_bind() -> bool:
    """Give Streamlit's listening socket `TCP_NODELAY` as soon as it is bound, before the first request.

    `disable_nagle` (from app.py) comes too late for the first browser: its index page and the ~60 static
    files Streamlit's frontend starts with have already been served with Nagle on, most of them on reused
    connections (~40 ms each, six connections at a time)."""
    def no_nagle(sock: socket.socket) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted connections inherit it (Linux)

    return _after_bind(no_nagle, "nodelay")


def skip_component_scan() -> bool:
    """Skip the runtime's start-up scan of installed packages for components v2 manifests.

    Streamlit's `Runtime.__init__` reads the metadata of every installed distribution (176 here) looking for
    packages that declare v2 components in their pyproject.toml: 0.17 s before the server listens, with no
    setting to turn it off. The lab installs no such package: its one v2 component (`ui/live_chart.py`) is
    declared inline and registers itself when its module is imported, which the scan is not needed for."""
    try:
        from streamlit.components.v2.component_manager import BidiComponentManager
    except ImportError:
        return False
    if not hasattr(BidiComponentManager, "discover_and_register_components"):
        return False

    def no_scan(self, *, start_file_watching: bool = True) -> None:
        """Nothing to discover: the lab's v2 component is declared inline."""

    BidiComponentManager.discover_and_register_components = no_scan
    return True


def defer_plotly_theme() -> bool:
    """Keep `import streamlit` from configuring its Plotly theme; `configure_plotly_theme` does it later, once.

    Streamlit 1.67's `streamlit.elements.plotly_chart` calls `configure_streamlit_plotly_theme()` when it is
    imported: it imports `plotly.graph_objects` and builds the "streamlit" template (the default template of
    every figure made afterwards). That is 0.15-0.25 s of the ~0.6 s `import streamlit` takes here, before the
    server listens, for a Home page that draws no figure. Run before anything imports streamlit (`ui/serve.py`),
    this loads Streamlit's theme module by itself and puts it in `sys.modules` with a configuration function
    that does nothing, keeping the real one for `configure_plotly_theme`. Written by hand: Streamlit has no
    setting for it. False (nothing changed) when streamlit is already imported or the module or function is
    gone (a later Streamlit): the theme is then configured at import as before.
    """
    if "streamlit" in sys.modules or _THEME_MODULE in sys.modules:
        return False
    found = importlib.util.find_spec("streamlit")  # a top-level spec: streamlit is located, not imported
    if found is None or not found.submodule_search_locations:
        return False
    path = Path(list(found.submodule_search_locations)[0]) / "elements" / "lib" / "streamlit_plotly_theme.py"
    spec = importlib.util.spec_from_file_location(_THEME_MODULE, path) if path.is_file() else None
    if spec is None:
        return False
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its imports: contextlib and typing; plotly only inside the function
    real = getattr(module, "configure_streamlit_plotly_theme", None)
    if not callable(real):
        return False

    def configure_later() -> None:
        """Deferred by ui/startup.defer_plotly_theme: configure_plotly_theme runs the real one."""

    module.configure_streamlit_plotly_theme = configure_later
    sys.modules[_THEME_MODULE] = module
    _theme_pending[:] = [real]
    return True


def configure_plotly_theme() -> None:
    """Configure the deferred Plotly theme now, once (waits while another thread is doing it; nothing to do when
    it was not deferred). app.py calls it before anything draws, so every figure gets Streamlit's template."""
    with _theme_lock:
        if _theme_pending:
            _theme_pending.pop()()


def configure_plotly_theme_when_bound() -> bool:
    """Configure the deferred theme in a background thread as soon as the server's socket is bound: while the
    first browser loads Streamlit's frontend (the server is idle then) rather than before the server listens."""
    def theme_soon(sock: socket.socket) -> None:
        threading.Thread(target=configure_plotly_theme, name="compress-lab plotly theme", daemon=True).start()

    return _after_bind(theme_soon, "plotly theme")
