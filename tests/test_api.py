"""ask(): the Answer shape, exact citations back into the article body and the raw file, and input validation."""

from __future__ import annotations

import json
import re

import pytest

from qa import ask, get_pipeline
from qa.errors import IndexMismatchError, IndexNotFoundError, InputError, ModelNotInstalledError
from qa.answer.extractive import REFUSAL_EN, REFUSAL_ZH
from qa.index.store import verify_index
from qa.ingest.parse import read_text
from qa.types import Answer

CITATION_KEYS = {"n", "article_id", "title", "date", "source", "quote", "start", "end"}
_WS = re.compile(r"\s+")


def nows(s: str) -> str:
    return _WS.sub("", s)


@pytest.fixture
def asker(small_index, hashing_embedder):
    def _ask(q, **kw):
        return ask(q, embedder=hashing_embedder, index=small_index, **kw)

    return _ask


def test_answer_shape(asker):
    ans = asker("刘坂村共有村民多少户？")
    assert isinstance(ans, Answer)
    d = ans.to_dict()
    assert {"question", "text", "refused", "citations", "hits"} <= set(d)
    json.dumps(d, ensure_ascii=False)  # JSON-ready
    assert d["question"] == "刘坂村共有村民多少户?"  # cleaned: NFKC turns the full-width ？ half-width
    assert d["refused"] is False
    assert d["citations"]
    for c in d["citations"]:
        assert CITATION_KEYS <= set(c)
    for h in d["hits"]:
        assert {"rank", "score", "article_id", "text", "start", "end", "source"} <= set(h)
    assert [h["rank"] for h in d["hits"]] == list(range(1, len(d["hits"]) + 1))


def test_citation_quote_is_exact(asker, small_index, seed_dir):
    ans = asker("刘坂村共有村民多少户")
    assert not ans.refused
    assert "[1]" in ans.text
    idx = verify_index(small_index)
    c = ans.citations[0]
    assert c.n == 1
    body = idx.articles[c.article_id].body
    # the only article that mentions 刘坂村 (000: 柯城“零废生活”应用场景进乡村)
    assert [a.id for a in idx.articles.values() if "刘坂村" in a.body] == [c.article_id]
    assert body[c.start : c.end] == c.quote
    assert c.quote in ans.text
    raw = read_text(seed_dir / c.source)
    assert nows(raw[c.raw_start : c.raw_end]) == nows(c.quote)
    assert c.title == idx.articles[c.article_id].title


@pytest.mark.parametrize(
    "question",
    ["安仁水库总库容多少?", "徐旭在航埠镇严村村看望慰问了几户困难群众", "春江社区下辖几个小区", "全旺镇老年幸福食堂占地面积多大"],
)
def test_every_citation_is_exact(asker, small_index, seed_dir, question):
    ans = asker(question)
    assert not ans.refused  # every content word of these questions is in one sentence of the corpus
    idx = verify_index(small_index)
    for c in ans.citations:
        assert f"[{c.n}]" in ans.text
        assert idx.articles[c.article_id].body[c.start : c.end] == c.quote
        assert nows(read_text(seed_dir / c.source)[c.raw_start : c.raw_end]) == nows(c.quote)
    assert ans.citations


def test_refuses_when_nothing_matches(asker, small_index):
    assert not any("火星" in a.body for a in verify_index(small_index).articles.values())
    ans = asker("火星上有多少只猫?")
    assert ans.refused
    assert ans.citations == ()
    assert ans.text == REFUSAL_ZH
    assert ans.hits  # the closest passages are still reported
    assert asker("How many cats live on Mars?").text == REFUSAL_EN


@pytest.mark.parametrize("retriever,key", [("dense", "score"), ("hybrid", "fused_score"), ("lexical", "lexical_score")])
def test_hits_respect_k_and_are_distinct(asker, retriever, key):
    for k in (1, 3, 7):
        ans = asker("水库除险加固", k=k, retriever=retriever)
        assert 1 <= len(ans.hits) <= k
        ids = [h.chunk.id for h in ans.hits]
        assert len(set(ids)) == len(ids)
        # each retriever ranks by its own score; score itself is always the cosine
        ranked_by = [getattr(h, key) for h in ans.hits]
        assert ranked_by == sorted(ranked_by, reverse=True)


@pytest.mark.parametrize("bad", ["", "   ", "\u200b\n\t", "村" * 501, None, 123, ["list"], b"bytes"])
def test_bad_questions(asker, bad):
    with pytest.raises(InputError):
        asker(bad)


def test_500_chars_is_accepted(asker):
    ans = asker("村" * 500)
    assert isinstance(ans, Answer)


@pytest.mark.parametrize("k", [0, 51, -1, "5", 2.0, True, None])
def test_bad_k(asker, k):
    with pytest.raises(InputError):
        asker("水库", k=k)


@pytest.mark.parametrize("k", [1, 50])
def test_k_limits_accepted(asker, k):
    assert isinstance(asker("水库", k=k), Answer)


def test_bad_answerer(asker):
    with pytest.raises(InputError):
        asker("水库", answerer="bogus")
    with pytest.raises(ModelNotInstalledError):
        asker("水库", answerer="generative")
    assert asker("水库", answerer="extractive").answerer == "extractive"


def test_input_errors_are_value_errors(asker):
    with pytest.raises(ValueError):
        asker("")


def test_missing_index(tmp_path, hashing_embedder):
    with pytest.raises(IndexNotFoundError):
        ask("水库", embedder=hashing_embedder, index=tmp_path / "none")


def test_embedder_of_another_dimension_refused(small_index):
    from embeddings.encoder import HashingEmbedder

    with pytest.raises(IndexMismatchError):
        ask("水库", embedder=HashingEmbedder(dim=128), index=small_index)


def test_pipeline_is_cached_per_embedder(small_index, hashing_embedder):
    p1 = get_pipeline(small_index, embedder=hashing_embedder)
    assert get_pipeline(small_index, embedder=hashing_embedder) is p1
    from qa.api import clear_cache

    clear_cache()
    assert get_pipeline(small_index, embedder=hashing_embedder) is not p1
