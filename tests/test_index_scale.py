"""Format 3 at any size: metadata read on demand agrees with the whole-corpus computations it replaced, and the open-time check."""

from __future__ import annotations

import datetime as _dt
import json
import shutil

import numpy as np
import pytest

import qa.index.store as store
from embeddings.encoder import HashingEmbedder
from qa.answer.extractive import LexicalStats
from qa.errors import IndexCorruptError, IndexMismatchError
from qa.index.store import current_generation, manifest_digest, verify_index
from qa.retrieve.retriever import Retriever
from qa.text import norm
from qa.timeq import ArchiveDates, DateRange


@pytest.fixture(scope="module")
def idx(small_index):
    return verify_index(small_index)


def test_stored_gram_counts_give_the_same_idf(idx, seed_articles):
    whole = LexicalStats(seed_articles)
    stored = LexicalStats.stored(len(idx.articles), idx.meta.gram_count)
    grams = ["刘坂", "村民", "的", "2023", "zzzz", "图书"]
    assert stored.n == whole.n
    assert [stored.idf(g) for g in grams] == [whole.idf(g) for g in grams]


def _ranges(seed_articles):
    dates = sorted({a.date for a in seed_articles if a.date})
    assert dates, "the seed corpus has a dated page"
    d0 = _dt.date.fromisoformat(dates[0])
    named = sorted({d for e in ArchiveDates(seed_articles).entries for d in e[2]})
    assert named, "the seed pages name days"
    days = [dates[0], dates[-1], named[0].isoformat(), named[-1].isoformat()]
    out = [DateRange(d, d, "那天", day=True) for d in days]
    out += [DateRange(d, d, "那天") for d in days]
    out += [DateRange(f"{y}-01-01", f"{y}-12-31", "那年") for y in (d0.year, d0.year - 1, 1990)]
    out += [DateRange(f"{d0.year}-{d0.month:02d}-01", f"{d0.year}-{d0.month:02d}-28", "那月")]
    return out


def test_stored_archive_dates_keep_the_same_articles(idx, seed_articles):
    whole = ArchiveDates(seed_articles)
    stored = idx.articles.archive_dates()
    assert (stored.newest, stored.dated, stored.count) == (whole.newest, whole.dated, len(whole.entries))
    for rng in _ranges(seed_articles):
        assert stored.ids_in(rng) == whole.ids_in(rng), rng


def test_sql_filters_match_a_pass_over_the_articles(idx, seed_articles):
    r = Retriever(idx, HashingEmbedder(dim=256))
    by_id = {a.id: a for a in seed_articles}
    paper = next(a.paper for a in seed_articles if a.paper)
    dates = sorted({a.date for a in seed_articles if a.date})
    some = {a.id for a in seed_articles[::3]}
    cases = [dict(paper=" " + paper.upper() + " "), dict(date_from=dates[0], date_to=dates[0]), dict(date_to=dates[-1]),
             dict(paper="没有这家报纸"), dict(article_ids=some), dict(article_ids=some, date_from=dates[0])]
    for kw in cases:
        want = np.array([
            (kw.get("article_ids") is None or c.article_id in kw["article_ids"])
            and (not kw.get("paper") or norm(by_id[c.article_id].paper or "") == norm(kw["paper"]))
            and (not (kw.get("date_from") or kw.get("date_to")) or (
                bool(by_id[c.article_id].date) and (kw.get("date_from") or "") <= by_id[c.article_id].date <= (kw.get("date_to") or "9999")))
            for c in idx.chunks], dtype=bool)
        assert np.array_equal(r.allowed(**kw), want), kw


def test_views_behave_like_the_dict_and_tuple_they_replace(idx, seed_articles):
    vals = idx.articles.values()
    assert list(vals) == list(vals) == seed_articles  # re-iterable, index order
    assert len(idx.chunks) == idx.size == idx.manifest["counts"]["chunks"]
    assert idx.chunks[-1].id == idx.size - 1
    assert idx.meta.papers() == sorted({a.paper for a in seed_articles if a.paper})
    dates = sorted(a.date for a in seed_articles if a.date)
    assert idx.meta.date_span() == (dates[0], dates[-1])
    newest = idx.meta.newest(3)
    assert [a.date for a in newest] == sorted(dates, reverse=True)[:3]


