"""Rank fusion: merge ranked lists from several retrievers, keeping each list's rank, and add per-item signals.

RRF scores an item ``sum_r w_r / (k + rank_r)`` over the lists ``r`` that contain it
(Cormack, Clarke and Büttcher, SIGIR 2009). It needs no score calibration between
BM25 and cosine, which live on unrelated scales; ``k`` (60 by default) damps the
difference between the first few ranks. ``convex`` sums min-max scaled scores instead;
``add_signal`` adds a per-item signal (query-term coverage) to either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Mapping, Sequence

RRF_K = 60


@dataclass(frozen=True)
class Fused:
    """One item of a fused list: its RRF score and its 1-based rank in each input list."""

    item: Hashable
    score: float
    ranks: dict[str, int] = field(default_factory=dict)


def rrf(
    rankings: Mapping[str, Sequence[Hashable]],
    k: float = RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """Fuse ranked lists by reciprocal rank.

    Args:
        rankings: list name → items, best first. An item repeated within one list
            counts at its first (best) position only.
        k: the RRF constant (must be ≥ 0).
        weights: list name → weight (default 1 for every list); weight 0 keeps a
            list's ranks on the items but gives it no say in the order.

    Returns:
        Every item that appears in any list, best first. Ties (equal scores) go to
        the item with the better best rank, then to the list named first in
        ``rankings``, then to its position there: the order is deterministic.
    """
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    weights = dict(weights or {})
    ranks: dict[Hashable, dict[str, int]] = {}
    order: dict[Hashable, tuple[int, int, int]] = {}  # (best rank, list index, position) for ties
    for li, (name, items) in enumerate(rankings.items()):
        seen: set[Hashable] = set()
        for pos, it in enumerate(items, 1):
            if it in seen:
                continue
            seen.add(it)
            ranks.setdefault(it, {})[name] = pos
            key = (pos, li, pos)
            if it not in order or key < order[it]:
                order[it] = key
    scored = [
        Fused(it, sum(weights.get(name, 1.0) / (k + r) for name, r in rs.items()), rs)
        for it, rs in ranks.items()
    ]
    scored.sort(key=lambda f: (-f.score, order[f.item]))
    return scored


def convex(
    rankings: Mapping[str, Sequence[Hashable]],
    scores: Mapping[str, Mapping[Hashable, float]],
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """Fuse ranked lists by a weighted sum of their scores, each min-max scaled to [0, 1] over its list.

    An item missing from a list gets 0 from it. Ties keep the order ``rrf`` uses.
    """
    weights = dict(weights or {})
    total: dict[Hashable, float] = {}
    ranks: dict[Hashable, dict[str, int]] = {}
    order: dict[Hashable, tuple[int, int]] = {}
    for li, (name, items) in enumerate(rankings.items()):
        vals = [scores[name][it] for it in items]
        if not vals:
            continue
        lo, hi = min(vals), max(vals)
        span = hi - lo
        for pos, it in enumerate(items, 1):
            if name in ranks.setdefault(it, {}):
                continue
            ranks[it][name] = pos
            x = (scores[name][it] - lo) / span if span > 0 else 1.0
            total[it] = total.get(it, 0.0) + weights.get(name, 1.0) * x
            order[it] = min(order.get(it, (pos, li)), (pos, li))
    fused = [Fused(it, total[it], ranks[it]) for it in total]
    fused.sort(key=lambda f: (-f.score, order[f.item]))
    return fused


def add_signal(fused: Sequence[Fused], values: Mapping[Hashable, float], weight: float) -> list[Fused]:
    """Add ``weight × value`` to each fused item's score and re-sort: a per-item signal that is not a ranked list.

    Used for query-term coverage (``LexicalIndex.coverage``): the share of the
    question's terms a passage holds says something neither BM25's sum nor the
    cosine does (a passage naming the village *and* the reservoir beats one naming
    the reservoir twice).

    Args:
        fused: a fused list, best first (``convex`` or ``rrf``).
        values: item → signal value (missing items get 0); for a convex list, a value
            in [0, 1] weighs like a list's min-max scaled score.
        weight: how much one unit of the signal counts (0 leaves the list as it is).

    Returns:
        The items with their new scores, best first; equal scores keep the input order,
        and each item keeps its per-list ranks.
    """
    if not weight:
        return list(fused)
    out = [Fused(f.item, f.score + weight * float(values.get(f.item, 0.0)), f.ranks) for f in fused]
    order = {f.item: i for i, f in enumerate(fused)}
    out.sort(key=lambda f: (-f.score, order[f.item]))
    return out
