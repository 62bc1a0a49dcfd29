"""Load an archive (folders of page .txt/.pdf/images, article .html, .jsonl) into articles, skipping bad files with their reason."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

from qa.settings import max_article_chars as default_max_article_chars
from qa.errors import CorpusError
from qa.ingest.dates import iso_date, path_date
from qa.ingest.parse import LAYOUTS, find_banners, parse_text, read_jsonl_articles
from qa.types import Article, Span

log = logging.getLogger(__name__)

PAGE_TEXT = (".txt",)
PDF = (".pdf",)
IMAGES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
HTML = (".html", ".htm", ".xhtml")
JSONL = (".jsonl",)
SUFFIXES = PAGE_TEXT + PDF + IMAGES + HTML + JSONL


@dataclass(frozen=True)
class SourceFile:
    """One archive file and the names it is cited by."""

    path: Path
    source: str  # path relative to the archive root, with / (what citations show)
    id_prefix: str  # ``source`` without its suffix: article ids are <id_prefix>-01...


@dataclass(frozen=True)
class Skipped:
    """A file left out of a build, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    """What an archive yielded: articles, the files they came from (with content hashes), and the files skipped."""

    articles: tuple[Article, ...]
    files: dict[str, str]  # source -> sha256 of the file's bytes, for every file read (skipped ones too)
    skipped: tuple[Skipped, ...]

    def summary(self) -> str:
        """One line for the end of a build: ``indexed 118 files, skipped 3: a.pdf (damaged...); ...``."""
        used = len(self.files) - len(self.skipped)
        line = f"indexed {used} files ({len(self.articles)} articles)"
        if self.skipped:
            line += f", skipped {len(self.skipped)}: " + "; ".join(f"{s.source} ({s.reason})" for s in self.skipped)
        return line


def _supported(p: Path) -> bool:
    return p.suffix.lower() in SUFFIXES


def archive_files(paths: Iterable[Path]) -> list[SourceFile]:
    """Expand folders into the archive files under them, named relative to the folder given.

    Suffixes are matched case-insensitively (``.TXT``, ``.PDF``). Folders named
    ``index`` and hidden files are skipped. A file reached twice is listed once.

    Args:
        paths: files or folders (each folder is an archive root).

    Returns:
        Files in path order with their citation names.

    Raises:
        CorpusError: when a path does not exist, a file given by name has an unsupported
            type, or nothing readable is found.
    """
    out: list[SourceFile] = []
    seen_paths: set[Path] = set()
    seen_sources: set[str] = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = [(f, f.relative_to(p)) for f in sorted(p.rglob("*"))
                     if f.is_file() and _supported(f) and "index" not in f.relative_to(p).parts[:-1]
                     and not any(part.startswith(".") for part in f.relative_to(p).parts)]
        elif p.is_file():
            if not _supported(p):
                raise CorpusError(f"{p}: unsupported file type {p.suffix!r} (expected one of {', '.join(SUFFIXES)})")
            found = [(p, Path(p.name))]
        else:
            raise CorpusError(f"{p}: no such file or folder")
        for f, rel in found:
            key = f.resolve()
            if key in seen_paths:
                continue
            seen_paths.add(key)
            source = rel.as_posix()
            if source in seen_sources:  # the same relative name under two roots: name the root too
                source = f"{p.resolve().name}/{source}"
            seen_sources.add(source)
            out.append(SourceFile(f, source, source[: -len(f.suffix)] if f.suffix else source))
    if not out:
        raise CorpusError(f"no archive files ({', '.join(SUFFIXES)}) found in " + ", ".join(str(p) for p in paths))
    return out


def corpus_files(paths: Iterable[Path]) -> list[Path]:
    """The archive files under ``paths`` (see ``archive_files``), as paths."""
    return [f.path for f in archive_files(paths)]


@dataclass(frozen=True)
class _Page:
    text: str
    source: str  # citation name: file, or file#pN for a PDF page
    id_prefix: str


def _read(f: SourceFile, data: bytes, ocr: bool) -> list[_Page] | list[Article]:
    """A file's pages (to be parsed) or, for HTML/JSONL, its articles."""
    suffix = f.path.suffix.lower()
    if suffix in PAGE_TEXT:
        from qa.ingest.encoding import decode_text

        return [_Page(decode_text(data, f.source), f.source, f.id_prefix)]
    if suffix in PDF:
        from qa.ingest.pdf import pdf_pages

        # the page number goes into the citation: 2023-05-25/01.pdf#p2
        return [_Page(p.text, f"{f.source}#p{p.number}", f"{f.id_prefix}-p{p.number}") for p in pdf_pages(data, f.source, ocr=ocr)]
    if suffix in IMAGES:
        if not ocr:
            raise CorpusError(f"{f.source}: an image needs OCR, which is turned off")
        from qa.ingest.ocr import ocr_image_file

        return [_Page(ocr_image_file(data, f.source), f.source, f.id_prefix)]
    if suffix in HTML:
        return [_html_article(f, data)]
    return read_jsonl_articles(f.path, source=f.source, id_prefix=f.id_prefix)


