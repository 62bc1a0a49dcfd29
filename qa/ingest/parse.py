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
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from qa.errors import CorpusError
from qa.ingest.dates import iso_date
from qa.types import Article, Span

log = logging.getLogger(__name__)

# Sentence-final punctuation: a body line ending in one of these closes its paragraph.
_TERMINALS = set("。！？!?…")
_CLOSERS = set("”’」』）)\"'")
# Punctuation that never appears in a headline line but always in prose.
_PROSE_PUNCT = re.compile(r"[，,。！？；;!?]")
_HEADLINE_MAX = 40

# An issue date line: 2023年3月1日, 2023年3月1日 星期三, 2023-03-01 周三, 2023/3/1 农历二月初十
# (matched on the NFKC form, so full-width digits count).
_DATE_LINE = re.compile(
    r"^(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?"
    r"(?:\s*(?:星期|周|礼拜)[一二三四五六日天])?(?:\s*农历\S{0,12})?(?:\s*第\d+期)?$"
)
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
    r"^(本[报報][讯訊]\s*([（(][^）)]{0,80}[）)])?|[（(](记者|記者|通讯员|通訊員|本报记者|本報記者)[^）)]{0,80}[）)])"
)
# Page references and photo credits printed at the end of a paragraph.
_TRAILING_FURNITURE = re.compile(r"\s*[（(](?:[上下]转第?[一二三四五六七八九十\d]+版|[^()（）]{0,40}摄)[)）]\s*$")
# Numbered sub-heads inside one article: 一、… （二）… 3. …
_NUMBERED_SUBHEAD = re.compile(r"^(?:[一二三四五六七八九十百]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]|\d{1,2}[、.．](?!\d))")
_LATIN_END = re.compile(r"[A-Za-z0-9,;:%)\]’”\"']$")
_LATIN_START = re.compile(r"^[A-Za-z0-9(\[‘“\"']")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
_DATE_MENTION = re.compile(r"(?:\d{4}年)?\d{1,2}月\d{1,2}日")
BYLINE = _BYLINE  # for readers of other formats (an HTML page's text opening with 本报讯)
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


def _date_line(text: str) -> re.Match[str] | None:
    return _DATE_LINE.match(unicodedata.normalize("NFKC", text))


def _join_line(para: list[tuple[str, int]], pieces: list[tuple[str, int]]) -> None:
    """Append a wrapped line to a paragraph: Chinese lines join directly, Latin words get a space.

    The space has no raw counterpart (the raw file has a line break there), so its
    piece carries raw offset -1 and no ``Span``.
    """
    prev = "".join(t for t, _ in para)
    nxt = "".join(t for t, _ in pieces)
    # only between Latin runs: a Chinese line broken inside a number (共计12|3万元) joins directly
    if (prev and nxt and _LATIN_END.search(prev) and _LATIN_START.match(nxt)
            and not _CJK.search(prev[-12:]) and not _CJK.search(nxt[:12])):
        para.append((" ", -1))
    para.extend(pieces)


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
    if not any(_date_line(ln.text) for ln in lines[:4]):
        return 0, None, None
    last = -1
    for i, ln in enumerate(lines[:15]):
        if _date_line(ln.text) or any(p.search(ln.text) for p in _MASTHEAD[1:]):
            last = i
    head = lines[: last + 1]
    date = paper = None
    for ln in head:
        m = _date_line(ln.text)
        if m and date is None:
            date = iso_date(f"{m[1]}-{m[2]}-{m[3]}")
        elif not m and paper is None and not any(p.search(ln.text) for p in _MASTHEAD[1:]) and len(ln.text) <= 8:
            paper = ln.text
    return last + 1, paper, date


def parse_page(raw: str, source: str, *, banners: frozenset[str] = frozenset(), id_prefix: str | None = None) -> list[Article]:
    """Parse one page of extracted newspaper text into articles.

    Args:
        raw: the page text as read from the file.
        source: the raw file name, recorded on every article.
        banners: lines to treat as page furniture (see ``find_banners``).
        id_prefix: article ids are ``<id_prefix>-01``, ``-02``...; default the stem of ``source``.

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
        if _is_headline_like(text) and text not in _SUBHEADS and not _BYLINE.match(text):
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
            _join_line(current.paras[-1].pieces, ln.pieces)  # column break: rejoin (no space in Chinese)
        else:
            current.paras.append(_Para(list(ln.pieces)))
        current.end = ln.end

    if pending:  # headlines left at the page's end: a title printed away from its article
        _place_orphans(drafts, pending)

    prefix = Path(source).stem if id_prefix is None else id_prefix
    return [_finish(d, i, source, paper, date, prefix) for i, d in enumerate(drafts, 1)]


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


def _finish(d: _Draft, n: int, source: str, paper: str | None, date: str | None, prefix: str) -> Article:
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
            if raw_start >= 0:  # an inserted space between Latin lines has no raw text
                spans.append(Span(pos, raw_start, len(text)))
            body_parts.append(text)
            pos += len(text)
    body = "".join(body_parts)
    start = d.heads[0].start if d.heads else (spans[0].raw_start if spans else 0)
    if not headline:
        headline = body[:20]
    return Article(
        id=f"{prefix}-{n:02d}",
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
    """Read a text file in UTF-8, GB18030, Big5... (``qa.ingest.encoding``), raising ``CorpusError`` with the file name on failure."""
    from qa.ingest.encoding import decode_text

    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror})") from None
    return decode_text(data, str(path))


_JSONL_STRING_FIELDS = ("id", "title", "date", "source", "paper")


def _jsonl_date(value: object, path: Path, line: int) -> str | None:
    """A JSONL record's date in ISO form; a value that is no date is an error naming the line."""
    if value is None or value == "":
        return None
    iso = iso_date(str(value))
    if iso is None:
        raise CorpusError(f"{path.name}:{line}: date {value!r} is not a date (expected e.g. 2023-03-01, 2023/03/01 or 2023年3月1日)")
    return iso


