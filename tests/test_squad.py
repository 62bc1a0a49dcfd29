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
    assert summary["char_f1"] == 1.0 and summary["em"] == 1.0  # each asks for a number: the typed span, not the sentence
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


class _EchoGenerator:
    """Always refuses, as a 1.5B model too often does (a stand-in for the LLM)."""

    name = "echo"

    def stream(self, messages, **kw):
        yield "资料中没有相关信息。"


def test_unanswerable_share_leaves_documents_out(tiny, tmp_path):
    from eval.squad import document_of, left_out_documents

    arts, _qs = load_squad(tiny)
    assert left_out_documents(arts, 0.0) == set()
    gone = left_out_documents(arts, 0.5, seed=1)
    assert len(gone) == 1 and gone == left_out_documents(arts, 0.5, seed=1)  # seeded, whole documents
    with pytest.raises(Exception):
        left_out_documents(arts, 1.0)
    emb = HashingEmbedder(dim=256)
    summary, out = run_squad(tiny, embedder=emb, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out",
                             retriever="hybrid", answerer="extractive", unanswerable_share=0.5, seed=1)
    rows = [json.loads(l) for l in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    removed = {r["id"] for r in rows if not r["answerable"]}
    assert removed and removed == {q["id"] for q in _qs if q["document"] in gone and not q["empty"]}
    assert summary["answerable"] + summary["unanswerable"] == summary["questions"] == 3
    from qa.index.store import verify_index

    folder, _a, _q = squad_index(tiny, emb, cache_dir=tmp_path / "cache", exclude=gone)
    assert not any(document_of(a) in gone for a in verify_index(folder).articles)
    for key in ("cited_own", "false_refusals", "refusal_recall", "refusal_precision", "ttft_p50_ms"):
        assert key in summary
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "left out of the index: 1 of 2 documents" in report and "refusal_recall" in report


def test_summary_refusal_figures():
    from eval.squad import summarize

    def row(answerable, refused, f1=0.0, own=False):
        return {"error": None, "answerable": answerable, "refused": refused, "f1": f1, "em": False, "contains": False,
                "cited_own": own, "hit_rank": 1 if answerable else None, "seconds": 1.0, "ttft_ms": 500.0}

    s = summarize([row(True, False, 1.0, True), row(True, True), row(False, True), row(False, False)])
    assert s["false_refusals"] == 0.5 and s["refusal_recall"] == 0.5 and s["refusal_precision"] == 0.5
    assert s["char_f1"] == 0.5 and s["cited_own"] == 0.5 and s["ttft_p50_ms"] == 500.0


def test_rows_record_the_model_output_and_prompt(tiny, tmp_path):
    emb = HashingEmbedder(dim=256)
    _s, out = run_squad(tiny, embedder=emb, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out",
                        answerer="generative", generator=_EchoGenerator())
    rows = [json.loads(l) for l in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    asked = [r for r in rows if "model_output" in r]
    assert asked and all(r["model_output"].startswith("资料中没有") for r in asked)
    assert any(r["answer_in_prompt"] for r in asked)  # the prompt held the reference


def test_cli_parses_unanswerable_share():
    from newsqa.cli import build_parser

    a = build_parser().parse_args(["eval", "--squad", "f.json", "--unanswerable-share", "0.33", "--seed", "7"])
    assert (a.unanswerable_share, a.seed) == (0.33, 7)