def _html_article(f: SourceFile, data: bytes) -> Article:
    from qa.ingest.html import read_html
    from qa.ingest.parse import BYLINE, date_mentions

    page = read_html(data, f.source)
    title = page.title or page.text.splitlines()[0][:40]
    body, byline = page.text, page.author
    m = BYLINE.match(body)
    if m and m.end() < len(body.split("\n", 1)[0]):  # 本报讯 opening the text: the byline, as on a page
        byline = byline or m.group(0).strip()
        body = body[m.end():].lstrip()
    return Article(
        id=f"{f.id_prefix}-01", headline=title, body=body, source=f.source, byline=byline,
        paper=page.paper, date=iso_date(page.date) if page.date else None, page=page.edition,
        date_mentions=date_mentions(body), raw_start=len(page.text) - len(body), raw_end=len(page.text),
        # offsets refer to the page's extracted main text (the HTML itself has markup in between)
        spans=(Span(0, len(page.text) - len(body), len(body)),),
    )


def load_corpus(paths: Iterable[Path], layout: str = "auto", ocr: bool = True,
                progress: Callable[[int, int], None] | None = None, max_article_chars: int | None = None) -> Corpus:
    """Read every archive file under ``paths`` into articles; a file that cannot be read is skipped with its reason.

    Slogan banners are detected across all pages together (a line repeated on two pages
    is furniture), so pages are read before any is parsed. An article with no printed
    issue date takes the date its path names (``2023-05-25/01.txt``).

    Args:
        paths: archive files or folders.
        layout: how text pages are read: ``auto``, ``page`` or ``plain`` (``qa.ingest.parse.parse_text``).
        ocr: OCR images and PDF pages without a text layer.
        progress: called with (files read, total files) as files are read (OCR can take a while).
        max_article_chars: an article whose body is longer is skipped with a warning naming
            it (a runaway page, not an article); None: ``qa.settings.max_article_chars()``; 0: no cap.

    Returns:
        The articles (unique ids), every file's content hash, and the skipped files.

    Raises:
        CorpusError: when no file yields any article (the message lists why each was skipped).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    cap = default_max_article_chars() if max_article_chars is None else max_article_chars
    files = archive_files(paths)
    hashes: dict[str, str] = {}
    skipped: list[Skipped] = []
    read: list[tuple[SourceFile, list]] = []
    for n, f in enumerate(files, 1):
        if progress:
            progress(n - 1, len(files))
        try:
            data = f.path.read_bytes()
        except OSError as e:
            skipped.append(Skipped(f.source, f"cannot read: {e.strerror}"))
            continue
        hashes[f.source] = hashlib.sha256(data).hexdigest()
        try:
            read.append((f, _read(f, data, ocr)))
        except CorpusError as e:
            skipped.append(Skipped(f.source, _reason(e, f.source)))
        except Exception as e:  # noqa: BLE001 - a reader library failing on a hostile file
            # the parsers (pdfminer, PIL, lxml, onnxruntime) raise their own types on files
            # they do not expect; one such file must not end the build
            log.debug("reading %s failed", f.source, exc_info=True)
            skipped.append(Skipped(f.source, f"unreadable ({type(e).__name__}: {e})"))
    if progress:
        progress(len(files), len(files))
    banners = find_banners(p.text for _, items in read for p in items if isinstance(p, _Page))
    articles: list[Article] = []
    ids: dict[str, str] = {}
    for f, items in read:
        found: list[Article] = []
        for item in items:
            if isinstance(item, _Page):
                found.extend(parse_text(item.text, item.source, layout=layout, banners=banners, id_prefix=item.id_prefix))
            else:
                found.append(item)
        if not found:
            skipped.append(Skipped(f.source, "no articles found"))
            continue
        clash = next((a.id for a in found if a.id in ids), None)
        if clash is not None:
            skipped.append(Skipped(f.source, f"duplicate article id {clash!r} (also in {ids[clash]})"))
            continue
        # a masthead printed on the first page of a PDF holds for its other pages; else the path's date
        paper = next((a.paper for a in found if a.paper), None)
        date = next((a.date for a in found if a.date), None) or path_date(f.source)
        for a in found:
            if cap and len(a.body) > cap:  # a runaway page (one 20 MB line), not an article: hours of embedding
                log.warning("%s: skipped article %r (%d characters, more than the %d allowed; "
                            "raise NEWSQA_MAX_ARTICLE_CHARS to index it)", f.source, a.title[:40], len(a.body), cap)
                continue
            ids[a.id] = f.source
            articles.append(replace(a, paper=a.paper or paper, date=a.date or date))
    for s in skipped:
        log.warning("skipped %s: %s", s.source, s.reason)
    if not articles:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped[:10])
        raise CorpusError(f"no articles found in {', '.join(str(p) for p in paths)}" + (f" (skipped {reasons})" if reasons else ""))
    order = {f.source: i for i, f in enumerate(files)}
    skipped.sort(key=lambda s: order.get(s.source, 0))
    return Corpus(tuple(articles), hashes, tuple(skipped))


def _reason(e: CorpusError, source: str) -> str:
    msg = str(e)
    return msg[len(source) + 2:] if msg.startswith(source + ": ") else msg


def load_articles(paths: Iterable[Path], layout: str = "auto", max_article_chars: int | None = None) -> list[Article]:
    """The articles of ``load_corpus(paths)`` (bad files skipped, with a warning logged)."""
    return list(load_corpus(paths, layout=layout, max_article_chars=max_article_chars).articles)


def corpus_hash(articles: Iterable[Article]) -> str:
    """A sha256 over every article's id, title, date and body, in order."""
    h = hashlib.sha256()
    for a in articles:
        for part in (a.id, a.title, a.date or "", a.body):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()
