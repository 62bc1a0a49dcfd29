"""Incremental updates and vector reuse: an updated index is the full rebuild's index, and only new passages are embedded."""

from __future__ import annotations

import json
import shutil

import pytest

from embeddings.encoder import HashingEmbedder
from qa.api import ask
from qa.ingest.chunking import ChunkParams
from newsqa.cli import main
from qa.ingest.corpus import load_articles
from qa.errors import IndexNotFoundError, InputError
from qa.index.update import update_index, updated_articles
from qa.index.build import build_index
from qa.index.store import current_generation, verify_index

PARAMS = ChunkParams(chunk_size=120, chunk_overlap=20)
QUESTIONS = [
    "衢江区共享法庭覆盖了多少个行政村？",
    "柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？",
    "全旺镇打造了几所老年幸福食堂？",
    "九华乡飞鸿神网谷项目占地面积约多少亩？",
    "北京明天的天气怎么样？",
]


class CountingEmbedder(HashingEmbedder):
    def __init__(self, dim: int = 256, name: str = "hashing-test") -> None:
        super().__init__(dim=dim, name=name)
        self.embedded = 0

    def embed_passages(self, texts, progress=None):
        self.embedded += len(texts)
        return super().embed_passages(texts, progress)


def _same_index(a, b) -> None:
    ga, gb = current_generation(a), current_generation(b)
    ma, mb = (json.loads((g / "manifest.json").read_text()) for g in (ga, gb))
    assert ma["files"] == mb["files"]  # byte-identical vectors, chunks, articles and BM25 files
    assert ma["corpus"] == mb["corpus"] and ma["counts"] == mb["counts"]


def _answers(index, emb):
    out = []
    for q in QUESTIONS:
        a = ask(q, index=index, embedder=emb, answerer="extractive")
        out.append((a.text, a.refused, [(c.article_id, c.start, c.end) for c in a.citations],
                    [(h.chunk.id, round(h.score, 6)) for h in a.hits]))
    return out


@pytest.fixture(scope="module")
def arts(seed_articles):
    return list(seed_articles)


def test_add_then_answers_exactly_like_a_full_rebuild(tmp_path, arts):
    base, extra = arts[:-7], arts[-7:]
    inc, full = tmp_path / "inc", tmp_path / "full"
    emb = CountingEmbedder()
    build_index(base, emb, inc, PARAMS)
    first = emb.embedded
    update_index(inc, emb, add=extra)
    added_passages = emb.embedded - first
    build_index(arts, HashingEmbedder(), full, PARAMS)
    _same_index(inc, full)
    total = verify_index(full).size
    assert 0 < added_passages < total  # only the new articles' passages went through the model
    assert json.loads((current_generation(inc) / "manifest.json").read_text())["vectors_reused"] == total - added_passages
    assert _answers(inc, emb) == _answers(full, emb)


def test_remove_then_answers_exactly_like_a_full_rebuild(tmp_path, arts):
    inc, full = tmp_path / "inc", tmp_path / "full"
    emb = CountingEmbedder()
    build_index(arts, emb, inc, PARAMS)
    before = emb.embedded
    gone = [arts[3].id, arts[10].id]
    update_index(inc, emb, remove=gone)
    assert emb.embedded == before  # nothing new to embed
    build_index([a for a in arts if a.id not in gone], HashingEmbedder(), full, PARAMS)
    _same_index(inc, full)
    assert not ({c.article_id for c in verify_index(inc).chunks} & set(gone))
    assert _answers(inc, emb) == _answers(full, emb)


def test_rebuilding_an_unchanged_corpus_embeds_nothing(tmp_path, arts):
    out = tmp_path / "idx"
    emb = CountingEmbedder()
    build_index(arts, emb, out, PARAMS)
    n = emb.embedded
    build_index(arts, emb, out, PARAMS)
    assert emb.embedded == n


def test_another_model_reembeds_everything(tmp_path, arts):
    out = tmp_path / "idx"
    build_index(arts[:5], HashingEmbedder(name="old-model"), out, PARAMS)
    emb = CountingEmbedder(name="new-model")
    build_index(arts[:5], emb, out, PARAMS)
    assert emb.embedded == verify_index(out).size


def test_update_errors(tmp_path, arts):
    with pytest.raises(IndexNotFoundError, match="newsqa index"):
        update_index(tmp_path / "none", HashingEmbedder(), add=arts[:1])
    with pytest.raises(InputError, match="no article nope"):
        updated_articles(arts[:2], remove=["nope"])
    with pytest.raises(InputError, match="empty"):
        updated_articles(arts[:1], remove=[arts[0].id])
    # an added article with an existing id replaces it in place
    changed = type(arts[0]).from_dict({**arts[0].to_dict(), "headline": "新标题"})
    assert updated_articles(arts[:2], add=[changed])[0].headline == "新标题"


@pytest.fixture
def fake_model(monkeypatch):
    import qa.pipeline

    monkeypatch.setattr(qa.pipeline, "load_embedder", lambda model=None, runtime=None: HashingEmbedder(dim=256))


def test_cli_add_and_remove(tmp_path, seed_dir, capsys, fake_model):
    files = sorted(seed_dir.glob("*.txt"))
    base_dir, new_dir = tmp_path / "base", tmp_path / "new"
    base_dir.mkdir(), new_dir.mkdir()
    for f in files[:-1]:
        shutil.copy(f, base_dir)
    shutil.copy(files[-1], new_dir)
    idx = tmp_path / "idx"
    assert main(["index", str(base_dir), "--index", str(idx), "--chunk-size", "120", "--chunk-overlap", "20"]) == 0
    assert main(["index", "--add", str(new_dir / files[-1].name), "--index", str(idx)]) == 0
    out = capsys.readouterr().out
    assert "reused" in out
    full = tmp_path / "full"
    # the added file is parsed on its own (the parser's cross-page banner detection sees only it)
    build_index(load_articles([base_dir]) + load_articles([new_dir]), HashingEmbedder(dim=256), full, PARAMS)
    _same_index(idx, full)
    victim = load_articles([new_dir])[0].id
    assert main(["index", "--remove", victim, "--index", str(idx)]) == 0
    assert victim not in {a for a in verify_index(idx).articles}
    assert main(["index", "--remove", "no-such-article", "--index", str(idx)]) == 2
    err = capsys.readouterr().err
    assert "no article no-such-article" in err and "Traceback" not in err
