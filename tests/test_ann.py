"""Vector index type by size: flat below the threshold, HNSW above, same answers on a small corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embeddings.encoder import HashingEmbedder
from qa.index.ann import choose_kind, make_vector_index
from qa.api import ask
from qa.ingest.chunking import ChunkParams
from qa.index.reuse import stored_vectors
from qa.index.build import build_index
from qa.index.store import current_generation, verify_index

PARAMS = ChunkParams(chunk_size=120, chunk_overlap=20)


def test_kind_by_size(monkeypatch):
    monkeypatch.delenv("NEWSQA_VECTOR_INDEX", raising=False)
    monkeypatch.setenv("NEWSQA_FLAT_MAX", "1000")
    assert choose_kind(1000) == "flat" and choose_kind(1001) == "hnsw"
    assert choose_kind(5, "hnsw") == "hnsw"
    with pytest.raises(ValueError, match="flat, hnsw"):
        choose_kind(5, "ivfpq")
    index, desc = make_vector_index(8, 2000)
    assert desc["kind"] == "hnsw" and desc["ef_search"] >= 64


def test_hnsw_index_answers_like_flat_and_keeps_filters_and_reuse(tmp_path, seed_articles, monkeypatch):
    emb = HashingEmbedder(dim=256)
    build_index(seed_articles, emb, tmp_path / "flat", PARAMS)
    monkeypatch.setenv("NEWSQA_FLAT_MAX", "10")
    build_index(seed_articles, emb, tmp_path / "hnsw", PARAMS)
    m = json.loads((current_generation(tmp_path / "hnsw") / "manifest.json").read_text())
    assert m["vector_index"]["kind"] == "hnsw"
    flat, hnsw = verify_index(tmp_path / "flat"), verify_index(tmp_path / "hnsw")
    np.testing.assert_array_equal(stored_vectors(flat.vectors), stored_vectors(hnsw.vectors))
    q = emb.embed_queries(["衢江区共享法庭覆盖了多少个行政村？", "全旺镇老年幸福食堂"])
    assert [[i for i, _ in r] for r in hnsw.search(q, 5)] == [[i for i, _ in r] for r in flat.search(q, 5)]
    allowed = np.zeros(hnsw.size, dtype=bool)
    allowed[::3] = True
    assert all(i % 3 == 0 for r in hnsw.search(q, 5, allowed) for i, _ in r)
    for question in ("衢江区共享法庭覆盖了多少个行政村？", "全旺镇打造了几所老年幸福食堂？"):
        a = ask(question, index=tmp_path / "hnsw", embedder=emb, answerer="extractive")
        b = ask(question, index=tmp_path / "flat", embedder=emb, answerer="extractive")
        assert (a.text, [h.chunk.id for h in a.hits]) == (b.text, [h.chunk.id for h in b.hits])