def test_big_file_is_checked_by_size_and_samples_on_open_and_fully_on_verify(small_index, tmp_path, monkeypatch):
    out = tmp_path / "idx"
    shutil.copytree(small_index, out)
    gen = current_generation(out)
    monkeypatch.setattr(store, "FULL_HASH_MAX", 1024)  # every generation file counts as big
    monkeypatch.setattr(store, "_BLOCK", 64)  # and its samples leave most bytes out, as they do in a multi-GB file
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    m["sampled_sha256"] = {n: store.sampled_sha256(gen / n) for n in store.FILES}
    m["manifest_sha256"] = manifest_digest(m)
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    verify_index(out)  # intact
    vec = gen / "vectors.faiss"
    data = bytearray(vec.read_bytes())
    size = len(data)
    # a byte between the sampled blocks: the open-time check cannot see it, the full one does
    block, last = store._BLOCK, max(size - store._BLOCK, 0)
    starts = [last * i // (store.SAMPLES - 1) for i in range(store.SAMPLES)]
    unsampled = next((p for p in range(size) if not any(s <= p < s + block for s in starts)), None)
    assert unsampled is not None
    if unsampled is not None:
        data[unsampled] ^= 0xFF
        vec.write_bytes(bytes(data))
        verify_index(out)
        with pytest.raises(IndexCorruptError, match="vectors.faiss"):
            verify_index(out, full=True)
        data[unsampled] ^= 0xFF
    # a sampled byte, and a cut tail, are caught on open
    data[0] ^= 0xFF
    vec.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        verify_index(out)
    data[0] ^= 0xFF
    vec.write_bytes(bytes(data[:-10]))
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        verify_index(out)


def test_format_2_index_is_refused_with_the_rebuild_command(small_index, tmp_path):
    out = tmp_path / "idx"
    shutil.copytree(small_index, out)
    gen = current_generation(out)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    m["format_version"] = 2
    m["manifest_sha256"] = manifest_digest(m)
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="format 2.*rebuild with: newsqa index"):
        verify_index(out)


def test_meta_rows_damaged_after_the_manifest_was_fixed_up_are_found_by_the_full_check(small_index, tmp_path):
    import sqlite3

    out = tmp_path / "idx"
    shutil.copytree(small_index, out)
    gen = current_generation(out)
    con = sqlite3.connect(gen / "meta.sqlite")
    con.execute("UPDATE chunks SET article_row = 99999 WHERE id = 3")
    con.commit()
    con.close()
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    m["files"]["meta.sqlite"] = store.safe_io.sha256(gen / "meta.sqlite", 1 << 30)
    m["sizes"]["meta.sqlite"] = (gen / "meta.sqlite").stat().st_size
    m["sampled_sha256"]["meta.sqlite"] = store.sampled_sha256(gen / "meta.sqlite")
    m["manifest_sha256"] = manifest_digest(m)
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="unknown articles"):
        verify_index(out, full=True)


def test_sqlite_vocabulary_answers_like_the_dict_it_was_written_from(tmp_path):
    from qa.lexical.bm25 import VOCAB_FILE, LexicalIndex

    built = LexicalIndex.build(["刘坂村共有村民", "水库 Liuban", ""], "both")
    built.save(tmp_path)
    assert not (tmp_path / "bm25.vocab.json").exists()
    loaded = LexicalIndex.load(tmp_path, "both", 3, pinyin=True)
    want, got = dict(built.bm25.vocab_dict), loaded.bm25.vocab_dict
    assert len(got) == len(want) and dict(got.items()) == want  # "" included
    for t in [*want, "没有的词", ""]:
        assert (t in got, got.get(t)) == (t in want, want.get(t))
    assert [loaded.search(q, 3) for q in ("刘坂村", "水库")] == [built.search(q, 3) for q in ("刘坂村", "水库")]
    b = bytearray((tmp_path / VOCAB_FILE).read_bytes())
    (tmp_path / VOCAB_FILE).write_bytes(bytes(b[: len(b) // 2]))  # damaged: a typed error, never a traceback
    with pytest.raises(IndexCorruptError):
        LexicalIndex.load(tmp_path, "both", 3, pinyin=True).search("村民", 3)
