"""`python -m ui.serve [SCRIPT.py] [streamlit run options]`: `streamlit run app.py` with three start-up fixes first.

A plain `streamlit run app.py` runs none of the app's code until a browser session connects, so three costs
of a cold start are out of the app's reach (docs/performance.md, "cs20" and "Fourth round"):

- Streamlit 1.67 binds its listening socket with Nagle's algorithm left on (`ui/startup.disable_nagle` says
  why), and the first browser's index page and ~60 static files arrive before app.py can switch it off;
- the runtime scans every installed distribution for components v2 manifests (0.17 s before it listens);
- `import streamlit` builds Streamlit's Plotly theme (0.15-0.25 s before it listens), which Home does not need.

This launcher applies `startup.nodelay_at_bind` and `startup.skip_component_scan`, defers the theme to a
background thread that starts once the socket is bound (`startup.defer_plotly_theme`; app.py waits for it before
it draws anything, `startup.configure_plotly_theme`), and then hands over to
Streamlit's own command line, exactly as `streamlit run app.py ARGS` would run (same options, same config);
a first argument ending in `.py` runs that script instead of app.py (the tests use it). Run it from the
repository root (where `streamlit run app.py` runs), so that `ui` is importable.
Each fix wraps a Streamlit internal and is skipped when that internal is gone (a newer Streamlit), in which
case this is a plain `streamlit run`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ui import startup

APP = Path(__file__).resolve().parents[1] / "app.py"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    script = argv.pop(0) if argv and argv[0].endswith(".py") else str(APP)
    # Before anything imports streamlit. Only for app.py, which configures the theme before it draws anything.
    deferred = Path(script).resolve() == APP and startup.defer_plotly_theme()
    startup.nodelay_at_bind()
    startup.skip_component_scan()
    if deferred:
        startup.configure_plotly_theme_when_bound()
    from streamlit.web import cli

    return cli.main(args=["run", script, *argv], prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