def date_mentions(text: str) -> tuple[str, ...]:
    """The dates a text mentions (3月1日, 2023年3月1日), first occurrence order."""
    return tuple(dict.fromkeys(_DATE_MENTION.findall(text)))


def read_jsonl_articles(path: Path, source: str | None = None, id_prefix: str | None = None) -> list[Article]:
    """Read a JSONL archive of ``{"id","title","text","date","source"}`` objects.

    Dates are normalised to ISO (``2023/03/01`` and ``2023年3月1日`` become ``2023-03-01``).

    Args:
        path: the JSONL file.
        source: the file's name in citations when a record names none (default the file name).
        id_prefix: ids of records without one are ``<id_prefix>-<line>`` (default the file stem).

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
        aid = str(rec.get("id") or f"{id_prefix or path.stem}-{i}")
        if aid in seen:
            raise CorpusError(f"{path.name}:{i}: duplicate id {aid!r}")
        seen.add(aid)
        date = _jsonl_date(rec.get("date"), path, i)
        articles.append(
            Article(
                id=aid,
                headline=str(rec.get("title") or text[:20]),
                body=text,
                source=str(rec.get("source") or source or path.name),
                paper=rec.get("paper") or rec.get("source"),
                date=date,
                date_mentions=tuple(dict.fromkeys(_DATE_MENTION.findall(text))),
                raw_start=0,
                raw_end=len(text),
            )
        )
    return articles


LAYOUTS = ("auto", "page", "plain")


def looks_plain(raw: str) -> bool:
    """Whether a text file is one plain article rather than a newspaper page.

    A page has a masthead, a byline (本报讯, （记者…）) or several headlines; a plain
    article has a title line, prose and at most numbered sub-heads (一、…). Text mostly
    in Latin letters is read as a plain article too (the page heuristics are for
    Chinese layout).
    """
    lines = _lines(raw)
    if not lines:
        return False
    if _masthead(lines)[0] or any(_BYLINE.match(ln.text) for ln in lines):
        return False
    letters = [ch for ch in raw if ch.isalpha()]
    if letters and sum(ch.isascii() for ch in letters) / len(letters) > 0.5:
        return True
    heads = [ln.text for ln in lines[1:] if _is_headline_like(ln.text) and not _NUMBERED_SUBHEAD.match(ln.text)
             and ln.text not in _SUBHEADS and not any(p.search(ln.text) for p in _FURNITURE)]
    return not heads


def parse_plain(raw: str, source: str, *, id_prefix: str | None = None) -> list[Article]:
    """Read a file as one article: the first line is the title, the rest its body.

    Wrapped lines are joined into paragraphs (Latin words with a space); a blank line,
    a sentence end or a numbered sub-head (一、…) ends a paragraph; sub-heads stay in
    the body as paragraphs of their own. A date line under the title is the article's
    date; a byline opening the body is split off.

    Args:
        raw: the file's text.
        source: recorded on the article.
        id_prefix: the article id is ``<id_prefix>-01``; default the stem of ``source``.

    Returns:
        One article (none for an empty file).
    """
    lines = _lines(raw)
    if not lines:
        return []
    title, rest = lines[0], lines[1:]
    date = None
    if rest and _date_line(rest[0].text):
        m = _date_line(rest[0].text)
        date, rest = iso_date(f"{m[1]}-{m[2]}-{m[3]}"), rest[1:]
    paras: list[_Para] = []
    prev: _Line | None = None
    for ln in rest:
        if any(p.search(ln.text) for p in _FURNITURE):
            continue
        blank_before = prev is not None and "\n\n" in raw[prev.end : ln.start].replace(" ", "").replace("\t", "")
        sub = bool(_NUMBERED_SUBHEAD.match(ln.text)) or ln.text in _SUBHEADS
        prev_sub = bool(paras) and (bool(_NUMBERED_SUBHEAD.match(paras[-1].text)) and _is_headline_like(paras[-1].text))
        if not paras or blank_before or sub or prev_sub or _terminated(paras[-1].text):
            paras.append(_Para(list(ln.pieces)))
        else:
            _join_line(paras[-1].pieces, ln.pieces)
        prev = ln
    draft = _Draft(heads=[title], paras=paras, end=(prev or title).end)
    prefix = Path(source).stem if id_prefix is None else id_prefix
    return [_finish(draft, 1, source, None, date, prefix)]


def parse_text(raw: str, source: str, *, layout: str = "auto", banners: frozenset[str] = frozenset(),
               id_prefix: str | None = None) -> list[Article]:
    """Parse a text file as a newspaper page or as one plain article.

    Args:
        raw: the text.
        source: recorded on every article.
        layout: ``page`` (``parse_page``), ``plain`` (``parse_plain``) or ``auto`` (``looks_plain`` decides).
        banners: page furniture lines (``find_banners``), for page layout.
        id_prefix: the article id prefix (default the stem of ``source``).

    Returns:
        The articles.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "plain" or (layout == "auto" and looks_plain(raw)):
        return parse_plain(raw, source, id_prefix=id_prefix)
    return parse_page(raw, source, banners=banners, id_prefix=id_prefix)
