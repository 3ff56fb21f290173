"""The HTML report in Chromium on a phone (390 px) and printed (A4 landscape): nothing scrolls sideways.

Built from constructed run records (a pruning sweep over 3 seeds, int8, a distilled student), so it
needs no runs and no server: the file is opened as a file, as a reader would open it.
"""
from __future__ import annotations

import re

import pytest

from compress_core.present.report import build_report

PHONE = {"width": 390, "height": 844}
A4_LANDSCAPE_PX = 1032  # 297 mm - 2 x 12 mm margins at 96 px per inch


def _run(i, kind, accuracy, *, seed=0, ratio=4.0, **spec):
    return {"id": f"r20261130-2200{i:02d}-0a1b2c{i:02d}", "kind": kind, "status": "finished", "created_at": i,
            "spec": {"kind": kind, "model": "mlp", "hidden": [64], "dataset": "digits", "seed": seed, **spec},
            "metrics": {"accuracy": accuracy, "baseline_accuracy": 0.97, "accuracy_change": accuracy - 0.97,
                        "compression_ratio": ratio, "size_bytes": 21_400 / ratio, "size_form": "sparse",
                        "test_examples": 450, "latency_ms_b1": 0.022, "latency_ms_b64": 0.3, "speedup_b1": 0.98,
                        "speedup_b64": 1.01, "flops_nonzero": 9_470 / ratio, "flops_dense": 9_470,
                        "param_compression_ratio": ratio, "sparsity": 1 - 1 / ratio},
            "baseline": {"size_fp32_bytes": 21_400, "latency_ms_b1": 0.022, "latency_ms_b64": 0.3,
                         "accuracy": 0.97, "flops_dense": 9_470, "params_total": 4_810},
            "environment": {"platform": "Linux-test", "torch": "2.13.0", "threads": 2}}


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    runs, i = [], 0
    for amount in (0.5, 0.8, 0.95):
        for seed in (0, 1, 2):
            runs.append(_run(i, "prune", 0.97 - 0.2 * (amount - 0.5) + 0.01 * (seed - 1), seed=seed,
                             ratio=1 / (1 - amount), amount=amount, finetune_epochs=1))
            i += 1
    runs.append(_run(i, "quantize", 0.969, ratio=3.6, scheme="int8"))
    runs.append(_run(i + 1, "distill", 0.96, ratio=3.1, hidden=[16], teacher="mlp", teacher_hidden=[64], epochs=None))
    path = tmp_path_factory.mktemp("report_layout") / "report.html"
    path.write_text(build_report(runs), encoding="utf-8")
    return path


def _too_wide(page, width):
    """Tables, figures and code blocks that pass the right edge or scroll sideways inside themselves."""
    return page.evaluate("""(w) => [...document.querySelectorAll('table, .figure, pre')]
        .map(e => [e.tagName + '.' + e.className, Math.round(e.getBoundingClientRect().right), e.scrollWidth,
                   e.clientWidth])
        .filter(([, right, scroll, client]) => right > w + 1 || scroll > client + 1)""", width)


def test_phone_shows_tables_as_cards_without_sideways_scrolling(browser, report_file, screenshots):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(report_file.as_uri())
        page.wait_for_selector(".plotly-graph-div")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert _too_wide(page, PHONE["width"]) == []
        cell = page.locator("table.keyed td[data-label='accuracy']").first
        assert cell.is_visible() and "%" in cell.inner_text()
        # each cell reads 'name  value' on its own line: the column name is drawn before the value
        label = page.evaluate("""() => getComputedStyle(document.querySelector("table.keyed td[data-label='accuracy']"),
                                 '::before').content""")
        assert label == '"accuracy"'
        page.screenshot(path=str(screenshots / "report_phone.png"), full_page=True)
    finally:
        context.close()


def test_print_fits_a4_landscape(browser, report_file, screenshots, tmp_path):
    context = browser.new_context(viewport={"width": A4_LANDSCAPE_PX, "height": 700})
    try:
        page = context.new_page()
        page.emulate_media(media="print")
        page.goto(report_file.as_uri())
        page.wait_for_selector(".plotly-graph-div")
        assert _too_wide(page, A4_LANDSCAPE_PX) == []
        page.screenshot(path=str(screenshots / "report_print.png"), full_page=True)
        pdf = page.pdf(path=str(tmp_path / "report.pdf"), prefer_css_page_size=True, print_background=True)
        assert pdf.startswith(b"%PDF")
        boxes = [(float(w), float(h)) for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)]
        assert boxes and all(w > h for w, h in boxes)  # the stylesheet's A4 landscape pages
    finally:
        context.close()
