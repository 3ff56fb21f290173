"""Plotly figures as files: SVG, PNG at twice the pixel size, and a zip of a lesson's figures.

Why a browser: a static SVG or PNG of a Plotly figure is drawn by plotly.js itself, so it needs a
JavaScript engine with a layout engine, i.e. a browser. Kaleido (pinned in requirements-optional.txt)
drives a headless Chrome/Chromium over the DevTools protocol; it finds Chromium on PATH (Debian's
/usr/bin/chromium) or where the BROWSER_PATH environment variable points, and it loads the plotly.js
bundled in the plotly package from disk. MathJax, which it would fetch from a CDN, is switched off
(these figures carry no LaTeX), so nothing is fetched from the internet.

Cost: one browser is started per export (about 3-4 s on two busy cores) and each image then takes a
few tenths of a second, so callers render everything an export needs in one `render` call, and only
when the user asks for the file (never while drawing a page).

Note: the exported figure has Plotly's own template; the dashboard draws the same figure with
Streamlit's theme, so colours of the background and grid may differ slightly from the screen.
"""
from __future__ import annotations

import asyncio
import html
import io
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Iterable, Sequence

from compress_core.errors import CompressError

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}  # file suffix -> media type
PNG_SCALE = 2  # PNGs at twice the figure's pixel size: sharp on slides and high-density screens
DEFAULT_WIDTH, DEFAULT_HEIGHT = 900, 500  # a figure drawn at the page's width has no size of its own
TIMEOUT_S = 60  # for one image, once the browser runs
INSTALL_HINT = "pip install kaleido==1.5.0 (requirements-optional.txt)"


@lru_cache(maxsize=1)
def renderer_problem() -> str | None:
    """Why figures cannot be exported here (one line), or None when kaleido and a Chromium are present."""
    try:
        import kaleido  # noqa: F401  (imported here only: the export is optional and needs a browser)
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return f"exporting figures as SVG or PNG needs kaleido: {INSTALL_HINT}"
    if not Chromium.find_browser(skip_local=False):
        return ("exporting figures as SVG or PNG needs Chrome or Chromium: install it (e.g. apt install chromium) "
                "or set BROWSER_PATH to its executable")
    return None


def export_size(fig) -> tuple[int, int]:
    """(width, height) in CSS pixels the figure is rendered at: its own layout size, else 900 x 500."""
    layout = fig.layout
    return int(layout.width or DEFAULT_WIDTH), int(layout.height or DEFAULT_HEIGHT)


def file_stem(fig, fallback: str) -> str:
    """A readable file name (no suffix) from the figure's title, else from `fallback` (e.g. the chart's key)."""
    title = fig.layout.title.text or ""
    title = re.split(r"<br\s*/?>", title, maxsplit=1, flags=re.I)[0]  # the first line; subtitles are long
    text = html.unescape(re.sub(r"<[^>]+>", "", title)) or fallback
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > 60:  # a long title: cut at the last whole word within 60 characters
        slug = slug[:61].rsplit("-", 1)[0]
    return slug or re.sub(r"[^a-z0-9]+", "-", fallback.lower()).strip("-") or "figure"


def _run(make_coroutine):
    """Run a coroutine to the end from synchronous code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def render(figures: Sequence[tuple[str, object]], formats: Iterable[str] = ("svg", "png"),
           scale: int = PNG_SCALE) -> dict[str, bytes]:
    """{"<stem>.<format>": bytes} for every (stem, figure) in every format, drawn by one browser.

    PNGs are `scale` times the figure's `export_size`; SVGs are at 1x (vectors: the size is nominal).
    Raises CompressError (one line) when the renderer is missing or an unknown format is asked for.
    """
    formats = list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise CompressError(f"figure format {unknown[0]!r} is not supported; use one of {', '.join(FORMATS)}")
    problem = renderer_problem()
    if problem:
        raise CompressError(problem)
    import kaleido

    jobs = []
    for stem, fig in figures:
        width, height = export_size(fig)
        spec = fig.to_dict()
        for fmt in formats:
            jobs.append((f"{stem}.{fmt}", spec, {"format": fmt, "width": width, "height": height,
                                                  "scale": scale if fmt == "png" else 1}))

    async def draw_all() -> dict[str, bytes]:
        async with kaleido.Kaleido(n=1, timeout=TIMEOUT_S, mathjax=False) as browser:
            return {name: await browser.calc_fig(spec, opts=opts) for name, spec, opts in jobs}

    return _run(draw_all) if jobs else {}


def figure_file(fig, fmt: str, scale: int = PNG_SCALE) -> bytes:
    """One figure as SVG or PNG bytes (starts a browser: call it on demand, not on every page draw)."""
    return render([("figure", fig)], [fmt], scale)[f"figure.{fmt}"]


def numbered(figures: Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    """(key, figure) pairs -> ("01-<title slug>", figure) in order: unique, readable and sorted like the page."""
    figures = list(figures)
    width = max(2, len(str(len(figures))))
    return [(f"{i:0{width}d}-{file_stem(fig, key)}", fig) for i, (key, fig) in enumerate(figures, 1)]


def zip_files(files: dict[str, bytes]) -> bytes:
    """A zip archive holding `files` (name -> bytes) in the given order, with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def figures_zip(figures: Iterable[tuple[str, object]], formats: Iterable[str] = ("svg", "png"),
                scale: int = PNG_SCALE) -> bytes:
    """A zip with every (key, figure) as "NN-<title>.svg" and ".png" (PNG at `scale`x), drawn by one browser."""
    return zip_files(render(numbered(figures), formats, scale))
