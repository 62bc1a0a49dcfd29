"""Evaluation: the scoring functions on hand-computed cases, and run_eval end to end on the small index."""

from __future__ import annotations

import json

import pytest

from eval import metrics as M
from eval.run import load_gold, run_eval
from qa.errors import CorpusError

# --------------------------------------------------------------------------- #
# metrics


@pytest.mark.parametrize(
    "pred,ref,expected",
    [
        ("北京市", "北京", 0.8),  # P 2/3, R 1 → 2·(2/3)/(5/3) = 0.8
        ("北京", "北京市", 0.8),  # symmetric
        ("470余户[1]", "470余户", 1.0),  # citation markers are not part of the answer
        ("苹果，香蕉。", "苹果香蕉", 1.0),  # punctuation ignored
        ("哈哈哈", "哈", 0.5),  # repeated characters count once per match: P 1/3, R 1
        ("甲乙丙丁", "丙丁戊己", 0.5),  # 2 common of 4 and 4
        ("abc", "xyz", 0.0),
        ("ＡＢＣ", "abc", 1.0),  # full-width and case unified
        ("", "", 1.0),
        ("答案", "", 0.0),
        ("", "答案", 0.0),
        ("。，", "答案", 0.0),  # only punctuation = empty
    ],
)
def test_char_f1(pred, ref, expected):
    assert M.char_f1(pred, ref) == pytest.approx(expected)


def test_max_f1_and_exact_match():
    assert M.max_f1("北京市", ["上海", "北京", "北京市"]) == pytest.approx(1.0)
    assert M.max_f1("北京市", []) == 0.0
    assert M.exact_match("北京市。[1]", ["北京市"])
    assert not M.exact_match("北京市", ["北京"])


@pytest.mark.parametrize(
    "text,refs,expected",
    [
        ("刘坂村共有村民４７０余户。[1]", ["470余户"], True),  # full-width digits
        ("刘坂村共有村民470余户。", ["４７０余户"], True),
        ("累计回收19268.15吨", ["19268.15吨"], True),
        ("共有 470 余户", ["470余户"], True),  # spaces ignored
        ("Ｃｈｉｎａ Daily", ["china daily"], True),
        ("刘坂村共有村民480余户", ["470余户", "470"], False),
        ("任何回答", [], False),
        ("任何回答", [""], False),  # an empty reference never matches
        ("任何回答", ["。"], False),  # nor one that is only punctuation
        ("7,000-8,000元[1]", ["七八千元"], True),  # the same quantity in another notation
        ("月收入约7000元", ["七八千元"], False),  # one of the two values only
        ("7000-8000人", ["七八千元"], False),  # same values, other unit
        ("两万余人", ["20000人"], True),
        ("49 mu[1]", ["49亩"], True),  # an English answer's unit word
        ("6 households", ["6户"], True),
        ("49 people", ["49亩"], False),
        ("mu: 49", ["49亩"], False),  # the unit word must follow the number
    ],
)
def test_answer_correct(text, refs, expected):
    assert M.answer_correct(text, refs) is expected


def test_answer_text_strips_markers():
    assert M.answer_text("甲[1]乙[12]丙") == "甲乙丙"
    assert M.answer_text("[a]") == "[a]"


def test_contains_evidence_ignores_whitespace_and_width():
    passage = "据悉,刘坂村共有村民\n470余户1600余人,5年前"
    assert M.contains_evidence(passage, "刘坂村 共有村民470余户")
    assert M.contains_evidence(passage, "刘坂村共有村民４７０余户")
    assert not M.contains_evidence(passage, "刘坂村共有村民480余户")
    assert not M.contains_evidence(passage, "")


def test_first_hit_rank():
    ps = ["无关", "也无关", "刘坂村共有村民470余户", "刘坂村共有村民470余户"]
    assert M.first_hit_rank(ps, "村民 470") == 3
    assert M.first_hit_rank(ps, "火星") is None
    assert M.first_hit_rank([], "x") is None


