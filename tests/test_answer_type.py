"""Expected answer types (qa.answer.answer_type) and how ask() uses them to refuse near-miss questions."""

from __future__ import annotations

import pytest

from conftest import ScriptedGenerator
from qa import ask
from qa.answer.answer_type import expected_type


@pytest.mark.parametrize(
    "question, name, good, bad",
    [
        ("郑财生今年多大年纪？", "age", "郑财生今年56岁。", "郑财生是刘坂村小卖铺店主。"),
        ("安仁水库是哪一年建成的？", "year", "安仁水库建于1958年。", "安仁水库总库容109万方。"),
        ("开园试营业在哪一天？", "date", "于6月28日开园。", "项目预计年接待游客40万人次。"),
        ("钱包里有多少现金？", "money", "里面有现金2000余元。", "里面有现金和身份证。"),
        ("刘坂村共有村民多少户？", "count:户", "共有村民470余户。", "共有村民1600余人。"),
        ("今年有多少位村支部带头人获评？", "count:位", "共有11名。", "共有11个。"),
        ("新新街道下辖多少个小区？", "count:个", "下辖68个小区。", "下辖许多小区。"),
        ("刘坂村共有多少名党员？", "count:名", "共有党员52名。", "共有村民1600余人。"),
        ("这座寺庙建于哪一年？", "year", "寺庙建于正德十六年。", "寺庙占地三千平方米。"),  # a reign year
        ("How many visitors came to the park in April?", "count:people", "4月共接待游客3000人次。",
         "从1月份开始到10月份都是空档期,没有什么人流量。"),
        ("How many active users does the app have?", "count:people", "It has 133,686 active users.",
         "柯城已推广该应用场景2年。"),
        ("How many households live in Liuban?", "count:people", "共有村民470余户。", "刘坂村位于华墅乡。"),
        ("How many active users are there?", "count:people", "133686", "It started in 2021 with 50 varieties."),
        ("区十届政府召开的是第几次常务会议？", "ordinal", "召开区十届政府第6次常务会议。", "5月22日上午召开常务会议。"),
        ("这是第几届文化节？", "ordinal", "本届是第十二届文化节。", "文化节共吸引游客2万人次。"),
        ("劉坂村共有村民多少戶？", "count:户", "470余戶", "共有村民1600餘人。"),  # traditional question and answer
        ("How many mu of abandoned land became farmland?", "count:亩", "让49亩抛荒地变成致富良田。", "收集问题72件,解决民生实事28件。"),
        ("How many mu did the project cover?", "count:亩", "About 2,000 mu.", "It was finished in 2023 with 50 workers."),
        ("How many tons of waste were recycled?", "count:吨", "累计回收生活垃圾19268.15吨。", "柯城已有活跃用户133686人。"),
    ],
)
def test_expected_type(question, name, good, bad):
    t = expected_type(question)
    assert t is not None and t.name == name
    assert t.satisfied_by(good)
    assert not t.satisfied_by(bad)


@pytest.mark.parametrize("question", ["全旺镇在哪几个村打造了老年幸福食堂？", "太真乡为什么要改建下槽桥？", "九华乡飞鸿神网谷项目总投资多少？"])
def test_questions_without_a_checkable_type(question):
    assert expected_type(question) is None


def test_extractive_refuses_when_no_sentence_states_what_was_asked(small_index, hashing_embedder):
    kw = dict(index=small_index, embedder=hashing_embedder, answerer="extractive")
    a = ask("刘坂村小卖铺店主郑财生今年多大年纪？", **kw)
    assert a.refused and not a.citations
    b = ask("刘坂村共有村民多少户？", **kw)
    assert not b.refused and "470余户" in b.text


Says = ScriptedGenerator


def test_generated_answer_without_the_asked_type_is_refused(small_index, hashing_embedder):
    kw = dict(index=small_index, embedder=hashing_embedder)
    # the article is about 郑财生 but never gives his age; the model offers a real sentence instead
    a = ask("刘坂村村民郑财生今年多大年纪？", generator=Says("郑财生先后6次使用线上功能售卖废品。"), **kw)
    assert a.refused and not a.citations
    ok = ask("刘坂村共有村民多少户？", generator=Says("刘坂村共有村民470余户。"), **kw)
    assert not ok.refused and ok.answerer == "generative" and "470余户" in ok.text


def test_generated_answer_of_the_wrong_type_falls_back_to_the_typed_quote(small_index, hashing_embedder):
    # asked for households, the model answers with people: a supported sentence, but not an answer
    a = ask("刘坂村共有村民多少户？", generator=Says("刘坂村共有村民1600余人。"), index=small_index, embedder=hashing_embedder)
    assert a.answerer == "extractive" and not a.refused
    assert "470余户" in a.text and a.supported_sentences == 0


def test_organisation_questions_are_not_typed():
    # an organisation's name has no fixed form (电视台, 球队, 出版社 …): a suffix list refused
    # a third of the development sets' answerable 哪家 / 什么公司 questions and caught none of
    # their unanswerable ones (eval/OUTSIDE.md), so these questions carry no answer type
    assert expected_type("下槽桥由哪家施工单位承建？") is None
    assert expected_type("这部电影由哪家公司发行？") is None


@pytest.mark.parametrize("question, answer, ok", [
    ("推估星系的總數可能至少在幾個以上？", "超過一千億", True),   # a large count without its measure word
    ("全市有多少人？", "约1.2万", True),
    ("全市有多少人？", "3万元", False),                          # money, not a head count
    ("全市有多少户？", "2023", False),                          # a bare number is no count of 户
    ("《皇帝登寶位詔》在哪一年頒布？", "中統元年", True),           # the first year of a reign
    ("大桥在哪一年建成？", "元旦", False),
])
def test_large_counts_and_first_reign_years(question, answer, ok):
    from qa.answer.answer_type import expected_type

    assert expected_type(question).satisfied_by(answer) is ok
