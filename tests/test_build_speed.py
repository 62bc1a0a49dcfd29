"""The faster build: BM25 built beside the embedder, the ONNX export version in the manifest, one tokenizer per build."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from embeddings.encoder import HashingEmbedder
from embeddings.runtimes import LEGACY_ONNX_EXPORT, export_of
from qa.ingest.chunking import ChunkParams
from qa.errors import IndexMismatchError
from qa.index.reuse import previous_vectors
from qa.index.build import build_index
from qa.index.store import current_generation, lexical_text, verify_index
from qa.lexical.bm25 import LEXICAL_FILES, LexicalIndex

PARAMS = ChunkParams(chunk_size=120, chunk_overlap=20)
NEW_EXPORT = "qint8-matmul-per-channel-eager-v2"


class _OnnxLike(HashingEmbedder):
    """A hashing embedder that says it is onnx-int8 from a given export (None: records no export, as before v2)."""

    def __init__(self, export: str | None, dim: int = 64) -> None:
        super().__init__(dim=dim)
        self.export = export
        self.embedded = 0
        self.threads: set[str] = set()

    @property
    def identity(self):
        extra = {"export": self.export} if self.export else {}
        return {**super().identity, "runtime": "onnx-int8", **extra}

    def embed_passages(self, texts, progress=None):
        self.embedded += len(texts)
        self.threads.add(threading.current_thread().name)
        return super().embed_passages(texts, progress)


# --------------------------------------------------------------------------- #
# BM25 in a thread


def test_threaded_bm25_writes_the_same_files_as_a_sequential_build(tmp_path, seed_articles):
    """The lexical files are byte-identical to LexicalIndex.build run alone over the same chunks."""
    out = tmp_path / "idx"
    gen = build_index(seed_articles, HashingEmbedder(dim=64), out, PARAMS, reuse=False)
    idx = verify_index(out)
    alone = tmp_path / "alone"
    alone.mkdir()
    LexicalIndex.build([lexical_text(idx.articles[c.article_id], c.text) for c in idx.chunks], idx.tokenizer).save(alone)
    for name in LEXICAL_FILES:
        assert (gen / name).read_bytes() == (alone / name).read_bytes(), name


def test_threaded_bm25_runs_beside_the_embedder(tmp_path, seed_articles, monkeypatch):
    """The lexical index is built on another thread, while the embedder runs on the caller's."""
    seen: list[str] = []
    real = LexicalIndex.build.__func__

    def spy(cls, texts, *a, **k):
        seen.append(threading.current_thread().name)
        return real(cls, texts, *a, **k)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(spy))
    emb = _OnnxLike(NEW_EXPORT)
    build_index(seed_articles[:3], emb, tmp_path / "idx", PARAMS)
    assert seen and seen[0].startswith("newsqa-bm25")
    assert emb.threads == {threading.current_thread().name}


def test_build_identical_to_the_previous_sequential_order(tmp_path, seed_articles):
    """Two builds of one corpus (threads scheduled differently each time) give the same files."""
    a = build_index(seed_articles, HashingEmbedder(dim=64), tmp_path / "a", PARAMS, reuse=False)
    b = build_index(seed_articles, HashingEmbedder(dim=64), tmp_path / "b", PARAMS, reuse=False)
    ma, mb = (json.loads((g / "manifest.json").read_text()) for g in (a, b))
    assert ma["files"] == mb["files"]


def test_bm25_failure_fails_the_build_and_keeps_the_live_index(tmp_path, seed_articles, monkeypatch):
    out = tmp_path / "idx"
    first = build_index(seed_articles[:3], HashingEmbedder(dim=64), out, PARAMS)

    def boom(cls, *a, **k):
        raise RuntimeError("jieba exploded")

    monkeypatch.setattr(LexicalIndex, "build", classmethod(boom))
    with pytest.raises(RuntimeError, match="jieba exploded"):
        build_index(seed_articles, HashingEmbedder(dim=64), out, PARAMS)
    assert current_generation(out) == first
    assert verify_index(out).size > 0


def test_embedder_failure_fails_the_build(tmp_path, seed_articles):
    class Broken(HashingEmbedder):
        def embed_passages(self, texts, progress=None):
            raise ValueError("model fell over")

    with pytest.raises(ValueError, match="model fell over"):
        build_index(seed_articles[:3], Broken(dim=64), tmp_path / "idx", PARAMS)
    assert not list((tmp_path / "idx").glob("gen-*"))


# --------------------------------------------------------------------------- #
# the export version in the manifest


def test_export_of_older_and_other_identities():
    assert export_of({"runtime": "onnx-int8"}) == LEGACY_ONNX_EXPORT
    assert export_of({"runtime": "onnx-int8", "export": NEW_EXPORT}) == NEW_EXPORT
    assert export_of({"runtime": "torch-fp32"}) is None and export_of({}) is None


def test_manifest_records_the_export(tmp_path, seed_articles):
    build_index(seed_articles[:3], _OnnxLike(NEW_EXPORT), tmp_path / "idx", PARAMS)
    m = json.loads((current_generation(tmp_path / "idx") / "manifest.json").read_text())
    assert m["model"]["runtime"] == "onnx-int8" and m["model"]["export"] == NEW_EXPORT


