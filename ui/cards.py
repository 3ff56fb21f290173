"""Metric cards drawn as ONE element (issue 19): a block of cards that looks like bordered `st.metric`s.

Why: a preview fragment reruns on every slider move, and each `st.metric` is its own element (plus the
column that holds it), so four cards were four deltas and four React subtrees re-laid out per move. One
`st.html` block is one delta with the same text. The card look (label, large value, coloured delta with an
arrow for a signed change, grey context otherwise, the help as a tooltip) is written by hand here because
Streamlit has no multi-metric element; the styles come once per page run from `style()` (called by
`ui.common.ensure_navigation`), so a move sends only the cards' markup and never re-inserts a stylesheet.

Accessibility: the label, value and delta are plain text in reading order (screen readers and the browser
tests read them like any text); each card is a `role="group"` named by its label; the help is the card's
`title` (a tooltip on hover, and the group's description); the arrows are CSS content with empty alternative
text (not in the page's text, not read aloud): the sign is in the text, as in st.metric. Every value is HTML-escaped: labels and deltas may carry user-chosen names (layers, models).
"""
from __future__ import annotations

from html import escape

import streamlit as st

CLASS = "lab-cards"  # the block; each card is .lab-card with .lab-card-label / -value / -delta children

# Sizes follow st.metric's (label 0.875rem, value 2.25rem, delta 1rem, 1px border, 0.5rem radius); colours
# follow the theme's text colour (currentColor), so light, dark and lecture mode (a larger root font) all fit.
STYLE = """<style>
.lab-cards{display:grid;gap:1rem;grid-template-columns:repeat(var(--lab-per-row,1),minmax(0,1fr));margin-bottom:1rem}
.lab-card{border:1px solid color-mix(in srgb,currentColor 20%,transparent);border-radius:.5rem;padding:calc(1rem - 1px);min-width:0}
.lab-card-label{font-size:.875rem;line-height:1.6;min-height:1.5rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.lab-card[title] .lab-card-label::after{content:" ?";opacity:.5;font-size:.75rem}
.lab-card-value{font-size:2.25rem;line-height:1.2;padding-bottom:.25rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.lab-card-delta{font-size:1rem;line-height:1.5;opacity:.6}
.lab-card-delta.up{color:#21c354;opacity:1}
.lab-card-delta.down{color:#ff4b4b;opacity:1}
.lab-card-delta.up::before{content:"↑ ";content:"↑ "/""}
.lab-card-delta.down::before{content:"↓ ";content:"↓ "/""}
.lab-line{font-size:1rem;line-height:1.6}
.lab-line.small{font-size:.875rem;opacity:.6}
</style>"""


def style() -> None:
    """The cards' stylesheet; Streamlit sends a style-only `st.html` to its event container (no layout slot)."""
    st.html(STYLE)


def signed_change(delta: str | None) -> bool:
    """A delta like '+0.4 pp' is a change (coloured green/red); '+0.0 pp' or 'fp32 205 kB' is context (grey)."""
    return bool(delta) and delta[0] in "+-−" and any(c in "123456789" for c in delta.split(" ")[0])


def card_html(label: str, value: str, delta: str | None = None, help_text: str | None = None) -> str:
    """One card's markup: the same label, value and delta text as `st.metric(label, value, delta)`."""
    title = f' title="{escape(help_text)}"' if help_text else ""
    parts = [f'<div class="lab-card" role="group" aria-label="{escape(label)}"{title}>',
             f'<div class="lab-card-label">{escape(label)}</div>',
             f'<div class="lab-card-value">{escape(str(value))}</div>']
    if delta:
        if signed_change(delta):
            down = delta[0] in "-−"  # st.metric's rule: a leading minus is a fall (red, arrow down)
            parts.append(f'<div class="lab-card-delta {"down" if down else "up"}">{escape(delta)}</div>')
        else:
            parts.append(f'<div class="lab-card-delta">{escape(delta)}</div>')
    return "".join(parts) + "</div>"


def block_html(cards: list[tuple], per_row: int = 1, slot: str | None = None, tag: str | None = None) -> str:
    """The block of `cards` ((label, value, delta or None, help or None) each), `per_row` to a row.

    `slot` and `tag` mark an instant preview's block (ui/instant.py): the browser finds it by its slot and knows
    which slider value it shows by its tag (both or neither)."""
    grid = f' style="--lab-per-row:{int(per_row)}"' if per_row != 1 else ""
    return f'<div class="{CLASS}"{grid}{_marks(slot, tag)}>' + "".join(card_html(*c) for c in cards) + "</div>"


def _marks(slot: str | None, tag: str | None) -> str:
    """An instant preview's attributes: its slot and the value it shows (none without a tag: instant previews off)."""
    return f' data-lab-slot="{escape(slot)}" data-lab-tag="{escape(tag)}"' if slot and tag else ""


def line_html(bold: str, text: str, slot: str | None = None, tag: str | None = None, small: bool = False) -> str:
    """One line of text with a bold lead ("**bold**: text" as markdown draws it; `small`: as a caption), as markup
    an instant preview (ui/instant.py) can redraw in the browser: its `slot` and `tag` as on a cards block."""
    kind = "lab-line small" if small else "lab-line"
    return f'<div class="{kind}"{_marks(slot, tag)}><strong>{escape(bold)}</strong>: {escape(text)}</div>'


def line(bold: str, text: str, slot: str | None = None, tag: str | None = None, small: bool = False) -> None:
    """Draw `line_html` as one element."""
    st.html(line_html(bold, text, slot, tag, small))


def show(cards: list[tuple], per_row: int = 1, slot: str | None = None, tag: str | None = None) -> None:
    """Draw `cards` as one element: stacked (per_row=1, beside a chart) or in a grid."""
    st.html(block_html(cards, per_row, slot, tag))
