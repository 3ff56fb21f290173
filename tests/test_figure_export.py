"""Figures as files (compress_core/present/figure_export.py): SVG that parses, PNG at twice the figure's pixel
size, and a zip with one readable file per figure per format.

The rendering tests need kaleido and a Chromium (requirements-optional.txt, /usr/bin/chromium); without them
they skip and say why. Naming, zipping and the error messages are tested everywhere.
"""
from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zipfile

import plotly.graph_objects as go
import pytest

from compress_core.errors import CompressError
from compress_core.present import figure_export, teach

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
needs_renderer = pytest.mark.skipif(figure_export.renderer_problem() is not None,
                                    reason=f"no figure renderer here: {figure_export.renderer_problem()}")


def sized() -> go.Figure:
    fig = go.Figure(go.Bar(x=["a", "b", "c"], y=[3, 1, 2]))
    return fig.update_layout(title="Accuracy <b>vs</b> bits<br><sup>per channel</sup>", width=640, height=360)


def unsized() -> go.Figure:
    """Like the page's figures: no width of its own (drawn at the page's width)."""
    return teach.agp_figure(teach.agp_curve(0.0, 0.9, 10))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    return struct.unpack(">II", data[16:24])  # the IHDR chunk: width, height


def test_file_names_come_from_titles_without_markup():
    assert figure_export.file_stem(sized(), "learn_q_accuracy") == "accuracy-vs-bits"
    assert figure_export.file_stem(go.Figure(), "learn_q_grid") == "learn-q-grid"
    long = go.Figure().update_layout(title="First layer: the 8×8 input weights of 6 hidden units (red: positive)")
    assert figure_export.file_stem(long, "k") == "first-layer-the-8-8-input-weights-of-6-hidden-units-red"  # whole words
    names = [stem for stem, _ in figure_export.numbered([("k1", sized()), ("k2", go.Figure()), ("k3", sized())])]
    assert names == ["01-accuracy-vs-bits", "02-k2", "03-accuracy-vs-bits"]  # unique, in page order


def test_export_size_is_the_layout_size_or_the_default():
    assert figure_export.export_size(sized()) == (640, 360)
    fig = unsized()
    assert figure_export.export_size(fig) == (figure_export.DEFAULT_WIDTH, fig.layout.height or
                                              figure_export.DEFAULT_HEIGHT)


def test_zip_files_keeps_names_order_and_bytes():
    data = figure_export.zip_files({"02-b.svg": b"<svg/>", "01-a.png": PNG_SIGNATURE})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["02-b.svg", "01-a.png"]
        assert archive.read("01-a.png") == PNG_SIGNATURE


def test_unknown_format_is_one_line_naming_it():
    with pytest.raises(CompressError, match=r"format 'jpeg' is not supported; use one of svg, png"):
        figure_export.render([("x", sized())], ["jpeg"])


def test_a_missing_renderer_is_one_line(monkeypatch):
    monkeypatch.setattr(figure_export, "renderer_problem", lambda: "exporting figures needs kaleido: pip install")
    with pytest.raises(CompressError, match="needs kaleido"):
        figure_export.render([("x", sized())])


@pytest.fixture(scope="module")
def archive() -> zipfile.ZipFile:
    """Two figures in both formats, drawn by one browser, as the page's lesson export does."""
    data = figure_export.figures_zip([("learn_q_accuracy", sized()), ("learn_agp_curve", unsized())])
    return zipfile.ZipFile(io.BytesIO(data))


@needs_renderer
def test_zip_holds_one_file_per_figure_per_format(archive):
    assert archive.namelist() == ["01-accuracy-vs-bits.svg", "01-accuracy-vs-bits.png",
                                  f"02-{figure_export.file_stem(unsized(), 'x')}.svg",
                                  f"02-{figure_export.file_stem(unsized(), 'x')}.png"]
    assert "agp" in archive.namelist()[2] or "sparsity" in archive.namelist()[2]  # named by its title


@needs_renderer
def test_svg_parses_with_an_svg_root(archive):
    for name in archive.namelist()[::2]:
        root = ET.fromstring(archive.read(name))
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert root.find(".//{http://www.w3.org/2000/svg}text") is not None  # the title and ticks are text


@needs_renderer
def test_png_is_twice_the_figure_size(archive):
    for (name, fig) in zip(archive.namelist()[1::2], (sized(), unsized())):
        width, height = figure_export.export_size(fig)
        assert png_size(archive.read(name)) == (2 * width, 2 * height), name


@needs_renderer
def test_one_figure_as_svg_and_png_at_a_chosen_scale():
    fig = sized()
    svg = figure_export.figure_file(fig, "svg")
    assert ET.fromstring(svg).get("width") == "640"
    assert png_size(figure_export.figure_file(fig, "png", scale=1)) == (640, 360)