def test_index_from_the_older_export_is_refused_naming_both(tmp_path, seed_articles):
    """An onnx-int8 index built before the export version was recorded is refused by the new export, with the fix."""
    out = tmp_path / "idx"
    build_index(seed_articles[:3], _OnnxLike(None), out, PARAMS)
    with pytest.raises(IndexMismatchError) as e:
        verify_index(out, identity=_OnnxLike(NEW_EXPORT).identity)
    msg = str(e.value)
    assert LEGACY_ONNX_EXPORT in msg and NEW_EXPORT in msg and "newsqa index" in msg
    verify_index(out, identity=_OnnxLike(None).identity)  # the older export still reads its own index


def test_index_from_the_new_export_is_refused_by_the_older_one(tmp_path, seed_articles):
    out = tmp_path / "idx"
    build_index(seed_articles[:3], _OnnxLike(NEW_EXPORT), out, PARAMS)
    verify_index(out, identity=_OnnxLike(NEW_EXPORT).identity)
    with pytest.raises(IndexMismatchError, match=f"{NEW_EXPORT}.*{LEGACY_ONNX_EXPORT}.*rebuild"):
        verify_index(out, identity=_OnnxLike(None).identity)


def test_rebuild_after_an_export_change_reembeds_everything(tmp_path, seed_articles):
    """Vectors of the older export are never reused in a new export's index."""
    out = tmp_path / "idx"
    build_index(seed_articles[:3], _OnnxLike(None), out, PARAMS)
    assert not previous_vectors(out, _OnnxLike(NEW_EXPORT).identity)
    assert previous_vectors(out, _OnnxLike(None).identity)
    emb = _OnnxLike(NEW_EXPORT)
    build_index(seed_articles[:3], emb, out, PARAMS)
    assert emb.embedded == verify_index(out).size
    verify_index(out, identity=_OnnxLike(NEW_EXPORT).identity)


def test_export_mismatch_is_refused_by_ask(tmp_path, seed_articles):
    from qa.api import ask

    out = tmp_path / "idx"
    build_index(seed_articles[:3], _OnnxLike(None), out, PARAMS)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        ask("衢江区共享法庭覆盖了多少个行政村？", index=out, embedder=_OnnxLike(NEW_EXPORT), answerer="extractive")


# --------------------------------------------------------------------------- #
# the real model: one tokenizer, truncation as before, the export in its own folder


@pytest.fixture(scope="module")
def model_path():
    from embeddings.models import resolve_embedder_path

    path, _ = resolve_embedder_path(None)
    return path


def test_token_ids_cut_as_the_truncating_tokenizer_did(model_path):
    """Manual truncation of the shared tokenizer's ids equals ``enable_truncation(max_tokens)``."""
    from tokenizers import Tokenizer

    from embeddings.onnx_embedder import OnnxEmbedder

    emb = OnnxEmbedder(model_path)
    ref = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    ref.enable_truncation(emb.max_tokens)
    texts = ["passage: 衢江区共享法庭", "query: " + "柯城零废生活。" * 200, "", "passage: " + "abc " * 600]
    got = emb.token_ids(texts)
    want = [e.ids for e in ref.encode_batch(texts)]
    assert got == want
    assert max(map(len, got)) == emb.max_tokens
    # counting stays untruncated: chunking sees the full length
    assert emb.count_tokens("柯城零废生活。" * 200) > emb.max_tokens


@pytest.mark.slow
def test_one_tokenizer_load_per_build(tmp_path, model_path, seed_articles, monkeypatch):
    """Warm-up loads tokenizer.json once; chunking and embedding in the build reuse it."""
    from tokenizers import Tokenizer

    from embeddings.onnx_embedder import EXPORT_DIR, SCHEME, OnnxEmbedder

    loads: list[str] = []
    real = Tokenizer.from_file

    def counting(path, *a, **k):
        loads.append(path)
        return real(path, *a, **k)

    monkeypatch.setattr(Tokenizer, "from_file", staticmethod(counting))
    emb = OnnxEmbedder(model_path)
    emb.warm_up()
    assert len(loads) == 1
    build_index(seed_articles[:2], emb, tmp_path / "idx", reuse=False)
    assert len(loads) == 1
    m = json.loads((current_generation(tmp_path / "idx") / "manifest.json").read_text())
    assert m["model"]["export"] == SCHEME
    meta = json.loads((model_path / EXPORT_DIR / "meta.json").read_text())
    assert meta["scheme"] == SCHEME and meta.get("attention") == "eager"


@pytest.mark.slow
def test_onnx_batches_by_length_give_the_vectors_of_single_passages(model_path, seed_articles):
    """Sorting and batching only change padding: each vector is close to the passage embedded alone."""
    from embeddings.onnx_embedder import OnnxEmbedder
    from qa.ingest.chunking import chunk_articles
    from qa.index.store import passage_text

    emb = OnnxEmbedder(model_path)
    by_id = {a.id: a for a in seed_articles}
    chunks = chunk_articles(seed_articles[:3], ChunkParams(), emb.count_tokens)[:12]
    texts = [passage_text(by_id[c.article_id], c.text) for c in chunks]
    together = emb.embed_passages(texts)
    alone = np.vstack([emb.embed_passages([t]) for t in texts])
    assert (together * alone).sum(1).min() > 0.99
