"""Parse extracted newspaper-page text into articles, keeping offsets back into the raw file.

A page is a sequence of lines. Each non-blank line is classified as page furniture
(masthead, page references, captions, repeated slogan banners), a headline-like line
(short, no sentence punctuation) or a body line. A run of headline lines followed by
body lines starts an article. Body lines that do not end a sentence are column breaks:
the next body line continues the same paragraph and is joined with no inserted space.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from qa.errors import CorpusError
from qa.types import Article, Span

log = logging.getLogger(__name__)

# Sentence-final punctuation: a body line ending in one of these closes its paragraph.
_TERMINALS = set("。！？!?…")
_CLOSERS = set("”’」』）)\"'")
# Punctuation that never appears in a headline line but always in prose.
_PROSE_PUNCT = re.compile(r"[，,。！？；;!?]")
_HEADLINE_MAX = 40

_DATE_LINE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_MASTHEAD = [
    _DATE_LINE,
    re.compile(r"^第\d+期$"),
    re.compile(r"^农历"),
    re.compile(r"主办$"),
    re.compile(r"编印$"),
    re.compile(r"^今日[一二三四五六七八九十\d]+版$"),
    re.compile(r"^(采编|新闻|广告)热线"),
]
_FURNITURE = [
    re.compile(r"^责任编辑[:：]"),
    re.compile(r"^(美术|图片)?编辑[:：]"),
    re.compile(r"^[（(]?[上下]转第?[一二三四五六七八九十\d]+版[)）]?$"),
    re.compile(r"^[（(][^()（）]{0,40}摄[)）]$"),  # photo caption credit
]
# Section labels that sit inside an article rather than starting a new one.
_SUBHEADS = {"记者手记", "编者按", "短评", "相关链接", "链接", "背景链接"}
# A short organisation name after a body and before the next headline is the
# previous article's signature (e.g. 区农业农村局), not the next article's kicker.
_SIGNATURE = re.compile(r"^.{1,8}(局|办|部|中心|委|委员会|院|站|所|队|办公室)$")
_BYLINE = re.compile(
    r"^(本报讯\s*([（(][^）)]{0,80}[）)])?|[（(](记者|通讯员|本报记者)[^）)]{0,80}[）)])"
)
# Page references and photo credits printed at the end of a paragraph.
_TRAILING_FURNITURE = re.compile(r"\s*[（(](?:[上下]转第?[一二三四五六七八九十\d]+版|[^()（）]{0,40}摄)[)）]\s*$")
_DATE_MENTION = re.compile(r"(?:\d{4}年)?\d{1,2}月\d{1,2}日")
_BOLD = re.compile(r"\*\*")


@dataclass
class _Line:
    text: str  # cleaned text
    pieces: list[tuple[str, int]]  # (text, raw_start) pieces that make up ``text``
    start: int
    end: int


@dataclass
class _Para:
    pieces: list[tuple[str, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.pieces)


@dataclass
class _Draft:
    heads: list[_Line]
    paras: list[_Para] = field(default_factory=list)
    byline: str = ""
    end: int = 0


def _lines(raw: str) -> list[_Line]:
    out: list[_Line] = []
    pos = 0
    for line in raw.split("\n"):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            start = pos + lead
            # drop markdown bold marks, keeping each remaining piece's raw offset
            pieces: list[tuple[str, int]] = []
            cursor = 0
            for m in _BOLD.finditer(stripped):
                if m.start() > cursor:
                    pieces.append((stripped[cursor : m.start()], start + cursor))
                cursor = m.end()
            if cursor < len(stripped):
                pieces.append((stripped[cursor:], start + cursor))
            text = "".join(t for t, _ in pieces).strip()
            if text:
                out.append(_Line(text, pieces, start, start + len(stripped)))
        pos += len(line) + 1
    return out


def _is_headline_like(text: str) -> bool:
    return len(text) <= _HEADLINE_MAX and not _PROSE_PUNCT.search(text)


def _is_slogan(text: str) -> bool:
    """Parallel phrases of equal length separated by spaces, e.g. 转作风 讲担当 抓落实."""
    parts = text.split()
    return len(parts) >= 2 and len({len(p) for p in parts}) == 1 and 2 <= len(parts[0]) <= 7


def _terminated(text: str) -> bool:
    t = text.rstrip()
    while t and t[-1] in _CLOSERS:
        t = t[:-1]
    return bool(t) and t[-1] in _TERMINALS


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\s+", "", text)
    return {t[i : i + 2] for i in range(len(t) - 1)}


def find_banners(pages: Iterable[str]) -> frozenset[str]:
    """Slogan-shaped lines repeated on two or more pages are banners, not titles.

    Only lines of parallel equal-length phrases (转作风 讲担当 抓落实) qualify: a routine
    title such as 区委常委会召开会议 may recur every issue and must still start an article.

    Args:
        pages: raw page texts.

    Returns:
        The set of cleaned banner lines.
    """
    seen: Counter[str] = Counter()
    for raw in pages:
        seen.update({ln.text for ln in _lines(raw) if _is_headline_like(ln.text) and _is_slogan(ln.text)})
    return frozenset(t for t, n in seen.items() if n >= 2)


def _masthead(lines: list[_Line]) -> tuple[int, str | None, str | None]:
    """Return (number of masthead lines, paper name, ISO issue date)."""
    if not any(_DATE_LINE.match(ln.text) for ln in lines[:4]):
        return 0, None, None
    last = -1
    for i, ln in enumerate(lines[:15]):
        if any(p.search(ln.text) for p in _MASTHEAD):
            last = i
    head = lines[: last + 1]
    date = paper = None
    for ln in head:
        m = _DATE_LINE.match(ln.text)
        if m and date is None:
            date = f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}"
        elif paper is None and not any(p.search(ln.text) for p in _MASTHEAD) and len(ln.text) <= 8:
            paper = ln.text
    return last + 1, paper, date


def parse_page(raw: str, source: str, *, banners: frozenset[str] = frozenset()) -> list[Article]:
    """Parse one page of extracted newspaper text into articles.

    Args:
        raw: the page text as read from the file.
        source: the raw file name, recorded on every article.
        banners: lines to treat as page furniture (see ``find_banners``).

    Returns:
        Articles in page order with offsets into ``raw``.
    """
    lines = _lines(raw)
    skip, paper, date = _masthead(lines)
    drafts: list[_Draft] = []
    pending: list[_Line] = []
    current: _Draft | None = None

    for ln in lines[skip:]:
        text = ln.text
        if text in banners or any(p.search(text) for p in _FURNITURE):
            continue
        if _is_headline_like(text) and text not in _SUBHEADS:
            pending.append(ln)
            continue
        if text in _SUBHEADS:  # an in-article label: a paragraph of its own
            if current is not None:
                current.paras.append(_Para(list(ln.pieces)))
                current.end = ln.end
            continue
        # a body line
        if pending:
            if current is not None and len(pending) > 1 and _SIGNATURE.match(pending[0].text):
                pending = pending[1:]
            current = _Draft(heads=pending)
            drafts.append(current)
            pending = []
        elif current is None:
            current = _Draft(heads=[])
            drafts.append(current)
        if current.paras and not _terminated(current.paras[-1].text):
            current.paras[-1].pieces.extend(ln.pieces)  # column break: rejoin, no space
        else:
            current.paras.append(_Para(list(ln.pieces)))
        current.end = ln.end

    if pending:  # headlines left at the page's end: a title printed away from its article
        _place_orphans(drafts, pending)

    return [_finish(d, i, source, paper, date) for i, d in enumerate(drafts, 1)]


def _place_orphans(drafts: list[_Draft], orphans: list[_Line]) -> None:
    for ln in orphans:
        if _is_slogan(ln.text):
            continue
        grams = _bigrams(ln.text)
        best, best_score = None, 0.0
        for d in drafts:
            if any(not _is_slogan(h.text) for h in d.heads):
                continue  # already has a real headline
            body = "".join(p.text for p in d.paras)
            score = len(grams & _bigrams(body)) / max(len(grams), 1)
            if score > best_score:
                best, best_score = d, score
        if best is not None and best_score >= 0.6:
            best.heads.append(ln)
        else:
            log.debug("dropping unplaced headline line %r", ln.text)


def _split_headline(heads: list[str]) -> tuple[str, str, str]:
    if not heads:
        return "", "", ""
    candidates = [i for i, h in enumerate(heads) if not _is_slogan(h)]
    if candidates:
        main = max(candidates, key=lambda i: (len(heads[i]), -i))
    else:
        main = len(heads) - 1
    return " ".join(heads[:main]), heads[main], " ".join(heads[main + 1 :])


def _finish(d: _Draft, n: int, source: str, paper: str | None, date: str | None) -> Article:
    kicker, headline, subtitle = _split_headline([h.text for h in d.heads])
    byline = ""
    paras = [list(p.pieces) for p in d.paras]
    if paras:
        first = "".join(t for t, _ in paras[0])
        m = _BYLINE.match(first)
        if m and m.end() < len(first):
            byline = m.group(0).strip()
            paras[0] = _drop_prefix(paras[0], m.end())
    paras = [p for p in (_drop_trailing_furniture(p) for p in paras) if p]
    body_parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    for k, pieces in enumerate(paras):
        if k:
            body_parts.append("\n")
            pos += 1
        for text, raw_start in pieces:
            spans.append(Span(pos, raw_start, len(text)))
            body_parts.append(text)
            pos += len(text)
    body = "".join(body_parts)
    stem = Path(source).stem
    start = d.heads[0].start if d.heads else (spans[0].raw_start if spans else 0)
    if not headline:
        headline = body[:20]
    return Article(
        id=f"{stem}-{n:02d}",
        headline=headline,
        kicker=kicker,
        subtitle=subtitle,
        byline=byline,
        body=body,
        source=source,
        paper=paper,
        date=date,
        date_mentions=tuple(dict.fromkeys(_DATE_MENTION.findall(body))),
        raw_start=start,
        raw_end=d.end,
        spans=tuple(spans),
    )


def _drop_trailing_furniture(pieces: list[tuple[str, int]]) -> list[tuple[str, int]]:
    text = "".join(t for t, _ in pieces)
    m = _TRAILING_FURNITURE.search(text)
    if not m:
        return pieces
    keep, out = m.start(), []
    for t, raw_start in pieces:
        if keep <= 0:
            break
        out.append((t[:keep], raw_start))
        keep -= len(t)
    return out


def _drop_prefix(pieces: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for text, raw_start in pieces:
        if n >= len(text):
            n -= len(text)
            continue
        out.append((text[n:], raw_start + n))
        n = 0
    # the byline is followed by prose; drop the spaces between them
    if out:
        text, raw_start = out[0]
        stripped = text.lstrip()
        out[0] = (stripped, raw_start + len(text) - len(stripped))
    return out


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, raising ``CorpusError`` with the file name on failure."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror})") from None


_JSONL_STRING_FIELDS = ("id", "title", "date", "source", "paper")


def read_jsonl_articles(path: Path) -> list[Article]:
    """Read a JSONL archive of ``{"id","title","text","date","source"}`` objects.

    Args:
        path: the JSONL file.

    Returns:
        One article per line; offsets refer to the record's ``text``.

    Raises:
        CorpusError: naming the file and line of the first bad record.
    """
    articles: list[Article] = []
    seen: set[str] = set()
    for i, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path.name}:{i}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise CorpusError(f"{path.name}:{i}: expected a JSON object, got {type(rec).__name__}")
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise CorpusError(f"{path.name}:{i}: field 'text' must be a non-empty string")
        for field in _JSONL_STRING_FIELDS:  # a number or object here would reach the index and crash its readers
            value = rec.get(field)
            if value is not None and not isinstance(value, str):
                raise CorpusError(
                    f"{path.name}:{i}: field {field!r} must be a string, got {type(value).__name__} ({json.dumps(value)[:40]})"
                )
        aid = str(rec.get("id") or f"{path.stem}-{i}")
        if aid in seen:
            raise CorpusError(f"{path.name}:{i}: duplicate id {aid!r}")
        seen.add(aid)
        date = rec.get("date")
        articles.append(
            Article(
                id=aid,
                headline=str(rec.get("title") or text[:20]),
                body=text,
                source=str(rec.get("source") or path.name),
                paper=rec.get("paper") or rec.get("source"),
                date=str(date) if date else None,
                date_mentions=tuple(dict.fromkeys(_DATE_MENTION.findall(text))),
                raw_start=0,
                raw_end=len(text),
            )
        )
    return articles