def test_citation_supports():
    ev = "ABCDEFGH"
    assert M.citation_supports("xxABCDEFGHyy", "a.txt", ev, "a.txt")
    assert M.citation_supports("xxABCDEFGHyy", "b.txt", ev, "")  # no gold source: any source
    assert not M.citation_supports("xxABCDEFGHyy", "b.txt", ev, "a.txt")  # wrong page
    assert M.citation_supports("zzABCDzz", "a.txt", ev, "a.txt")  # 4 of 8 shared: exactly half
    assert not M.citation_supports("zzABCzzFGH", "a.txt", ev, "a.txt")  # longest shared run is 3 < 4
    assert M.citation_supports("ABCD EFGH", "a.txt", ev, "a.txt")  # whitespace ignored
    assert not M.citation_supports("ABCDEFGH", "a.txt", "", "a.txt")


def test_longest_common_substring():
    assert M.longest_common_substring("abcdef", "zcdez") == 3
    assert M.longest_common_substring("", "abc") == 0
    assert M.longest_common_substring("刘坂村共有", "共有村民") == 2


@pytest.mark.parametrize(
    "values,pct,expected",
    [
        ([], 50, 0.0),
        ([7.0], 50, 7.0),
        ([7.0], 95, 7.0),
        ([3, 1, 2], 100, 3),
        ([3, 1, 2], 0, 1),
        (list(range(1, 11)), 95, 10),  # rank ceil(9.5) = 10
        (list(range(1, 11)), 25, 3),  # rank ceil(2.5) = 3
        ([1, 2, 3, 4], 50, 2),  # rank ceil(2) = 2
    ],
)
def test_percentile_nearest_rank(values, pct, expected):
    assert M.percentile(values, pct) == expected


@pytest.mark.parametrize(
    "values,pct,expected",
    [(list(range(1, 11)), 50, 5), ([1, 2], 50, 1), (list(range(1, 21)), 95, 19), ([4, 3, 2, 1], 75, 3)],
)
def test_percentile_nearest_rank_integer_rank(values, pct, expected):
    assert M.percentile(values, pct) == expected


def test_ratio():
    assert M.ratio(1, 4) == 0.25
    assert M.ratio(3, 0) is None


# --------------------------------------------------------------------------- #
# gold files and run_eval


def _gold(path, items):
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


GOLD = [
    {"id": "a1", "question": "安仁水库总库容多少?", "answers": ["109万方"], "evidence": "总库容109万方",
     "source": "002_a1394b6d0e0c442f.txt", "kind": "factoid"},
    {"id": "a2", "question": "春江社区下辖几个小区", "answers": ["6个小区", "6个"], "evidence": "下辖6个小区",
     "source": "003_b6a1a753da2b1ca8.txt", "kind": "factoid"},
    {"id": "u1", "question": "火星上有多少只猫?", "answers": [], "answerable": False, "kind": "unanswerable"},
]


def test_run_eval_writes_rows_summary_and_report(tmp_path, small_index, hashing_embedder):
    gold = _gold(tmp_path / "gold.jsonl", GOLD)
    out = tmp_path / "run"
    command = "newsqa eval --gold gold.jsonl --marker-7731"
    summary, where = run_eval(gold, out_dir=out, index=small_index, k=5, command=command, embedder=hashing_embedder)
    assert where == out

    rows = [json.loads(l) for l in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2", "u1"]
    assert all(r["error"] is None for r in rows)
    by_id = {r["id"]: r for r in rows}
    assert by_id["u1"]["answerable"] is False and by_id["u1"]["kind"] == "unanswerable"
    for r in rows:
        assert {"answer", "refused", "hit_rank", "correct", "f1", "citations", "seconds"} <= set(r)
    # the row's metrics agree with its own answer text
    for rid in ("a1", "a2"):
        r = by_id[rid]
        assert r["correct"] == (not r["refused"] and M.answer_correct(r["answer"], r["references"]))

    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"overall", "by_kind", "meta"} <= set(saved)
    assert saved["overall"] == summary["overall"]
    assert saved["overall"]["questions"] == 3
    assert saved["overall"]["answerable"] == 2 and saved["overall"]["unanswerable"] == 1
    assert set(saved["by_kind"]) == {"factoid", "unanswerable"}
    assert saved["by_kind"]["factoid"]["questions"] == 2
    acc = saved["overall"]["accuracy"]
    assert acc == sum(by_id[i]["correct"] for i in ("a1", "a2")) / 2
    assert saved["overall"]["refusal_recall"] == (1.0 if by_id["u1"]["refused"] else 0.0)
    assert saved["meta"]["command"] == command

    report = (out / "report.md").read_text(encoding="utf-8")
    assert command in report
    assert "| **all** |" in report
    for rid in ("a1", "a2", "u1"):
        assert f"| {rid} |" in report


