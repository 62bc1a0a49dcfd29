"""The on-disk index: build, load, model identity checks, damage detection, generations, search."""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import qa.index.build as index_mod
from embeddings.encoder import HashingEmbedder
from qa.ingest.chunking import ChunkParams, chunk_articles
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.index.store import FILES, current_generation, verify_index
from qa.index.build import build_index

PARAMS = ChunkParams(120, 20)


@pytest.fixture(scope="module")
def few_articles(seed_articles):
    # three articles from two pages: enough for every index behaviour, fast to rebuild
    return [seed_articles[0], seed_articles[1], seed_articles[-1]]


@pytest.fixture
def index_copy(small_index, tmp_path) -> Path:
    dst = tmp_path / "idx"
    shutil.copytree(small_index, dst)
    return dst


def _gens(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir() and p.name.startswith("gen-"))


class _Clock:
    """Stands in for the ``time`` module inside qa.index.build, giving each build its own stamp."""

    def __init__(self, stamps, suffixes):
        self._stamps = iter(stamps)
        self._suffixes = iter(suffixes)

    def __getattr__(self, name):
        return getattr(time, name)

    def strftime(self, fmt, *a):
        if fmt == "%Y%m%dT%H%M%S":
            return next(self._stamps)
        return time.strftime(fmt, *a)

    def monotonic_ns(self):
        return next(self._suffixes)


# --------------------------------------------------------------------------- #
# build and load


def test_load_matches_build(small_index, seed_articles, hashing_embedder):
    idx = verify_index(small_index, identity=hashing_embedder.identity)
    expected_chunks = chunk_articles(seed_articles, PARAMS, hashing_embedder.count_tokens)
    assert len(idx.articles) == len(seed_articles) == idx.manifest["counts"]["articles"]
    assert idx.size == len(expected_chunks) == idx.manifest["counts"]["chunks"] == idx.vectors.ntotal
    assert [c.text for c in idx.chunks] == [c.text for c in expected_chunks]
    # articles round-trip through articles.jsonl with bodies and spans intact
    for a in seed_articles:
        assert idx.articles[a.id] == a
    for c in idx.chunks:
        assert idx.articles[c.article_id].body[c.start : c.end] == c.text


def test_manifest_contents(small_index, seed_articles, hashing_embedder):
    gen = current_generation(small_index)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert m["model"] == hashing_embedder.identity
    assert m["dim"] == 256
    assert m["chunking"]["chunk_size"] == 120 and m["chunking"]["chunk_overlap"] == 20
    assert m["counts"]["articles"] == len(seed_articles)
    assert m["counts"]["chunks"] > len(seed_articles)
    assert set(m["files"]) == set(FILES)
    for name, digest in m["files"].items():
        assert len(digest) == 64 and int(digest, 16) >= 0
    assert "faiss-cpu" in m["versions"] and "langchain-text-splitters" in m["versions"]
    assert m["corpus"]["sources"] == sorted({a.source for a in seed_articles})


def test_search_returns_the_embedded_chunk(small_index, hashing_embedder):
    idx = verify_index(small_index)
    c = idx.chunks[17]
    a = idx.articles[c.article_id]
    q = hashing_embedder.embed_queries([index_mod.passage_text(a, c.text)])
    [row] = idx.search(q, 3)
    assert row[0][0] == 17
    assert row[0][1] == pytest.approx(1.0, abs=1e-4)
    assert [s for _, s in row] == sorted((s for _, s in row), reverse=True)


def test_search_never_returns_minus_one(small_index, hashing_embedder):
    idx = verify_index(small_index)
    q = hashing_embedder.embed_queries(["刘坂村", "水库"])
    rows = idx.search(q, idx.size + 100)
    assert len(rows) == 2
    for row in rows:
        ids = [i for i, _ in row]
        assert len(ids) == idx.size
        assert all(0 <= i < idx.size for i in ids)
        assert len(set(ids)) == len(ids)


def test_search_rejects_bad_queries(small_index, hashing_embedder):
    idx = verify_index(small_index)
    q = hashing_embedder.embed_queries(["水库"])
    q[0, 3] = np.nan
    with pytest.raises(IndexMismatchError):
        idx.search(q, 5)
    inf = hashing_embedder.embed_queries(["水库"])
    inf[0, 0] = np.inf
    with pytest.raises(IndexMismatchError):
        idx.search(inf, 5)
    with pytest.raises(IndexMismatchError, match="dimension"):
        idx.search(np.ones((1, 128), dtype=np.float32), 5)


@pytest.mark.parametrize(
    "other,needles",
    [
        (HashingEmbedder(dim=128), ["256", "128"]),
        (HashingEmbedder(dim=256, name="another-model"), ["hashing-test", "another-model"]),
    ],
    ids=["dim", "name"],
)
def test_other_model_is_refused_naming_both(small_index, other, needles):
    with pytest.raises(IndexMismatchError) as ei:
        verify_index(small_index, identity=other.identity)
    assert not isinstance(ei.value, IndexCorruptError)
    for n in needles:
        assert n in str(ei.value)


def test_same_identity_loads(small_index):
    assert verify_index(small_index, identity=HashingEmbedder(dim=256).identity).size > 0


# --------------------------------------------------------------------------- #
# damage


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF  # also always makes UTF-8 text undecodable
    p.write_bytes(bytes(b))


def _delete(p: Path) -> None:
    p.unlink()


