"""The question's leading subject (qa.answer.subject) and the policy's refusal of answers about a namesake."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import ScriptedGenerator
from qa import ask
from qa.answer.subject import leading_subject, names_subject
from qa.settings import GenerationSettings, Settings


@pytest.mark.parametrize(
    "question, phrase",
    [
        ("德龙烟铁路全长多少公里？", "德龙烟铁路全长"),
        ("2009年4月7日张三在哪里举办了记者会？", "张三"),  # a leading date is not the subject
        ("在城南新区，哪家企业最先入驻？", "城南新区"),  # nor a leading preposition
        ("東羅馬帝國時期，國際貿易在幾世紀時達到最高峰?", "东罗马帝国"),  # traditional, compared simplified
        ("九龙巴士32M线来往于哪些地方？", "九龙巴士32m线"),
        ("区长是谁？", "区长"),
        ("浙江省衢州市的城西水库位于哪个镇？", "城西水库"),  # places before 的 only locate the subject
        ("张三的职业是什么？", "张三"),
        ("城南县的北边与哪个城市相邻？", "城南县"),  # …unless what follows is a direction from it
    ],
)
def test_leading_subject_phrase(question, phrase):
    s = leading_subject(question)
    assert s is not None and s.phrase == phrase


@pytest.mark.parametrize("question", ["哪些农作物是耐风作物？", "这张专辑的主题是什么？", "Who built the bridge?", "", "？"])
def test_questions_that_name_no_subject(question):
    assert leading_subject(question) is None


@pytest.mark.parametrize(
    "question, named, other",
    [
        ("德龙烟铁路全长多少公里？", "德龙烟铁路西起德州，全长约四百公里。", "大莱龙铁路位于山东省北部，全长175公里。"),
        # a code must match exactly: route 32B is not route 32M
        ("九龙巴士32M线来往于哪些地方？", "九龙巴士32M线来往葵芳及荃湾。", "九龙巴士32B线来往荃湾西站及象山邨。"),
        # and as a whole code: 11 is not in B9TL11 or 40M, nor 32 in 132
        ("城西巴士11线途经哪些站？", "城西巴士11线途经南站。", "城西巴士40M线使用B9TL11米巴士。"),
        ("九龙巴士32线来往于哪些地方？", "九龙巴士32线来往荃湾。", "九龙巴士132线来往荃湾，票价3.2元。"),
        # a quoted title must be there whole
        ("《白之春》的主演是谁？", "《白之春》由某某主演。", "《夜长梦多》由霍华德·霍克斯导演。"),
        # only the start of the phrase is asked for: the property asked about may be worded otherwise
        ("城西大桥的总长度是多少？", "城西大桥全长1.2公里。", "城东大桥全长800米。"),
        ("張三在哪一年出生？", "张三生于1950年。", "李四生于1950年。"),  # traditional question, simplified article
    ],
)
def test_names_subject(question, named, other):
    s = leading_subject(question)
    assert names_subject(s, named)
    assert not names_subject(s, other)


def test_a_word_common_in_the_archive_need_not_be_named():
    # a local paper seldom repeats its own district: the rest of the subject must be named
    common = {"城南区"}.__contains__
    s = leading_subject("城南区新新街道下辖多少个小区？", common)
    assert s.core == "新新街道"
    assert names_subject(s, "新新街道下辖68个小区。")
    assert not names_subject(s, "老街社区下辖12个小区。")
    assert not names_subject(leading_subject("城南区新新街道下辖多少个小区？"), "新新街道下辖68个小区。")
    # single characters are never skipped as common (jieba cuts 新新街道 as 新/新/街道): no core
    assert leading_subject("新新街道下辖多少个小区？", lambda w: True).core == ""


Says = ScriptedGenerator


def _settings(**kw) -> Settings:
    return dataclasses.replace(Settings(), generation=dataclasses.replace(GenerationSettings(), **kw))


# The archive has a village whose household count it states; the question asks the same of a
# village it never mentions. The model answers with the first village's fact, which grounding
# supports word for word.
NAMESAKE = "周家村共有村民多少户？"
REPLY = "共有村民470余户。"


def test_an_answer_from_an_article_that_never_names_the_subject_is_refused(small_index, hashing_embedder):
    kw = dict(index=small_index, embedder=hashing_embedder, generator=Says(REPLY))
    a = ask(NAMESAKE, settings=_settings(subject_check_from=0.0), **kw)
    assert a.refused and not a.citations
    assert a.signals.get("subject_missing") == 1.0
    off = ask(NAMESAKE, settings=_settings(subject_check=False), **kw)
    assert not off.refused and "470余户" in off.text  # what the check prevents


def test_the_extractive_answer_is_checked_too(small_index, hashing_embedder):
    kw = dict(index=small_index, embedder=hashing_embedder, answerer="extractive")
    off = ask(NAMESAKE, settings=_settings(subject_check=False), **kw)
    on = ask(NAMESAKE, settings=_settings(subject_check_from=0.0), **kw)
    if off.refused:
        pytest.skip("the extractive answerer refuses this question before the subject check")
    assert on.refused and not on.citations


def test_the_check_is_skipped_while_the_retrieval_signals_leave_no_doubt(small_index, hashing_embedder):
    # from a chance of 1.01 nothing is ever checked
    a = ask(NAMESAKE, settings=_settings(subject_check_from=1.01), index=small_index, embedder=hashing_embedder,
            generator=Says(REPLY))
    assert not a.refused


def test_subject_check_setting_from_the_environment():
    assert Settings.from_env({"NEWSQA_SUBJECT_CHECK": "off"}).generation.subject_check is False
    assert Settings.from_env({}).generation.subject_check is True


def test_eval_subject_replay_refuses_only_rows_whose_cited_articles_miss_the_subject():
    from eval.subject import replay

    arts = {"a": "大莱龙铁路\n大莱龙铁路全长175公里。", "b": "德龙烟铁路\n德龙烟铁路全长四百公里。"}
    row = dict(question="德龙烟铁路全长多少公里？", refused=False, signals={"p_unanswerable": 0.3})
    rows = [dict(row, answerable=False, cited=["a"], f1=0.0), dict(row, answerable=True, cited=["b"], f1=1.0)]
    before, after = replay(rows, arts, None), replay(rows, arts, 0.02)
    assert before["left_out_refused"] == 0.0 and after["left_out_refused"] == 1.0
    assert after["false_refusals"] == 0.0 and after["char_f1"] == 1.0
    assert replay(rows, arts, 0.5)["left_out_refused"] == 0.0  # p_unanswerable below the bar: not checked
