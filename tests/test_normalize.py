"""Normalization shared by indexing and querying: widths, invisible marks and scripts must not change what is found."""

from __future__ import annotations

import pytest

from embeddings.encoder import HashingEmbedder
from qa import ask
from qa.ingest.chunking import ChunkParams
from qa.index.build import build_index
from qa.lexical.bm25 import tokenize
from qa.inputs import clean_question
from qa.text import norm, normalize, to_simplified
from qa.types import Article


QUESTIONS = [
    "柯城区华墅乡刘坂村共有村民多少户？",
    "累计回收生活垃圾19268.15吨是哪个应用场景？",
    "衢江区共享法庭覆盖了多少个行政村？",
    "区长蒋国强陪同视察了哪些项目？",
    "安仁水库为什么需要除险加固？",
]
TRADITIONAL = {
    "柯城区华墅乡刘坂村共有村民多少户？": "柯城區華墅鄉劉坂村共有村民多少戶？",
    "衢江区共享法庭覆盖了多少个行政村？": "衢江區共享法庭覆蓋了多少個行政村？",
    "区长蒋国强陪同视察了哪些项目？": "區長蔣國強陪同視察了哪些項目？",
    "安仁水库为什么需要除险加固？": "安仁水庫為什麼需要除險加固？",
}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202c", "\u2066", "\u2069"]


def full_width(s: str) -> str:
    """ASCII letters, digits and punctuation → their full-width forms (U+FF01..FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def zero_width(s: str) -> str:
    """An invisible mark between every two characters."""
    return "".join(c + ZERO_WIDTH[i % len(ZERO_WIDTH)] for i, c in enumerate(s))


def test_normalize_removes_invisible_marks_and_unifies_width_and_script():
    assert normalize("\u200b区\u200d长\u202e") == "区长"
    assert normalize("１９２６８．１５吨ＡＢＣ") == "19268.15吨ABC"
    assert normalize("衢江區共享法庭覆蓋了多少個行政村？") == "衢江区共享法庭覆盖了多少个行政村?"
    assert normalize("Hello World") == "Hello World"  # case and spaces kept for the dense model
    assert normalize("第一行\n第二行\t") == "第一行\n第二行\t"  # line breaks are not invisible marks
    assert norm("Hello 區 Ｗorld") == "hello区world"


@pytest.mark.parametrize("q", QUESTIONS)
def test_normalize_is_idempotent_and_agrees_with_clean_question(q):
    n = normalize(q)
    assert normalize(n) == n
    assert normalize(clean_question(zero_width(full_width(q)))) == normalize(q)


@pytest.mark.parametrize("q", QUESTIONS)
def test_tokens_ignore_width_invisible_marks_and_script(q):
    for mode in ("bigram", "jieba", "both"):
        base = tokenize(q, mode)
        assert tokenize(full_width(q), mode) == base
        assert tokenize(zero_width(q), mode) == base
        if q in TRADITIONAL:
            assert tokenize(TRADITIONAL[q], mode) == base


def _topk(small_index, q, retriever):
    ans = ask(q, index=small_index, embedder=HashingEmbedder(dim=256), k=5, retriever=retriever)
    return [h.chunk.id for h in ans.hits]


@pytest.mark.parametrize("retriever", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("q", QUESTIONS)
def test_variants_give_identical_top_k(small_index, q, retriever):
    base = _topk(small_index, q, retriever)
    assert base
    assert _topk(small_index, full_width(q), retriever) == base
    assert _topk(small_index, zero_width(q), retriever) == base
    if q in TRADITIONAL:
        assert to_simplified(TRADITIONAL[q]) == q
        assert _topk(small_index, TRADITIONAL[q], retriever) == base


def test_traditional_articles_are_found_by_simplified_questions(tmp_path):
    """The index side normalizes too: a page in traditional characters and full-width digits."""
    arts = [
        Article("t1", "衢江區共享法庭", "目前，衢江區共享法庭建設已實現２２個鄉鎮、２８６個行政村全覆蓋。", "t.jsonl"),
        Article("t2", "天氣", "明天晴，最高氣溫三十度。", "t.jsonl"),
    ]
    build_index(arts, HashingEmbedder(dim=64), tmp_path, ChunkParams(120, 20))
    for retriever in ("lexical", "dense", "hybrid"):
        ans = ask("衢江区共享法庭覆盖了多少个行政村？", index=tmp_path, embedder=HashingEmbedder(dim=64), retriever=retriever)
        assert ans.hits[0].article.id == "t1", retriever
        assert ans.hits[0].chunk.text.startswith("目前，衢江區")  # citations keep the original text
