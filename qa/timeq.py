"""Time in questions: dates and periods (2023年5月, 去年, last month) as date ranges, latest/first and "when" cues."""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from dataclasses import dataclass
from typing import Iterable

from qa.types import Article

DAY_SLACK = 2  # a day asked about is reported in that day's issue or the next ones
_CN_DIGIT = {"〇": 0, "零": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
_CN = "〇零○一二两三四五六七八九十"
_MONTHS_EN = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS_EN.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS_EN["sept"] = 9
_MON = r"(?P<mon>" + "|".join(sorted(_MONTHS_EN, key=len, reverse=True)) + r")\.?"


def cn_number(text: str) -> int | None:
    """A number written in Arabic digits or Chinese numerals (二〇二三, 十二, 二十二, 两); None if it is not one."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if all(ch in _CN_DIGIT for ch in text) and len(text) >= 2:  # digit by digit, as years are read: 二〇二三
        return int("".join(str(_CN_DIGIT[ch]) for ch in text))
    if "十" in text:
        tens, _, ones = text.partition("十")
        if len(tens) > 1 or len(ones) > 1 or (tens and tens not in _CN_DIGIT) or (ones and ones not in _CN_DIGIT):
            return None
        return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)
    if len(text) == 1 and text in _CN_DIGIT:
        return _CN_DIGIT[text]
    return None


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of days, with the words of the question it came from."""

    start: str  # ISO date
    end: str
    phrase: str  # as written in the question, e.g. "2023年5月", "last year"
    relative: bool = False  # resolved against ``anchor`` (去年, last month…)
    anchor: str | None = None  # the "today" a relative phrase was resolved against
    day: bool = False  # the question names one day (reports of it may come a day or two later)

    def to_dict(self) -> dict[str, object]:
        return {"from": self.start, "to": self.end, "phrase": self.phrase, "relative": self.relative,
                "anchor": self.anchor}


@dataclass(frozen=True)
class TimeQuery:
    """What a question says about time."""

    range: DateRange | None = None
    order: str | None = None  # "latest" (最新/最近/latest) or "earliest" (第一次/首次/first)
    asks_when: bool = False  # 什么时候/哪天/when: the answer should carry a date


def _iso(d: _dt.date) -> str:
    return d.isoformat()


def _month_range(y: int, m: int) -> tuple[_dt.date, _dt.date]:
    return _dt.date(y, m, 1), _dt.date(y, m, calendar.monthrange(y, m)[1])


def _past_year(m: int, d: int | None, today: _dt.date) -> int:
    """The year of a month (and day) given without one: the latest such date not after ``today``."""
    y = today.year
    try:
        first = _dt.date(y, m, d or 1)
    except ValueError:
        return y
    return y if first <= today else y - 1


def _date(y: int, m: int, d: int) -> _dt.date | None:
    try:
        return _dt.date(y, m, d)
    except ValueError:
        return None


def _shift_months(d: _dt.date, months: int) -> _dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return _dt.date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


_N = rf"(?P<n>\d{{1,2}}|[{_CN}]{{1,3}})"
_Y = rf"(?P<y>(?:19|20)\d\d|[{_CN}]{{4}})"
_M = r"(?P<m>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_D = r"(?P<d>3[01]|[12]\d|0?[1-9]|[二三]?十[一二三四五六七八九]?|[一二三四五六七八九])"

# (pattern, kind): tried in this order; a later pattern never matches inside an earlier match
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?P<y>(?:19|20)\d\d)[-/.](?P<m>1[0-2]|0?[1-9])[-/.](?P<d>3[01]|[12]\d|0?[1-9])(?!\d)"), "ymd"),
    (re.compile(_Y + r"\s*年\s*" + _M + r"\s*月\s*" + _D + r"\s*[日号]"), "ymd"),
    (re.compile(_Y + r"\s*年\s*(?P<half>上半年|下半年)"), "half"),
    (re.compile(_Y + r"\s*年\s*(?:第)?(?P<q>[一二三四1-4])\s*季度"), "quarter"),
    (re.compile(_Y + r"\s*年\s*" + _M + r"\s*月(?:份)?"), "ym"),
    (re.compile(_Y + r"\s*年(?:度)?"), "y"),
    (re.compile(r"(?<![\d个年])" + _M + r"\s*月\s*" + _D + r"\s*[日号]"), "md"),
    (re.compile(r"(?<![\d个年第])" + _M + r"\s*月份"), "m"),
    (re.compile(r"(?:最近|近|过去|这)\s*" + _N + r"\s*(?P<unit>年|个月|个星期|周|天|日)"), "lastn"),
    (re.compile(r"今年|本年度?"), "this_year"),
    (re.compile(r"去年|上一?年"), "last_year"),
    (re.compile(r"前年"), "year_before"),
    (re.compile(r"本月|这个月|当月"), "this_month"),
    (re.compile(r"上个?月"), "last_month"),
    (re.compile(r"本周|这周|这个星期|本星期"), "this_week"),
    (re.compile(r"上周|上个?星期"), "last_week"),
    (re.compile(r"今天|今日"), "today"),
    (re.compile(r"昨天|昨日"), "yesterday"),
    (re.compile(r"前天"), "day_before"),
    # English
    (re.compile(_MON + r"\s+(?P<d>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?,?\s+(?P<y>(?:19|20)\d\d)\b", re.I), "ymd"),
    (re.compile(r"\b(?P<d>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MON + r",?\s+(?P<y>(?:19|20)\d\d)\b", re.I), "ymd"),
    (re.compile(r"\b" + _MON + r"\s+(?:of\s+)?(?P<y>(?:19|20)\d\d)\b", re.I), "ym"),
    (re.compile(r"\b(?:on\s+)?" + _MON + r"\s+(?P<d>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?\b", re.I), "md"),
    (re.compile(r"\b(?:the\s+)?(?:last|past)\s+(?P<n>\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)\s+"
                r"(?P<unit>years?|months?|weeks?|days?)\b", re.I), "lastn"),
    (re.compile(r"\bthis\s+year\b", re.I), "this_year"),
    (re.compile(r"\blast\s+year\b", re.I), "last_year"),
    (re.compile(r"\bthis\s+month\b", re.I), "this_month"),
    (re.compile(r"\blast\s+month\b", re.I), "last_month"),
    (re.compile(r"\bthis\s+week\b", re.I), "this_week"),
    (re.compile(r"\blast\s+week\b", re.I), "last_week"),
    (re.compile(r"\btoday\b", re.I), "today"),
    (re.compile(r"\byesterday\b", re.I), "yesterday"),
    (re.compile(r"(?<![\d-])\b(?P<y>(?:19|20)\d\d)\b(?![-/.]\d)"), "y"),
]
_EN_NUM = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_LATEST = re.compile(r"最新|最近(?!\s*(?:\d+|[一二两三四五六七八九十几]+)\s*(?:年|个|天|日|周|星期))|目前|现任|现在|如今|当前|眼下"
                     r"|\b(?:latest|most\s+recent(?:ly)?|newest|recently|current(?:ly)?|now|these\s+days)\b", re.I)
_EARLIEST = re.compile(r"第一次|首次|首个|首批|首届|最早|最初|起初|当初"
                       r"|\b(?:first\s+time|for\s+the\s+first|earliest|initially|originally|first)\b", re.I)
_WHEN = re.compile(r"什么时候|什么时间|何时|哪天|哪一天|哪日|哪年|哪一年|哪个月|几月几[日号]|几号|何日|日期是"
                   r"|\bwhen\b|\bwhat\s+(?:date|day|year|month)\b|\bwhich\s+(?:date|day|year|month)\b|\bon\s+what\s+date\b",
                   re.I)


def _to_int(s: str | None) -> int | None:
    if s is None:
        return None
    return _EN_NUM.get(s.lower()) or cn_number(s)


def _span(kind: str, m: re.Match[str], today: _dt.date) -> tuple[_dt.date, _dt.date, bool, bool] | None:
    """(start, end, relative, one day) for one match, or None when it names no real date."""
    g = m.groupdict()
    y = _to_int(g.get("y"))
    mon = _MONTHS_EN[g["mon"].lower().rstrip(".")] if g.get("mon") else _to_int(g.get("m"))
    d = _to_int(g.get("d"))
    if y is not None and not 1900 <= y <= 2100:
        return None
    if kind == "ymd":
        day = _date(y, mon, d) if y and mon and d else None
        return (day, day, False, True) if day else None
    if kind == "ym":
        return (*_month_range(y, mon), False, False) if y and mon and 1 <= mon <= 12 else None
    if kind == "y":
        return (_dt.date(y, 1, 1), _dt.date(y, 12, 31), False, False) if y else None
    if kind == "half":
        return ((_dt.date(y, 1, 1), _dt.date(y, 6, 30)) if g["half"] == "上半年" else (_dt.date(y, 7, 1), _dt.date(y, 12, 31))) + (False, False)
    if kind == "quarter":
        q = int(g["q"]) if g["q"].isdigit() else _CN_DIGIT[g["q"]]
        return _month_range(y, 3 * q - 2)[0], _month_range(y, 3 * q)[1], False, False
    if kind == "md":
        if not mon or not d or not 1 <= mon <= 12:
            return None
        day = _date(_past_year(mon, d, today), mon, d)
        return (day, day, True, True) if day else None
    if kind == "m":
        if not mon or not 1 <= mon <= 12:
            return None
        return (*_month_range(_past_year(mon, None, today), mon), True, False)
    if kind == "lastn":
        n, unit = _to_int(g["n"]), g["unit"].lower()
        if not n or n > 100:
            return None
        if unit.startswith(("年", "year")):
            start = _shift_months(today, -12 * n)
        elif unit.startswith(("个月", "month")):
            start = _shift_months(today, -n)
        elif unit.startswith(("个星期", "周", "week")):
            start = today - _dt.timedelta(weeks=n)
        else:
            start = today - _dt.timedelta(days=n - 1)
        return start, today, True, False
    if kind == "this_year":
        return _dt.date(today.year, 1, 1), today, True, False
    if kind == "last_year":
        return _dt.date(today.year - 1, 1, 1), _dt.date(today.year - 1, 12, 31), True, False
    if kind == "year_before":
        return _dt.date(today.year - 2, 1, 1), _dt.date(today.year - 2, 12, 31), True, False
    if kind == "this_month":
        return today.replace(day=1), today, True, False
    if kind == "last_month":
        prev = today.replace(day=1) - _dt.timedelta(days=1)
        return (*_month_range(prev.year, prev.month), True, False)
    if kind == "this_week":
        return today - _dt.timedelta(days=today.weekday()), today, True, False
    if kind == "last_week":
        monday = today - _dt.timedelta(days=today.weekday() + 7)
        return monday, monday + _dt.timedelta(days=6), True, False
    offset = {"today": 0, "yesterday": 1, "day_before": 2}[kind]
    day = today - _dt.timedelta(days=offset)
    return day, day, True, True


def parse_time(question: str, today: _dt.date | str | None = None) -> TimeQuery:
    """Read dates, periods and time cues from a question.

    Several dates in one question become the range that covers them all ("2022年和2023年").

    Args:
        question: the question (any width; NFKC is applied by the input layer upstream).
        today: what relative phrases (去年, last month, 5月22日 without a year) resolve
            against: usually the archive's newest issue date. None: the system date.

    Returns:
        A ``TimeQuery``: the date range (or None), latest/earliest preference, and whether it asks when.
    """
    anchor = _dt.date.fromisoformat(today) if isinstance(today, str) else (today or _dt.date.today())
    taken: list[tuple[int, int]] = []
    spans: list[tuple[_dt.date, _dt.date, bool, bool, str, int]] = []
    for pat, kind in _PATTERNS:
        for m in pat.finditer(question):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            got = _span(kind, m, anchor)
            if got is None:
                continue
            taken.append((m.start(), m.end()))
            spans.append((*got, m.group(0).strip(), m.start()))
    rng = None
    if spans:
        spans.sort(key=lambda s: s[5])
        start, end = min(s[0] for s in spans), max(s[1] for s in spans)
        relative = any(s[2] for s in spans)
        rng = DateRange(start=_iso(start), end=_iso(end), phrase="、".join(s[4] for s in spans), relative=relative,
                        anchor=_iso(anchor) if relative else None, day=len(spans) == 1 and spans[0][3])
    # "最近5天" is a range, not a wish for the latest; a range's own words are not order cues
    rest = question
    for s, e in sorted(taken, reverse=True):
        rest = rest[:s] + " " + rest[e:]
    latest, earliest = _LATEST.search(rest), _EARLIEST.search(rest)
    order = None
    if latest and not earliest:
        order = "latest"
    elif earliest and not latest:
        order = "earliest"
    elif latest and earliest:  # both: the one written first ("最早…现在" is rare; keep it simple)
        order = "latest" if latest.start() < earliest.start() else "earliest"
    return TimeQuery(range=rng, order=order, asks_when=bool(_WHEN.search(question)))


_MENTION = re.compile(r"(?:(?P<y>(?:19|20)\d\d)年)?(?P<m>1[0-2]|0?[1-9])月(?P<d>3[01]|[12]\d|0?[1-9])日")


def mention_dates(article: Article) -> list[_dt.date]:
    """The dates an article's text names (``date_mentions``), years taken from its issue date when left out.

    A mention without a year in an undated article names no certain day and is skipped.
    """
    issue = _dt.date.fromisoformat(article.date) if article.date else None
    out: list[_dt.date] = []
    for text in article.date_mentions:
        m = _MENTION.fullmatch(text)
        if not m:
            continue
        mon, d = int(m["m"]), int(m["d"])
        if m["y"]:
            y = int(m["y"])
        elif issue is not None:
            y = issue.year if (mon, d) <= (issue.month, issue.day) or mon - issue.month <= 1 else issue.year - 1
        else:
            continue
        day = _date(y, mon, d)
        if day:
            out.append(day)
    return out


def newest_date(articles: Iterable[Article]) -> str | None:
    """The newest issue date in an archive (what relative phrases resolve against), or None."""
    return max((a.date for a in articles if a.date), default=None)


_YEAR_MENTION = re.compile(r"(?<!\d)((?:19|20)\d\d)\s*年")


class ArchiveDates:
    """Each article's issue date and the days and years its text names, read once per index."""

    def __init__(self, articles: Iterable[Article]) -> None:
        self.entries: list[tuple[str, _dt.date | None, tuple[_dt.date, ...], frozenset[int]]] = [
            (a.id, _dt.date.fromisoformat(a.date) if a.date else None, tuple(mention_dates(a)),
             frozenset(int(y) for y in _YEAR_MENTION.findall(a.body)))
            for a in articles
        ]
        issued = [e[1] for e in self.entries if e[1] is not None]
        self.newest: str | None = _iso(max(issued)) if issued else None
        self.dated = bool(issued)
        self.count = len(self.entries)

    def ids_in(self, rng: DateRange) -> set[str]:
        """Ids of the articles a question's range keeps.

        Kept: articles issued in the range (a named day: up to ``DAY_SLACK`` days after), articles
        naming a day in it or a year that overlaps it (January's issue reports last year's
        figures), and undated articles, whose time nothing tells: a range only leaves out
        articles known to be from other times.
        """
        start, end = _dt.date.fromisoformat(rng.start), _dt.date.fromisoformat(rng.end)
        issue_end = end + _dt.timedelta(days=DAY_SLACK) if rng.day else end
        years = set(range(start.year, end.year + 1))
        return {i for i, issue, named, named_years in self.entries
                if issue is None or start <= issue <= issue_end or any(start <= d <= end for d in named)
                or bool(named_years & years)}


def article_times(article: Article) -> tuple[list[str], set[int]]:
    """What ``ArchiveDates`` reads from an article's text, for storing at build time: days named (ISO) and years named."""
    return [_iso(d) for d in mention_dates(article)], {int(y) for y in _YEAR_MENTION.findall(article.body)}


class StoredArchiveDates:
    """``ArchiveDates`` over dates stored at build time (``qa.index.meta``): each range is one query, not a pass."""

    def __init__(self, newest: str | None, count: int, find) -> None:
        """Args: newest issue date; how many articles; ``find(issue_from, issue_to, day_from, day_to, year_from, year_to)``
        returning the ids of undated articles and those issued, naming a day or a year in the bounds."""
        self.newest, self.dated, self.count, self._find = newest, newest is not None, count, find

    def ids_in(self, rng: DateRange) -> set[str]:
        """Ids of the articles a question's range keeps (the rules of ``ArchiveDates.ids_in``)."""
        start, end = _dt.date.fromisoformat(rng.start), _dt.date.fromisoformat(rng.end)
        issue_end = end + _dt.timedelta(days=DAY_SLACK) if rng.day else end
        return self._find(_iso(start), _iso(issue_end), _iso(start), _iso(end), start.year, end.year)


def articles_in_range(articles: Iterable[Article], rng: DateRange) -> set[str]:
    """Ids of articles from the range (see ``ArchiveDates.ids_in``)."""
    return ArchiveDates(articles).ids_in(rng)


_DATE_IN_TEXT = re.compile(r"(?:19|20)\d\d\s*年|\d{1,2}\s*月\s*\d{1,2}\s*[日号]|(?:19|20)\d\d-\d\d-\d\d"
                           r"|\b(?:" + "|".join(m for m in _MONTHS_EN if len(m) > 3) + r")\b|\b(?:19|20)\d\d\b", re.I)


def states_date(text: str) -> bool:
    """Whether a text states a date or a year (what a "when" answer must carry)."""
    return bool(_DATE_IN_TEXT.search(text))


def cn_date(iso: str) -> str:
    """2023-05-22 → 2023年5月22日."""
    d = _dt.date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def describe_range(date_range: dict[str, object] | None) -> str | None:
    """One line saying which dates an answer searched (``Answer.date_range``), or None when no dates were read."""
    if not date_range:
        return None
    parts = []
    if date_range.get("from") or date_range.get("to"):
        span = f"{date_range.get('from') or '…'} – {date_range.get('to') or '…'}"
        phrase = date_range.get("phrase")
        why = f"“{phrase}”" if phrase else "the date filter"
        if date_range.get("relative") and date_range.get("anchor"):
            why += f", counted from {date_range['anchor']}"
        parts.append(f"dates searched / 检索日期: {span} ({why})")
        if not date_range.get("applied"):
            parts.append("every article is in this range")
    order = date_range.get("order")
    if order:
        parts.append("newest issue that answers / 最新报道" if order == "latest" else "oldest issue that answers / 最早报道")
    return "; ".join(parts) if parts else None
