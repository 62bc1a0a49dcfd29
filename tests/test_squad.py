"""The SQuAD-style benchmark runner on a tiny hand-made file (hashing embedder, no real model)."""

from __future__ import annotations

import json

import pytest

from embeddings.encoder import HashingEmbedder
from eval.squad import load_squad, run_squad, sample, squad_index
from qa.errors import CorpusError
from qa.index.store import current_generation

TINY = {
    "version": "test",
    "data": [
        {"title": "衢江水库", "paragraphs": [{
            "context": "安仁水库位于高家镇中央徐村，正常库容84万方，总库容109万方。水库于今年完成除险加固。",
            "qas": [
                {"id": "q1", "question": "安仁水库的总库容是多少？", "answers": [{"text": "109万方", "answer_start": 30}]},
                {"id": "q2", "question": "", "answers": [{"text": "x", "answer_start": 0}]},  # blank, as in CMRC trial
            ],
        }]},
        {"title": "零废生活", "paragraphs": [
            {"context": "柯城已有活跃用户133686人，累计回收生活垃圾19268.15吨。",
             "qas": [{"id": "q3", "question": "柯城累计回收生活垃圾多少吨？", "answers": [{"text": "19268.15吨", "answer_start": 22}, {"text": "19268.15吨", "answer_start": 22}]}]},
            {"context": "刘坂村共有村民470余户1600余人，村里推行垃圾分类多年。",
             "qas": [{"id": "q4", "question": "劉坂村共有村民多少戶？", "answers": [{"text": "470余户", "answer_start": 7}]}]},
        ]},
    ],
}


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny_squad.json"
    p.write_text(json.dumps(TINY, ensure_ascii=False), encoding="utf-8")
    return p


def test_load_squad(tiny):
    arts, qs = load_squad(tiny)
    assert len(arts) == 3 and len({a.id for a in arts}) == 3
    assert arts[0].headline == "衢江水库" and arts[0].body.startswith("安仁水库")
    by_id = {q["id"]: q for q in qs}
    assert by_id["q1"]["paragraph"] == arts[0].id
    assert by_id["q3"]["answers"] == ["19268.15吨"]  # duplicate references collapsed
    assert by_id["q4"]["paragraph"] == arts[2].id
    assert by_id["q2"]["empty"] and not by_id["q1"]["empty"]


@pytest.mark.parametrize("bad", ["not json", json.dumps({"data": "x"}), json.dumps({"data": [{"paragraphs": [{"context": ""}]}]}),
                                 json.dumps([1, 2])])
def test_bad_files(tmp_path, bad):
    p = tmp_path / "bad.json"
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(CorpusError):
        load_squad(p)
    with pytest.raises(CorpusError):
        load_squad(tmp_path / "missing.json")


def test_sample_is_seeded_and_keeps_file_order():
    qs = [{"id": i} for i in range(100)]
    a, b = sample(qs, 10), sample(qs, 10)
    assert a == b and len(a) == 10
    assert [q["id"] for q in a] == sorted(q["id"] for q in a)
    assert sample(qs, None) == qs and sample(qs, 500) == qs


def test_run_squad_scores_and_caches(tiny, tmp_path):
    emb = HashingEmbedder(dim=256)
    summary, out = run_squad(tiny, embedder=emb, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", retriever="hybrid")
    assert summary["questions"] == 3  # the blank question is skipped
    assert summary["hit@1"] == 1.0 and summary["mrr"] == 1.0
    assert summary["contains"] == 1.0  # each answer sentence contains its reference
    assert 0 < summary["char_f1"] <= 1 and summary["em"] == 0.0  # whole sentences, not spans
    meta = json.loads((out / "summary.json").read_text(encoding="utf-8"))["meta"]
    assert meta["skipped_empty"] == 1 and meta["of"] == 3
    rows = [json.loads(l) for l in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["id"] for r in rows} == {"q1", "q3", "q4"}
    assert "| questions |" in (out / "report.md").read_text(encoding="utf-8")
    # the paragraphs' index is cached by content: a second run reuses the same generation
    folder, _a, _q = squad_index(tiny, emb, cache_dir=tmp_path / "cache")
    gen = current_generation(folder)
    run_squad(tiny, embedder=emb, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out2", retriever="lexical", limit=2)
    assert current_generation(folder) == gen


def test_run_squad_mixed_with_news(tiny, tmp_path, seed_dir):
    emb = HashingEmbedder(dim=256)
    folder, arts, _qs = squad_index(tiny, emb, mix=True, news_paths=[seed_dir], cache_dir=tmp_path / "cache")
    from qa.index.store import verify_index

    idx = verify_index(folder)
    assert len(idx.articles) == len(arts) + 29  # the 29 seed articles and the 3 paragraphs
    assert "mix" in folder.name


def test_cli_parses_the_retrieval_and_squad_options():
    from newsqa.cli import build_parser

    a = build_parser().parse_args(["eval", "--squad", "f.json", "--limit", "3", "--mix", "--retriever", "dense"])
    assert (str(a.squad), a.limit, a.mix, a.retriever) == ("f.json", 3, True, "dense")
    a = build_parser().parse_args(["ask", "问题", "--retriever", "lexical", "--paper", "今日柯城",
                                   "--date-from", "2022-05-01", "--date-to", "2022-05-31"])
    assert (a.retriever, a.paper, a.date_from, a.date_to) == ("lexical", "今日柯城", "2022-05-01", "2022-05-31")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ask", "问题", "--retriever", "bm25"])
