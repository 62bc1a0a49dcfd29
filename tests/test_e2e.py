"""End to end on the real default model: index the seed pages, ask, check the cited quote against the raw file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa import ask
from qa.index.store import verify_index

SEEDS = Path(__file__).resolve().parent.parent / "corpus" / "raw"

pytestmark = pytest.mark.slow


def _raw(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def test_manifest_records_the_real_model(real_index, real_embedder):
    idx = verify_index(real_index, identity=real_embedder.identity)
    assert idx.manifest["model"]["name"] == "multilingual-e5-small"
    assert idx.manifest["dim"] == 384 == idx.vectors.d
    assert idx.manifest["counts"]["articles"] == 29


def test_answer_cites_the_exact_sentence(real_index, real_embedder):
    a = ask("柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？", index=real_index, embedder=real_embedder)
    assert not a.refused
    assert "19268.15" in a.text and "[1]" in a.text
    c = a.citations[0]
    assert c.source == "000_7ff5f06dc4846084.txt"
    assert "19268.15吨" in c.quote
    # the quote is the article text at its offsets, and the raw file at its raw offsets
    body = verify_index(real_index).articles[c.article_id].body
    assert body[c.start : c.end] == c.quote
    assert re.sub(r"\s", "", _raw(c.source)[c.raw_start : c.raw_end]) == re.sub(r"\s", "", c.quote)
    d = a.to_dict()
    json.dumps(d, ensure_ascii=False)
    assert {"question", "text", "refused", "citations", "hits"} <= d.keys()


def test_traditional_and_english_questions_find_the_same_article(real_index, real_embedder):
    simp = ask("衢江区共享法庭覆盖了多少个行政村？", index=real_index, embedder=real_embedder)
    trad = ask("衢江區共享法庭覆蓋了多少個行政村？", index=real_index, embedder=real_embedder)
    eng = ask("How many administrative villages does Qujiang's shared court cover?", index=real_index, embedder=real_embedder)
    for a in (simp, trad):
        assert not a.refused and "286" in a.text
    assert eng.hits[0].article.id == simp.hits[0].article.id


def test_off_topic_question_is_refused_with_closest_articles(real_index, real_embedder):
    a = ask("贵州茅台今天的股价是多少？", index=real_index, embedder=real_embedder)
    assert a.refused
    assert a.citations == ()
    assert "没有相关信息" in a.text
    assert a.hits  # the closest articles are still listed


def test_question_naming_a_number_absent_from_the_archive_is_refused(real_index, real_embedder):
    a = ask("柯城区十届政府第10次常务会议是哪天召开的？", index=real_index, embedder=real_embedder)
    assert a.refused
