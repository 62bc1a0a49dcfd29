"""Embedding runtimes: the default, the runtime recorded in the index, mismatch refusal, ONNX int8 against fp32."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.encoder import HashingEmbedder
from embeddings.runtimes import RUNTIMES, default_runtime, runtime_of
from qa.api import index_runtime
from qa.errors import IndexMismatchError
from qa.index.build import build_index
from qa.index.store import verify_index

from qa.ingest.chunking import ChunkParams

SMALL_PARAMS = ChunkParams(chunk_size=120, chunk_overlap=20)


class _RuntimeHashing(HashingEmbedder):
    def __init__(self, runtime: str) -> None:
        super().__init__(dim=64)
        self.runtime = runtime

    @property
    def identity(self):
        return {**super().identity, "runtime": self.runtime}


def test_default_runtime_follows_the_environment(monkeypatch):
    monkeypatch.setenv("NEWSQA_EMBED_RUNTIME", "torch-fp32")
    assert default_runtime() == "torch-fp32"
    monkeypatch.setenv("NEWSQA_EMBED_RUNTIME", "tensorflow")
    with pytest.raises(ValueError, match="NEWSQA_EMBED_RUNTIME"):
        default_runtime()
    monkeypatch.delenv("NEWSQA_EMBED_RUNTIME")
    assert default_runtime() in RUNTIMES


def test_older_indexes_count_as_torch_fp32():
    assert runtime_of({"name": "m", "dim": 3}) == "torch-fp32"
    assert runtime_of({"runtime": "onnx-int8"}) == "onnx-int8"


def test_index_records_its_runtime_and_refuses_another(tmp_path, seed_articles):
    out = tmp_path / "idx"
    build_index(seed_articles[:3], _RuntimeHashing("onnx-int8"), out, SMALL_PARAMS)
    assert index_runtime(out) == "onnx-int8"
    verify_index(out, identity=_RuntimeHashing("onnx-int8").identity)
    with pytest.raises(IndexMismatchError, match="onnx-int8 vectors.*torch-fp32.*NEWSQA_EMBED_RUNTIME=onnx-int8"):
        verify_index(out, identity=_RuntimeHashing("torch-fp32").identity)
    assert index_runtime(tmp_path / "nothing-here") is None


@pytest.mark.slow
def test_onnx_int8_matches_torch_fp32_on_the_seed_corpus(seed_articles):
    """The int8 graph gives nearly the fp32 vectors and the same top passages (quality gate: eval hit@5)."""
    from embeddings.models import resolve_embedder_path
    from embeddings.runtimes import make_embedder
    from qa.ingest.chunking import ChunkParams, chunk_articles
    from qa.index.store import passage_text

    path, name = resolve_embedder_path(None)
    fp32, int8 = make_embedder(path, name, "torch-fp32"), make_embedder(path, name, "onnx-int8")
    assert int8.identity["weights_sha256"] == fp32.identity["weights_sha256"]
    assert int8.identity["runtime"] == "onnx-int8"
    by_id = {a.id: a for a in seed_articles}
    chunks = chunk_articles(seed_articles, ChunkParams(), fp32.count_tokens)[:48]
    texts = [passage_text(by_id[c.article_id], c.text) for c in chunks]
    a, b = fp32.embed_passages(texts), int8.embed_passages(texts)
    assert b.shape == a.shape and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-4)
    cos = (a * b).sum(1)
    assert cos.min() > 0.98, cos.min()
    qs = ["衢江区共享法庭覆盖了多少个行政村？", "柯城零废生活累计回收多少吨生活垃圾？", "全旺镇打造了几所老年幸福食堂？"]
    qa_, qb = fp32.embed_queries(qs), int8.embed_queries(qs)
    for i in range(len(qs)):
        assert np.argmax(a @ qa_[i]) == np.argmax(b @ qb[i])


@pytest.mark.slow
def test_torch_bf16_matches_torch_fp32(seed_articles):
    from embeddings.models import resolve_embedder_path
    from embeddings.runtimes import make_embedder
    from qa.ingest.chunking import ChunkParams, chunk_articles
    from qa.index.store import passage_text

    path, name = resolve_embedder_path(None)
    fp32, bf16 = make_embedder(path, name, "torch-fp32"), make_embedder(path, name, "torch-bf16")
    assert bf16.identity["runtime"] == "torch-bf16" and bf16.identity["weights_sha256"] == fp32.identity["weights_sha256"]
    by_id = {a.id: a for a in seed_articles}
    chunks = chunk_articles(seed_articles, ChunkParams(), fp32.count_tokens)[:32]
    texts = [passage_text(by_id[c.article_id], c.text) for c in chunks]
    a, b = fp32.embed_passages(texts), bf16.embed_passages(texts)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-4)
    assert (a * b).sum(1).min() > 0.99
