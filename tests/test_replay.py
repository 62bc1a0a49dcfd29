"""Offline replays of recorded evaluation rows: the pre-check bar and refusal override (eval.replay), one band of questions (eval.squad ids)."""

from __future__ import annotations

import json

from eval.replay import choose, figures, outcome


def _row(answerable, refused, p, f1=0.0, model_refused=0.0, answerer="generative", s="a", para="squad-x-0001-000"):
    return {"answerable": answerable, "refused": refused, "f1": f1, "answerer": answerer, "set": s, "paragraph": para,
            "signals": {"p_unanswerable": p, "model_refused": model_refused}}


def test_a_lower_bar_refuses_rows_at_or_over_it():
    r = _row(True, False, 0.6, f1=1.0)
    assert outcome(r, 0.747) == (False, 1.0)
    assert outcome(r, 0.6) == (True, 0.0)  # at the bar: refused


def test_override_off_refuses_what_the_model_refused():
    r = _row(True, False, 0.05, f1=0.5, model_refused=1.0, answerer="extractive")
    assert outcome(r, 0.747, override=True) == (False, 0.5)
    assert outcome(r, 0.747, override=False) == (True, 0.0)
    # a model answer that grounding dropped is not the override
    assert outcome(_row(True, False, 0.05, f1=0.5, answerer="extractive"), 0.747, override=False) == (False, 0.5)


def test_figures_and_choice():
    rows = [_row(True, False, 0.1, 1.0), _row(True, False, 0.55, 1.0), _row(False, False, 0.6), _row(False, True, 0.9)]
    f = figures(rows, 0.747)
    assert (f["false_refusals"], f["refusal_recall"], f["char_f1"]) == (0.0, 0.5, 1.0)
    f = figures(rows, 0.5)
    assert (f["false_refusals"], f["refusal_recall"]) == (0.5, 1.0)
    assert choose(rows, [0.5, 0.58, 0.747], max_false=0.0) == 0.58
    assert choose(rows, [0.5], max_false=0.0) == 0.5  # none qualifies: the highest


def test_run_squad_asks_only_the_given_ids(tmp_path):
    from embeddings.encoder import HashingEmbedder
    from eval.squad import load_squad, run_squad

    data = {"data": [{"title": "甲", "paragraphs": [{"context": "甲城有三座桥。甲城人口十万。", "qas": [
        {"id": "q1", "question": "甲城有几座桥？", "answers": [{"text": "三座", "answer_start": 3}]},
        {"id": "q2", "question": "甲城人口多少？", "answers": [{"text": "十万", "answer_start": 11}]}]}]}]}
    f = tmp_path / "s.json"
    f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    _s, out = run_squad(f, embedder=HashingEmbedder(dim=64), cache_dir=tmp_path / "c", out_dir=tmp_path / "o",
                        answerer="extractive", ids={"q2"})
    rows = [json.loads(x) for x in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["q2"]
    assert len(load_squad(f)[1]) == 2


def test_english_ablation_variants():
    from eval.english import VARIANTS, lexicon_for
    from qa.lexical.crosslingual import lexicon, phrase_key
    from qa.lexical.glossary import GLOSSARY

    tables = {v: lexicon_for(v) for v in VARIANTS}
    assert tables["none"] == {} and tables["glossary+cedict"] == lexicon()
    assert set(tables["glossary"]) == {phrase_key(p) for p in GLOSSARY}
    assert len(tables["cedict"]) > 10 * len(tables["glossary"])


def test_english_squad_keeps_every_paragraph_and_only_translated_questions(tmp_path):
    from eval.english import english_squad

    data = {"data": [{"title": "甲", "paragraphs": [
        {"context": "甲城有三座桥。", "qas": [{"id": "q1", "question": "甲城有几座桥？", "answers": [{"text": "三座", "answer_start": 3}]},
                                          {"id": "q2", "question": "甲城在哪？", "answers": []}]},
        {"context": "乙城人口十万。", "qas": [{"id": "q3", "question": "乙城人口多少？", "answers": [{"text": "十万", "answer_start": 4}]}]}]}]}
    src = tmp_path / "s.json"
    src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tr = tmp_path / "t.jsonl"
    tr.write_text(json.dumps({"id": "q1", "zh": "甲城有几座桥？", "en": "How many bridges does Jiacheng have?"}) + "\n", encoding="utf-8")
    out = json.loads(english_squad(src, tr, tmp_path / "en.json").read_text(encoding="utf-8"))
    paras = out["data"][0]["paragraphs"]
    assert [p["context"] for p in paras] == ["甲城有三座桥。", "乙城人口十万。"]
    assert paras[0]["qas"] == [{"id": "q1", "question": "How many bridges does Jiacheng have?",
                                "answers": [{"text": "三座", "answer_start": 3}]}]
    assert paras[1]["qas"] == []
