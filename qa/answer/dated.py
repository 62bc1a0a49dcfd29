"""Time read from the question, applied to one request: the date filter, latest/earliest choice and dated "when" answers."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from qa.timeq import ArchiveDates, StoredArchiveDates, TimeQuery, cn_date, parse_time, states_date
from qa.types import Answer, Article, Hit

if TYPE_CHECKING:
    from qa.answer.extractive import ExtractiveAnswerer
    from qa.answer.query import Query

ORDER_DEPTH = 2  # a latest/earliest question looks at this many times k passages for dated ones

_cache: dict[int, tuple[Any, ArchiveDates]] = {}
_cache_lock = threading.Lock()


def archive_dates(articles: Mapping[str, Article]) -> ArchiveDates | StoredArchiveDates:
    """The archive's dates, read once per loaded index (keyed by its articles mapping)."""
    key = id(articles)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is articles:
            return hit[1]
    stored = getattr(articles, "archive_dates", None)  # an index's articles: dates stored at build time
    dates = stored() if stored is not None else ArchiveDates(articles.values())
    with _cache_lock:
        if len(_cache) >= 4:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (articles, dates)
    return dates


@dataclass(frozen=True)
class TimePlan:
    """What a request does with time: the question's cues, the articles to search, and what the answer reports."""

    query: TimeQuery
    article_ids: frozenset[str] | None = None  # None: no filter from the question
    date_range: dict[str, Any] | None = None  # Answer.date_range

    @property
    def depth_factor(self) -> int:
        return ORDER_DEPTH if self.query.order else 1


def plan_time(texts: Sequence[str], articles: dict[str, Article], date_from: str | None, date_to: str | None,
              today: str | None) -> TimePlan:
    """Read time from the question and decide the filter.

    Args:
        texts: the question as asked, then its rewritten form (a follow-up); the first that
            names a date decides the range, and any of them may carry latest/earliest/when cues.
        articles: the index's articles.
        date_from, date_to: the caller's own filter; when given it wins over the question's dates.
        today: what relative phrases resolve against; None: the archive's newest issue date
            (the system date when no page states one).

    Returns:
        A ``TimePlan``. Undated articles are always searched (``ArchiveDates.ids_in``); a range
        that leaves every article in is reported with ``applied: False``, and one that leaves
        none searches nothing (the answer is a refusal).
    """
    dates = archive_dates(articles)
    anchor = today or dates.newest
    parsed = [parse_time(t, anchor) for t in texts if t]
    rng = next((p.range for p in parsed if p.range is not None), None)
    order = next((p.order for p in parsed if p.order), None)
    tq = TimeQuery(range=rng, order=order, asks_when=any(p.asks_when for p in parsed))
    if date_from or date_to:
        return TimePlan(tq, None, {"from": date_from, "to": date_to, "phrase": None, "relative": False, "anchor": None,
                                   "source": "caller", "applied": True, "order": order})
    if rng is None:
        return TimePlan(tq, None, {"from": None, "to": None, "phrase": None, "relative": False, "anchor": None,
                                   "source": None, "applied": False, "order": order} if order else None)
    ids = dates.ids_in(rng)
    applied = len(ids) < dates.count  # an undated archive keeps every article: no filter
    report = {**rng.to_dict(), "source": "question", "applied": applied, "order": order}
    return TimePlan(tq, frozenset(ids) if applied else None, report)


def prefer_dated(hits: Sequence[Hit], order: str, extractive: "ExtractiveAnswerer", query: "Query", k: int) -> list[Hit]:
    """For a latest/earliest question: the passages of the newest (oldest) dated issue that answers it.

    The answer over all the hits comes first: when its best sentence is from an undated
    article, nothing says which is newer and the hits stay as they are. Otherwise issue
    dates are tried newest (oldest) first, each issue's passages answered on their own; the
    first whose answer states the type asked for and scores at least ``second_ratio`` of the
    answer over all hits (the bound a second quoted sentence must meet) wins.
    """
    def answers(sub: Sequence[Hit]) -> Any:
        ex = extractive.answer(query.scoring_text, query.scoring_vec, sub, query.wanted, query.latin)
        ok = not ex.refused and (query.wanted is None or query.wanted.satisfied_by(ex.text))
        return ex if ok else None

    base = answers(hits)
    if base is None or not base.citations or base.citations[0].date is None:
        return list(hits[:k])
    floor = extractive.settings.second_ratio * base.signals.get("best_score", 0.0)
    for d in sorted({h.article.date for h in hits if h.article.date}, reverse=(order == "latest")):
        sub = [h for h in hits if h.article.date == d][:k]
        ex = answers(sub)
        if ex is not None and ex.signals.get("best_score", 0.0) >= floor:
            return [dataclasses.replace(h, rank=i) for i, h in enumerate(sub, 1)]
    return list(hits[:k])


def when_wanted(query: "Query", tq: TimeQuery, hits: Iterable[Hit]) -> "Query":
    """A "when" question over dated passages may be answered by the issue date, so the sentence need not state one."""
    if tq.asks_when and query.wanted is not None and query.wanted.name in ("date", "year") and any(
            h.article.date for h in hits):
        return dataclasses.replace(query, wanted=None)
    return query


def date_answer(a: Answer, tq: TimeQuery, latin: bool, refusal_text: str, relaxed: bool) -> Answer:
    """A "when" answer carries a date: the one in the sentence, else its article's issue date.

    ``relaxed``: the answer type was lifted by ``when_wanted``; an answer that then names
    no date and cites no dated article is refused, as it would have been.
    """
    if not tq.asks_when or a.refused or states_date(a.text):
        return a
    issued = next((c.date for c in a.citations if c.date), None)
    if issued is None:
        return dataclasses.replace(a, text=refusal_text, citations=(), refused=True) if relaxed else a
    note = f" (reported in the issue of {issued})" if latin else f"（据{cn_date(issued)}报道）"
    return dataclasses.replace(a, text=a.text + note)
