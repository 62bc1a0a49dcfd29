"""The SQLite metadata store: what is written reads back the same, on demand, with SQL filters."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from qa.errors import IndexCorruptError
from qa.index.meta import MetaStore, write_meta
from qa.ingest.chunking import chunk_articles
from conftest import SMALL_PARAMS


@pytest.fixture(scope="module")
def store(tmp_path_factory, seed_articles):
    chunks = chunk_articles(seed_articles, SMALL_PARAMS, len)
    path = tmp_path_factory.mktemp("meta") / "meta.sqlite"
    write_meta(path, iter(seed_articles), iter(chunks))
    s = MetaStore(path, cache_size=8)
    yield s, seed_articles, chunks
    s.close()


def test_rows_read_back_exactly(store):
    s, arts, chunks = store
    assert len(s.articles) == len(arts) and len(s.chunks) == len(chunks)
    for a in arts:
        assert s.articles[a.id] == a
    assert list(s.articles) == [a.id for a in arts]
    assert list(s.articles.values()) == arts
    assert list(s.chunks) == chunks
    assert s.chunks[-1] == chunks[-1] and s.chunks[3:5] == chunks[3:5]
    assert arts[0].id in s.articles and "nope" not in s.articles
    with pytest.raises(KeyError):
        s.articles["nope"]
    with pytest.raises(IndexError):
        s.chunks[len(chunks)]


def test_chunk_mask_filters_like_a_pass_over_articles(store):
    s, arts, chunks = store
    by_id = {a.id: a for a in arts}
    papers = sorted({a.paper for a in arts if a.paper}) or [None]
    dates = sorted({a.date for a in arts if a.date}) or [None]
    for paper, lo, hi in [(None, None, None), (papers[0], None, None), (None, dates[0], dates[-1]), (None, "2999-01-01", None)]:
        want = np.array([(paper is None or by_id[c.article_id].paper == paper)
                         and (lo is None or (by_id[c.article_id].date or "") >= lo and by_id[c.article_id].date is not None)
                         and (hi is None or (by_id[c.article_id].date is not None and by_id[c.article_id].date <= hi))
                         for c in chunks])
        assert (s.chunk_mask(paper, lo, hi) == want).all(), (paper, lo, hi)


def test_threads_share_one_store(store):
    s, _, chunks = store
    errors = []

    def read():
        try:
            for i in range(0, len(chunks), 3):
                assert s.chunks[i] == chunks[i]
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors


def test_damaged_file_is_a_corrupt_index_error(tmp_path):
    p = tmp_path / "meta.sqlite"
    p.write_bytes(b"SQLite format 3\0" + b"\x01" * 2000)
    with pytest.raises(IndexCorruptError, match="meta.sqlite"):
        len(MetaStore(p).chunks)
    with pytest.raises(IndexCorruptError, match="missing"):
        MetaStore(tmp_path / "none.sqlite")