@pytest.mark.parametrize("damage", [_truncate, _flip, _delete], ids=["truncate", "flip", "delete"])
@pytest.mark.parametrize("name", list(FILES) + ["manifest.json"])
def test_damaged_file_is_detected(index_copy, name, damage):
    gen = current_generation(index_copy)
    verify_index(index_copy)  # intact before
    damage(gen / name)
    with pytest.raises(IndexCorruptError):
        verify_index(index_copy)


def test_truncated_current_pointer(index_copy):
    _truncate(index_copy / "CURRENT")
    with pytest.raises(IndexCorruptError):
        verify_index(index_copy)


def test_no_current_pointer_beside_a_generation_says_so(index_copy):
    gen = current_generation(index_copy).name
    _delete(index_copy / "CURRENT")
    with pytest.raises(IndexCorruptError, match=f"CURRENT is missing but 1 generation.*{gen}.*newsqa index"):
        verify_index(index_copy)


def test_flipped_current_pointer(index_copy):
    _flip(index_copy / "CURRENT")
    with pytest.raises(IndexCorruptError):
        verify_index(index_copy)


def test_manifest_without_files_section(index_copy):
    gen = current_generation(index_copy)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    del m["files"]
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        verify_index(index_copy)


def test_wrong_format_version_is_a_mismatch(index_copy):
    gen = current_generation(index_copy)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    m["format_version"] = 999
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="999"):
        verify_index(index_copy)


def test_current_pointing_nowhere(index_copy):
    (index_copy / "CURRENT").write_text("gen-does-not-exist\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="gen-does-not-exist"):
        verify_index(index_copy)


def test_no_index(tmp_path):
    with pytest.raises(IndexNotFoundError, match="newsqa index"):
        verify_index(tmp_path)
    with pytest.raises(IndexNotFoundError):
        verify_index(tmp_path / "missing")


def test_bare_generation_folder_loads(small_index):
    gen = current_generation(small_index)
    assert verify_index(gen).size == verify_index(small_index).size


# --------------------------------------------------------------------------- #
# generations


def test_rebuild_switches_current_and_keeps_two_generations(tmp_path, few_articles, hashing_embedder, monkeypatch):
    # each build in its own second (the same-second case is test_same_second_builds_keep_two_generations)
    clock = _Clock((f"20240101T0000{s:02d}" for s in itertools.count()), itertools.count(10000, 7))
    monkeypatch.setattr(index_mod, "time", clock)
    out = tmp_path / "idx"
    built = []
    for n in range(4):
        gen = build_index(few_articles[: 1 + n % 3], hashing_embedder, out, PARAMS)
        built.append(gen)
        assert (out / "CURRENT").read_text(encoding="utf-8").strip() == gen.name
        assert verify_index(out).path == gen
        assert len(verify_index(out).articles) == 1 + n % 3
        assert len(_gens(out)) <= 2
    assert _gens(out) == [built[-2], built[-1]]  # the new one and the one before it


def test_same_second_builds_keep_two_generations(tmp_path, few_articles, hashing_embedder, monkeypatch):
    clock = _Clock(itertools.repeat("20240101T000000"), iter([99999, 50000, 10000]))
    monkeypatch.setattr(index_mod, "time", clock)
    out = tmp_path / "idx"
    for _ in range(3):
        build_index(few_articles, hashing_embedder, out, PARAMS)
    assert len(_gens(out)) <= 2


def test_leftover_temp_generation_is_removed_and_never_loaded(tmp_path, few_articles, hashing_embedder):
    out = tmp_path / "idx"
    first = build_index(few_articles[:1], hashing_embedder, out, PARAMS)
    # a build killed after writing its temp folder: a complete-looking generation under a .gen- name
    crashed = out / ".gen-20990101T000000-1-00001.abc"
    shutil.copytree(first, crashed)
    (crashed / "meta.sqlite").write_text("", encoding="utf-8")
    (out / ".CURRENT.1.tmp").write_text(crashed.name, encoding="utf-8")
    assert verify_index(out).path == first  # CURRENT still decides
    second = build_index(few_articles, hashing_embedder, out, PARAMS)
    assert not crashed.exists()
    assert not list(out.glob(".gen-*")) and not list(out.glob(".CURRENT.*"))
    assert verify_index(out).path == second


def test_temp_generation_alone_is_not_an_index(tmp_path, few_articles, hashing_embedder):
    src = build_index(few_articles[:1], hashing_embedder, tmp_path / "a", PARAMS)
    out = tmp_path / "b"
    out.mkdir()
    shutil.copytree(src, out / ".gen-20240101T000000-1-00001.xyz")
    with pytest.raises(IndexNotFoundError):
        verify_index(out)


def test_empty_corpus_and_oversized_chunks_refused(tmp_path, few_articles, hashing_embedder):
    with pytest.raises(IndexMismatchError):
        build_index([], hashing_embedder, tmp_path / "e", PARAMS)
    with pytest.raises(ValueError):
        build_index(few_articles, hashing_embedder, tmp_path / "o", ChunkParams(500, 20))
    assert not (tmp_path / "o" / "CURRENT").exists()


def test_no_pickle_in_index(small_index):
    files = [p for p in small_index.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert p.suffix not in (".pkl", ".pickle")
        head = p.read_bytes()[:2]
        assert head not in (b"\x80\x04", b"\x80\x05", b"\x80\x03", b"\x80\x02"), p
    gen = current_generation(small_index)
    assert sorted(p.name for p in gen.iterdir()) == sorted([*FILES, "manifest.json"])
    assert (gen / "meta.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"
