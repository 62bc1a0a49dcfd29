"""Article and chunk metadata in one SQLite file (stdlib sqlite3), read on demand instead of loaded whole.

A chunk is stored as its article and offsets (its text is ``article.body[start:end]``), so
the text is stored once.

Written once by a build, then opened read-only and immutable: a lookup reads the pages it
needs, so opening costs the same at a thousand chunks as at a million, and memory holds
only what was asked for (plus a small cache). Filters by paper and date are SQL queries
over indexed columns instead of a pass over every article.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence, ValuesView
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from qa.errors import IndexCorruptError
from qa.timeq import StoredArchiveDates
from qa.types import Article, Chunk

META_FILE = "meta.sqlite"
_SCHEMA = """
CREATE TABLE articles (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, paper TEXT, date TEXT, source TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, article_row INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE TABLE grams (gram TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE named_days (day TEXT NOT NULL, article_row INTEGER NOT NULL);
CREATE TABLE named_years (year INTEGER NOT NULL, article_row INTEGER NOT NULL);
"""
# built after the rows are in: one sorted pass instead of a b-tree insert per row
_INDEXES = """
CREATE INDEX articles_date ON articles(date);
CREATE INDEX articles_paper ON articles(paper, date);
CREATE INDEX chunks_article ON chunks(article_row);
CREATE INDEX named_days_day ON named_days(day, article_row);
CREATE INDEX named_years_year ON named_years(year, article_row);
"""
_BATCH = 10_000


def write_meta(path: Path, articles: Iterable[Article], chunks: Iterable[Chunk],
               grams: Callable[[str], Iterable[str]] | None = None,
               times: Callable[[Article], tuple[Iterable[str], Iterable[int]]] | None = None) -> None:
    """Write the metadata file (the caller fsyncs it and records its sha256, like every generation file).

    Args:
        path: the file to create (must not exist).
        articles: every article, in index order; streamed, not held.
        chunks: every chunk, in id order (ids 0..n-1), with ``text == article.body[start:end]``
            (``qa.ingest.chunking`` guarantees it); streamed, not held.
        grams: when given, the grams of a text (``qa.text.text_grams``); how many articles
            (title + body) hold each gram is stored, so the answerer's IDF needs no pass over
            the archive when an index is opened (``MetaStore.gram_count``).
        times: when given, the days and years an article names (``qa.timeq.article_times``),
            stored so a question's date range is a query (``ArticleTable.archive_dates``).
    """
    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        # one writer, a fresh file, fsynced by the caller: no journal needed
        con.execute("PRAGMA page_size=16384")  # articles are a few KB: small pages would hold one row each, half empty
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(_SCHEMA)
        con.execute("BEGIN")
        rows: dict[str, int] = {}
        batch: list[tuple] = []
        df: Counter[str] = Counter()
        for i, a in enumerate(articles):
            rows[a.id] = i
            if grams is not None:
                df.update(grams(a.title + a.body))
            if times is not None:
                days, years = times(a)
                con.executemany("INSERT INTO named_days VALUES (?,?)", [(d, i) for d in set(days)])
                con.executemany("INSERT INTO named_years VALUES (?,?)", [(y, i) for y in set(years)])
            batch.append((i, a.id, a.paper, a.date, a.source, json.dumps(a.to_dict(), ensure_ascii=False)))
            if len(batch) >= _BATCH:
                con.executemany("INSERT INTO articles VALUES (?,?,?,?,?,?)", batch)
                batch = []
        con.executemany("INSERT INTO articles VALUES (?,?,?,?,?,?)", batch)
        batch = []
        next_id = 0
        for c in chunks:
            if c.id != next_id:
                raise ValueError(f"chunk ids must run 0..n-1 in order; got {c.id} where {next_id} was expected")
            next_id += 1
            batch.append((c.id, rows[c.article_id], c.start, c.end))
            if len(batch) >= _BATCH:
                con.executemany("INSERT INTO chunks VALUES (?,?,?,?)", batch)
                batch = []
        con.executemany("INSERT INTO chunks VALUES (?,?,?,?)", batch)
        con.executemany("INSERT INTO grams VALUES (?,?)", sorted(df.items()))
        con.execute("COMMIT")
        con.executescript(_INDEXES)
    finally:
        con.close()


class MetaStore:
    """A generation's metadata file, opened read-only; ``articles`` and ``chunks`` read rows on demand.

    Safe to share between threads (one connection, used under a lock).
    """

    def __init__(self, path: Path, cache_size: int = 4096) -> None:
        path = Path(path)
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing")
        self._grams: _Cache = _Cache(65536)
        # immutable=1: the file never changes once written, so no locks and no journal checks
        self._con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self.path = path
        self.articles = ArticleTable(self, cache_size)
        self.chunks = ChunkTable(self, cache_size)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._con.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"{self.path}: cannot read metadata ({e})") from None

    def stream(self, sql: str, args: tuple = (), size: int = 2000) -> Iterator[tuple]:
        """Rows of a query in batches, holding the lock only while a batch is fetched."""
        last = -1
        while True:
            rows = self.query(sql, (*args, last, size))
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def chunk_mask(self, paper: str | Sequence[str] | None = None, date_from: str | None = None, date_to: str | None = None,
                   article_ids: Iterable[str] | None = None) -> np.ndarray:
        """A boolean mask over chunk ids: chunks of articles from ``paper`` dated within [date_from, date_to].

        Args:
            paper: one paper name or several (as stored; ``papers()`` lists them).
            date_from, date_to: inclusive ISO bounds; undated articles are left out when a
                bound is given, as ``qa.retrieve`` does.
            article_ids: when given, only these articles.
        """
        where, args = [], []
        if paper is not None:
            names = [paper] if isinstance(paper, str) else list(paper)
            where.append(f"a.paper IN ({','.join('?' * len(names))})" if names else "0")
            args.extend(names)
        if date_from is not None or date_to is not None:
            where.append("a.date IS NOT NULL AND a.date != ''")
        if date_from is not None:
            where.append("a.date >= ?")
            args.append(date_from)
        if date_to is not None:
            where.append("a.date <= ?")
            args.append(date_to)
        mask = np.zeros(len(self.chunks), dtype=bool)
        sql = "SELECT c.id FROM chunks c JOIN articles a ON a.row = c.article_row"
        if article_ids is None:
            ids = self.query(sql + (" WHERE " + " AND ".join(where) if where else ""), tuple(args))
        else:
            wanted, ids = list(dict.fromkeys(article_ids)), []
            for i in range(0, len(wanted), 500):  # SQLite caps the parameters of one statement
                part = wanted[i : i + 500]
                cond = [f"a.id IN ({','.join('?' * len(part))})", *where]
                ids += self.query(sql + " WHERE " + " AND ".join(cond), (*part, *args))
        if ids:
            mask[np.fromiter((r[0] for r in ids), dtype=np.int64, count=len(ids))] = True
        return mask

    def papers(self) -> list[str]:
        """The distinct paper names, sorted (read from the paper index, not the rows)."""
        return [r[0] for r in self.query("SELECT DISTINCT paper FROM articles WHERE paper IS NOT NULL AND paper != '' ORDER BY paper")]

    def date_span(self) -> tuple[str, str] | None:
        """The oldest and newest issue date, or None when no article states one."""
        lo = self.query("SELECT min(date) FROM articles WHERE date IS NOT NULL AND date != ''")[0][0]
        hi = self.query("SELECT max(date) FROM articles WHERE date IS NOT NULL AND date != ''")[0][0]
        return (lo, hi) if lo else None

    def newest(self, limit: int) -> list[Article]:
        """Up to ``limit`` articles, newest issue date first (undated last)."""
        # two queries, each walking the date index: one ORDER BY over an expression would sort every row
        rows = self.query("SELECT data FROM articles WHERE date > '' ORDER BY date DESC LIMIT ?", (int(limit),))
        if len(rows) < limit:
            rows += self.query("SELECT data FROM articles WHERE date IS NULL OR date = '' LIMIT ?", (int(limit) - len(rows),))
        return [Article.from_dict(json.loads(r[0])) for r in rows]

    def gram_count(self, gram: str) -> int:
        """How many articles hold ``gram`` (0 when unknown or not stored)."""
        hit = self._grams.get(gram)
        if hit is not None:
            return hit
        rows = self.query("SELECT df FROM grams WHERE gram = ?", (gram,))
        return self._grams.put(gram, int(rows[0][0]) if rows else 0)

    def check(self) -> None:
        """The full consistency pass (every row): ids run 0..n-1, every chunk's article exists, offsets are sane.

        Raises:
            IndexCorruptError: naming what disagrees.
        """
        n, lo, hi = self.query("SELECT count(*), min(id), max(id) FROM chunks")[0]
        if n and (lo != 0 or hi != n - 1):
            raise IndexCorruptError(f"{self.path}: chunk ids are not 0..{n - 1} (min {lo}, max {hi})")
        orphans = self.query("SELECT count(*) FROM chunks c LEFT JOIN articles a ON a.row = c.article_row WHERE a.row IS NULL")[0][0]
        if orphans:
            raise IndexCorruptError(f"{self.path}: {orphans} chunks point at unknown articles")
        bad = self.query('SELECT count(*) FROM chunks WHERE start < 0 OR "end" < start')[0][0]
        if bad:
            raise IndexCorruptError(f"{self.path}: {bad} chunks have impossible offsets")
        if self.query("PRAGMA quick_check")[0][0] != "ok":
            raise IndexCorruptError(f"{self.path}: SQLite reports the file damaged (PRAGMA quick_check)")

    def close(self) -> None:
        with self._lock:
            self._con.close()


class _Cache(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)
        return value


class ArticleTable(Mapping[str, Article]):
    """Articles by id, read from the metadata file when first asked for."""

    def __init__(self, store: MetaStore, cache_size: int) -> None:
        self._store = store
        self._cache = _Cache(cache_size)
        self._len: int | None = None

    def __getitem__(self, article_id: str) -> Article:
        hit = self._cache.get(article_id)
        if hit is not None:
            return hit
        rows = self._store.query("SELECT data FROM articles WHERE id = ?", (article_id,))
        if not rows:
            raise KeyError(article_id)
        return self._cache.put(article_id, Article.from_dict(json.loads(rows[0][0])))

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._cache or bool(self._store.query("SELECT 1 FROM articles WHERE id = ?", (article_id,)))

    def __len__(self) -> int:
        if self._len is None:
            self._len = int(self._store.query("SELECT count(*) FROM articles")[0][0])
        return self._len

    def __iter__(self) -> Iterator[str]:
        for _, aid in self._store.stream("SELECT row, id FROM articles WHERE row > ? ORDER BY row LIMIT ?"):
            yield aid

    def values(self) -> "ArticleValues":  # type: ignore[override]
        """Every article in index order, streamed (not cached) each time the view is iterated."""
        return ArticleValues(self)

    def stream(self) -> Iterator[Article]:
        for _, data in self._store.stream("SELECT row, data FROM articles WHERE row > ? ORDER BY row LIMIT ?"):
            yield Article.from_dict(json.loads(data))


    def archive_dates(self) -> StoredArchiveDates:
        """The archive's dates for a question's range (``qa.timeq``), answered from the stored dates and indexes."""
        span = self._store.date_span()
        return StoredArchiveDates(span[1] if span else None, len(self), self._ids_in)

    def _ids_in(self, issue_from: str, issue_to: str, day_from: str, day_to: str, year_from: int, year_to: int) -> set[str]:
        rows = self._store.query(
            "SELECT id FROM articles WHERE date IS NULL OR date = '' OR date BETWEEN ? AND ? "
            "UNION SELECT a.id FROM named_days n JOIN articles a ON a.row = n.article_row WHERE n.day BETWEEN ? AND ? "
            "UNION SELECT a.id FROM named_years y JOIN articles a ON a.row = y.article_row WHERE y.year BETWEEN ? AND ?",
            (issue_from, issue_to, day_from, day_to, year_from, year_to))
        return {r[0] for r in rows}


class ArticleValues(ValuesView):
    """``ArticleTable.values()``: re-iterable like a dict's values view, each pass read from the file."""

    def __iter__(self) -> Iterator[Article]:
        return self._mapping.stream()


class ChunkTable(Sequence[Chunk]):
    """Chunks by id (= row in the vector index), read from the metadata file when first asked for."""

    def __init__(self, store: MetaStore, cache_size: int) -> None:
        self._store = store
        self._cache = _Cache(cache_size)
        self._len: int | None = None

    def __len__(self) -> int:
        if self._len is None:
            rows = self._store.query("SELECT max(id) FROM chunks")
            self._len = 0 if rows[0][0] is None else int(rows[0][0]) + 1
        return self._len

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        hit = self._cache.get(i)
        if hit is not None:
            return hit
        rows = self._store.query(
            'SELECT a.id, c.start, c."end" FROM chunks c JOIN articles a ON a.row = c.article_row WHERE c.id = ?', (i,))
        if not rows:
            raise IndexError(f"chunk {i} out of range")
        aid, start, end = rows[0]
        return self._cache.put(i, Chunk(i, aid, self._store.articles[aid].body[start:end], start, end))

    def __iter__(self) -> Iterator[Chunk]:
        sql = ('SELECT c.id, a.id, a.data, c.start, c."end" FROM chunks c JOIN articles a ON a.row = c.article_row '
               "WHERE c.id > ? ORDER BY c.id LIMIT ?")
        body_of: tuple[str, str] = ("", "")
        for cid, aid, data, start, end in self._store.stream(sql):
            if body_of[0] != aid:  # consecutive chunks share their article: parse it once
                body_of = (aid, json.loads(data)["body"])
            yield Chunk(cid, aid, body_of[1][start:end], start, end)
