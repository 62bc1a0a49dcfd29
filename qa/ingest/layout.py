"""Reading order of positioned text lines (PDF text layers, OCR results): columns top to bottom, left to right."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Sequence


@dataclass(frozen=True)
class TextLine:
    """One line of text and its box on the page, y growing downwards."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


def reading_order(lines: Sequence[TextLine]) -> list[TextLine]:
    """Order lines as a reader of a newspaper page would: column by column.

    A recursive XY-cut. A region is split at a vertical gutter (an x range no line
    crosses) into columns, read left to right. When lines spanning the columns (a
    headline across two columns, a footer under them) block every gutter, the region
    is cut into horizontal bands above, at and below those lines, read top to bottom,
    and each band is ordered the same way. A region with no gutter even without its
    wide lines is one column, read top to bottom.

    Args:
        lines: the page's lines in any order.

    Returns:
        The same lines in reading order.
    """
    if not lines:
        return []
    height = median(ln.y1 - ln.y0 for ln in lines) or 1.0
    out: list[TextLine] = []
    _cut(list(lines), 0.8 * height, out)
    return out


def _gutter(lines: list[TextLine], min_gap: float) -> float | None:
    """The x position of the widest vertical gap of at least ``min_gap`` between lines, if any."""
    if len(lines) < 2:
        return None
    spans = sorted((ln.x0, ln.x1) for ln in lines)
    best, best_gap = None, min_gap
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= best_gap:
            best, best_gap = (reach + x0) / 2, x0 - reach
        reach = max(reach, x1)
    return best


def _rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into rows separated by horizontal gaps, top to bottom."""
    rows: list[list[TextLine]] = []
    reach = None
    for ln in sorted(lines, key=lambda ln: (ln.y0, ln.x0)):
        if reach is None or ln.y0 >= reach:
            rows.append([ln])
            reach = ln.y1
        else:
            rows[-1].append(ln)
            reach = max(reach, ln.y1)
    return rows


def _cut(lines: list[TextLine], min_gap: float, out: list[TextLine]) -> None:
    if len(lines) <= 1:
        out.extend(lines)
        return
    x = _gutter(lines, min_gap)
    if x is not None:
        _cut([ln for ln in lines if ln.x1 <= x], min_gap, out)
        _cut([ln for ln in lines if ln.x0 >= x], min_gap, out)
        return
    width = max(ln.x1 for ln in lines) - min(ln.x0 for ln in lines)
    gx = _gutter([ln for ln in lines if ln.x1 - ln.x0 <= 0.6 * width], min_gap)
    bands: list[list[TextLine]] = []
    if gx is not None:
        current: list[TextLine] = []
        for row in _rows(lines):
            if any(ln.x0 < gx < ln.x1 for ln in row):  # a line across the gutter: a band of its own
                if current:
                    bands.append(current)
                    current = []
                bands.append(row)
            else:
                current.extend(row)
        if current:
            bands.append(current)
    if len(bands) <= 1:
        out.extend(sorted(lines, key=lambda ln: (ln.y0, ln.x0)))
        return
    for band in bands:
        _cut(band, min_gap, out)
