"""Typed spans (qa/answer/span.py), nonsense questions and the signal-based refusal chance."""

from __future__ import annotations

import pytest

from qa.answer.extractive import is_nonsense, prechecks_out, unanswerable_chance
from qa.answer.span import question_kind, typed_span
from qa.settings import AnswerSettings

SENT = "城东新区图书馆于2020年10月18日开馆，总投资1.2亿元，藏书约80万册。"


def _span(q, s, accept=None):
    sp = typed_span(q, s, accept)
    return None if sp is None else s[sp[0]:sp[1]]


@pytest.mark.parametrize("q, kind", [("总投资多少？", "number"), ("哪一年开馆？", "date"), ("何時開館？", "date"),
                                     ("馆长是谁？", "person"), ("图书馆在哪里？", "place"), ("为什么建图书馆？", None)])
def test_question_kind(q, kind):
    assert question_kind(q) == kind


def test_number_and_date_spans():
    assert _span("城东新区图书馆总投资多少？", SENT) == "1.2亿元"
    assert _span("图书馆何时开馆？", SENT) == "2020年10月18日"
    assert _span("图书馆藏书多少册？", SENT) == "约80万册"
    # the value after the question's own words, not the first number of the sentence
    assert _span("水库的总库容是多少？", "水库正常库容84万方，总库容109万方。") == "109万方"
    # a number the question states is not the answer
    assert _span("2020年开馆的图书馆总投资多少？", SENT) == "1.2亿元"


def test_span_accepts_only_the_type_asked_for():
    assert _span("总投资多少？", SENT, accept=lambda t: "册" in t) == "约80万册"
    assert _span("总投资多少？", SENT, accept=lambda t: False) is None


def test_traditional_sentence_keeps_its_characters():
    assert _span("區長是誰？", "區委副書記、區長張三出席會議。") == "張三"


def test_no_span_for_other_questions():
    assert typed_span("为什么建图书馆？", SENT) is None
    assert typed_span("馆长是谁？", "图书馆开馆了。") is None


def test_nonsense():
    assert is_nonsense("abababababababababab") and is_nonsense("哈哈哈哈哈哈哈哈哈哈")
    assert not is_nonsense("柯城累计回收生活垃圾多少吨？")
    assert not is_nonsense("How many households live in the village and what do they grow?")
    s = AnswerSettings()
    diag = {"top_score": 0.95, "top_coverage": 1.0, "best_lexical": 1.0, "nonsense": 1.0}
    assert prechecks_out(diag, True, s) and prechecks_out(diag, False, s)


def test_unanswerable_chance_falls_with_score_and_coverage():
    s = AnswerSettings()
    lo = unanswerable_chance({"top_score": 0.93, "top_coverage": 0.9}, s)
    hi = unanswerable_chance({"top_score": 0.84, "top_coverage": 0.2}, s)
    assert 0 <= lo < s.refuse_at <= hi <= 1
    on = {"top_score": 0.93, "top_coverage": 0.9, "best_lexical": 0.5, "p_unanswerable": lo}
    assert not prechecks_out(on, False, s)
    assert prechecks_out({**on, "p_unanswerable": hi}, False, s)
    assert not prechecks_out({**on, "p_unanswerable": hi}, False, AnswerSettings(refusal="rules"))  # the old bounds


def test_relation_by_span_adjacency():
    from qa.answer.relation import relation_holds

    s = "区委副书记、区长张三，区人大常委会主任李四参加。"
    assert relation_holds("区长是谁？", "张三", s) is True
    assert relation_holds("区长是谁？", "李四", s) is False  # a name from another clause
    assert relation_holds("区长是谁？", "区委书记", s) is False  # its words are there, not as one span
    assert relation_holds("區長是誰？", "張三", "區委副書記、區長張三，區人大常委會主任李四參加。") is True
    assert relation_holds("总投资多少？", "1.2亿元", SENT) is None  # numbers are grounding's job


def test_span_words_after_the_question_word_and_lists():
    s = "全区68个小区中，已成立40个业委会，覆盖率近六成。"
    assert _span("目前成立了多少个业委会？", s) == "40个"  # 业委会 follows its count
    assert _span("路面有多宽？", "桥长20米，路面宽12米。") == "12米"  # 宽 names the value
    assert _span("电工多久赶到？", "电工30来分钟就赶到了。") == "30来分钟"
    assert typed_span("在哪几个村试点？", "在甲村、乙村和丙村试点。") is None  # several items: the sentence


def test_nonsense_is_refused_through_ask(small_index, hashing_embedder):
    from qa import ask

    a = ask("abababababababababab", index=small_index, embedder=hashing_embedder, answerer="extractive")
    assert a.refused and not a.citations and a.signals.get("nonsense") == 1.0
    assert "signals" in a.to_dict()


def test_the_measure_word_the_question_names_picks_the_value():
    from qa.answer.span import typed_span

    sent = "老街改造工程昨日完工，共修复传统民居三十六栋，新增停车位四百个。"
    s, e = typed_span("修复了多少栋传统民居？", sent)
    assert sent[s:e] == "三十六栋"
    s, e = typed_span("新增了多少个停车位？", sent)
    assert sent[s:e] == "四百个"
    sent2 = "全村共有村民470余户、1300余人。"
    s, e = typed_span("全村有多少人？", sent2)
    assert sent2[s:e] == "1300余人"


def test_chinese_decimals_and_percentages_are_one_value():
    from qa.answer.span import typed_span

    sent = "东河河道整治工程全长十二点五公里，总投资三亿元。"
    s, e = typed_span("东河河道整治长度是多少公里？", sent)
    assert sent[s:e] == "十二点五公里"
    sent2 = "一季度全区地区生产总值增长百分之六点五。"
    s, e = typed_span("一季度地区生产总值增长了多少？", sent2)
    assert sent2[s:e] == "百分之六点五"


def test_a_clock_time_question_is_not_answered_with_a_count():
    from qa.answer.span import typed_span

    # 几点 asks for a time of day, which no number span states: the sentence answers
    assert typed_span("首班车几点发车？", "三条公交新线首班车早上六点发车。") is None