def test_run_eval_limit_and_default_command(tmp_path, small_index, hashing_embedder):
    gold = _gold(tmp_path / "gold.jsonl", GOLD)
    summary, out = run_eval(gold, out_dir=tmp_path / "r", index=small_index, limit=1, embedder=hashing_embedder)
    assert summary["overall"]["questions"] == 1
    assert len((out / "rows.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    assert f"newsqa eval --gold {gold}" in (out / "report.md").read_text(encoding="utf-8")


def test_gold_defaults(tmp_path):
    items = load_gold(_gold(tmp_path / "g.jsonl", [{"question": "甲?", "answers": ["乙"]}, {"question": "丙?"}]))
    assert [i["id"] for i in items] == ["q1", "q2"]
    assert items[0]["answerable"] is True and items[0]["kind"] == "factoid"
    assert items[1]["answerable"] is False and items[1]["kind"] == "unanswerable"


@pytest.mark.parametrize(
    "lines",
    [
        ['{"question": "好?"}', "{broken"],
        ['{"question": "好?"}', '{"answers": ["x"]}'],
        ['{"question": "好?"}', '["not", "an", "object"]'],
        ['{"id": "x", "question": "好?"}', '{"id": "x", "question": "又好?"}'],
    ],
    ids=["json", "no-question", "not-object", "duplicate-id"],
)
def test_bad_gold_line(tmp_path, lines):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2"):
        load_gold(p)


def test_bad_gold_file_stops_run_eval(tmp_path, small_index, hashing_embedder):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"question": "好?"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CorpusError):
        run_eval(p, out_dir=tmp_path / "r", index=small_index, embedder=hashing_embedder)
    assert not (tmp_path / "r").exists()


def test_empty_or_missing_gold(tmp_path):
    with pytest.raises(CorpusError):
        load_gold(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError):
        load_gold(tmp_path / "empty.jsonl")


def test_shipped_gold_file_loads():
    from eval.run import KINDS, default_gold_path

    items = load_gold(default_gold_path())
    assert items
    assert {i["kind"] for i in items} <= set(KINDS)


def test_also_evidence_counts_another_sentence_stating_the_answer():
    from eval.run import score_item

    item = {"id": "x", "kind": "factoid", "answerable": True, "question": "谁捡到了钱包？", "answers": ["杨诺涵"],
            "evidence": "向捡到其钱包的学生杨诺涵表达谢意", "source": "p.txt"}
    cite = {"n": 1, "source": "p.txt", "quote": "学生杨诺涵和妈妈恰巧路过,捡到了邵先生丢失的钱包。"}
    answer = {"text": "杨诺涵[1]", "refused": False, "hits": [], "citations": [cite]}
    assert score_item(item, answer, None, 0.1)["citations"][0]["supports"] is False
    item["also_evidence"] = ["学生杨诺涵和妈妈恰巧路过,捡到了邵先生丢失的钱包"]
    assert score_item(item, answer, None, 0.1)["citations"][0]["supports"] is True


def test_heldout_sets_are_valid_gold_files(tmp_path):
    import json

    from eval.heldout import HERE, SETS, gold_rows
    from eval.run import load_gold

    for name, src, field in SETS:
        rows = gold_rows(HERE / src, field, name)
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        items = load_gold(path)
        source = [json.loads(line) for line in (HERE / src).read_text(encoding="utf-8").splitlines() if line.strip()]
        assert [it["question"] for it in items] == [s[field] for s in source]
        assert all(it["kind"] == name for it in items)
