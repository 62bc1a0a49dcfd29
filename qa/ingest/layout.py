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
    crosses) into columns, read left to right. A region with no gutter is split at the
    first horizontal gap that has a gutter above or below it (a headline across two
    columns, a footer under them); a region with neither is one column, read top to
    bottom.

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
    spans = sorted((ln.x0, ln.x1) for ln in lines)
    best, best_gap = None, min_gap
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= best_gap:
            best, best_gap = (reach + x0) / 2, x0 - reach
        reach = max(reach, x1)
    return best


def _row_cuts(lines: list[TextLine]) -> list[float]:
    """y positions of the horizontal gaps between lines, top to bottom."""
    spans = sorted((ln.y0, ln.y1) for ln in lines)
    cuts, reach = [], spans[0][1]
    for y0, y1 in spans[1:]:
        if y0 >= reach:
            cuts.append((reach + y0) / 2)
        reach = max(reach, y1)
    return cuts


def _cut(lines: list[TextLine], min_gap: float, out: list[TextLine]) -> None:
    if len(lines) <= 1:
        out.extend(lines)
        return
    x = _gutter(lines, min_gap)
    if x is not None:
        _cut([ln for ln in lines if ln.x1 <= x], min_gap, out)
        _cut([ln for ln in lines if ln.x0 >= x], min_gap, out)
        return
    for y in _row_cuts(lines):
        top = [ln for ln in lines if ln.y1 <= y]
        bottom = [ln for ln in lines if ln.y0 >= y]
        if _gutter(top, min_gap) is not None or _gutter(bottom, min_gap) is not None:
            _cut(top, min_gap, out)
            _cut(bottom, min_gap, out)
            return
    out.extend(sorted(lines, key=lambda ln: (ln.y0, ln.x0)))
