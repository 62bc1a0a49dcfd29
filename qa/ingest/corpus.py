"""Load a corpus folder (newspaper page .txt files and article .jsonl files) into articles."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterable

from qa.settings import max_article_chars as default_max_article_chars
from qa.errors import CorpusError
from qa.ingest.parse import find_banners, parse_page, read_jsonl_articles, read_text
from qa.types import Article

log = logging.getLogger(__name__)


def corpus_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the .txt and .jsonl files under them, sorted, no duplicates.

    Args:
        paths: files or folders.

    Returns:
        Sorted list of files. Folders named ``index`` are skipped.

    Raises:
        CorpusError: when a path does not exist or nothing readable is found.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.suffix in (".txt", ".jsonl") and f.is_file() and "index" not in f.relative_to(p).parts[:-1]:
                    files.append(f)
        elif p.is_file():
            if p.suffix not in (".txt", ".jsonl"):
                raise CorpusError(f"{p}: unsupported file type {p.suffix!r} (expected .txt pages or .jsonl articles)")
            files.append(p)
        else:
            raise CorpusError(f"{p}: no such file or folder")
    files = sorted(dict.fromkeys(f.resolve() for f in files))
    if not files:
        raise CorpusError("no .txt or .jsonl files found in " + ", ".join(str(p) for p in paths))
    return files


def load_articles(paths: Iterable[Path], max_article_chars: int | None = None) -> list[Article]:
    """Parse every page and JSONL file under ``paths`` into articles.

    Slogan banners are detected across all pages together (a line repeated on two
    pages is furniture), so pages are read before any is parsed.

    Args:
        paths: corpus files or folders.
        max_article_chars: an article whose body is longer is skipped with a warning naming
            it (a runaway page, not an article); None: ``qa.settings.max_article_chars()``; 0: no cap.

    Returns:
        Articles in file order, each with a unique id.
    """
    cap = default_max_article_chars() if max_article_chars is None else max_article_chars
    files = corpus_files(paths)
    pages = {f: read_text(f) for f in files if f.suffix == ".txt"}
    banners = find_banners(pages.values())
    articles: list[Article] = []
    for f in files:
        if f.suffix == ".txt":
            found = parse_page(pages[f], f.name, banners=banners)
            if not found:
                log.warning("%s: no articles found", f.name)
        else:
            found = read_jsonl_articles(f)
        for a in found:
            if cap and len(a.body) > cap:
                log.warning("%s: skipped article %r (%d characters, more than the %d allowed; "
                            "raise NEWSQA_MAX_ARTICLE_CHARS to index it)", f.name, a.title[:40], len(a.body), cap)
            else:
                articles.append(a)
    ids = [a.id for a in articles]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CorpusError(f"duplicate article ids across files: {', '.join(dupes[:5])}")
    return articles


def corpus_hash(articles: Iterable[Article]) -> str:
    """A sha256 over every article's id, title, date and body, in order."""
    h = hashlib.sha256()
    for a in articles:
        for part in (a.id, a.title, a.date or "", a.body):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()
