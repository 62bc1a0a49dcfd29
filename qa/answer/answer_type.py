"""Expected answer types: a question that asks for an age, a year, a date, a sum of money or a count of
some unit is answered only by text that states one.

Unanswerable questions about a topic the paper does cover ("how old is X", "which
year was it built", "how many households") retrieve the right article, and both the
extractive answerer and the LLM then offer its nearest sentence. Checking the answer's
type, a classic step of question-answering pipelines, catches them without any
threshold: an answer to 多大年纪 must hold an age (…岁), to 哪一年 a year, to 多少户 a
number of 户.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.text import normalize

_NUM = r"(?:\d+(?:\.\d+)?|[〇零一二两三四五六七八九十百千万亿]+)"


@dataclass(frozen=True)
class AnswerType:
    """What a question asks for, and the pattern an answer must contain."""

    name: str
    pattern: re.Pattern[str]

    def satisfied_by(self, text: str) -> bool:
        """Whether the text states this type (compared in the retrieval form: 470余戶 states 户)."""
        return bool(self.pattern.search(normalize(text)))


# (question pattern, type name, answer pattern); the first match wins
_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"多大年纪|多大岁数|几岁|多少岁|年龄"), "age", rf"{_NUM}\s*(?:周岁|岁)"),
    # a year in digits, Chinese numerals or a reign year (1958年, 一九五八年, 正德十六年, 中统元年)
    (re.compile(r"哪一年|哪年|何年|which year|what year", re.I), "year", rf"(?:{_NUM}|元)\s*年|(?:19|20)\d{{2}}"),
    (re.compile(r"哪一天|哪天|几月几日|几月几号|何日|什么日子|what date|which day", re.I), "date",
     rf"{_NUM}\s*月\s*{_NUM}\s*[日号]|{_NUM}\s*[日号]|\d{{4}}-\d{{1,2}}-\d{{1,2}}|(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d"),
    (re.compile(r"多少(?:钱|现金|元|万元|亿元)|how much money", re.I), "money", rf"{_NUM}\s*(?:多|余)?\s*(?:万|亿)?\s*元|\d[\d.,]*\s*(?:yuan|RMB)"),
    # 第几次会议 / 第几届: the answer states an ordinal (第6次), not just any number
    (re.compile(r"第几"), "ordinal",
     rf"第\s*{_NUM}|\b\d+(?:st|nd|rd|th)\b|\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\b"),
]
# 多少户 / 几户 / 多少名 …: the answer names a number of that unit
_COUNT_UNITS = "户名位人个家座亩吨辆台所项条次"
# 哪几个村 asks for names, not a count
_COUNT_Q = re.compile(rf"(?:多少|(?<!哪)几)([{_COUNT_UNITS}])")
# units that answer for each other: 名 and 位 count people alike, and 多少人 may be answered
# in either; but 1600余人 (a head count) does not answer 多少名党员
_SAME_UNIT = {"名": "名位", "位": "名位", "人": "名位人", "个": _COUNT_UNITS}


# "how many people / visitors / households …" in English: a head count, answered by a number
# of people or households in the passage (1600余人, 470余户) or in an English answer ("133,686
# users"); months and years (从1月份到10月份) do not answer it
_EN_PEOPLE = (r"people|persons|visitors|tourists|residents|villagers|users|members|workers|employees|"
              r"households|families|volunteers|students|patients|farmers|participants|attendees")
_EN_COUNT_Q = re.compile(rf"\bhow many\s+(?:[a-z-]+\s+)?(?:{_EN_PEOPLE})\b", re.I)
# a number of some unit: 470余户, 1.2万人, 十多名
_COUNT_OF = rf"{_NUM}\s*(?:多|余)?\s*(?:万|千|百|亿)?\s*(?:多|余)?\s*"
# a large count is often stated without its measure word: 超过一千亿, 1.2万 (but never a bare 2023,
# and 3万元 is a sum of money)
_COUNT_LARGE = rf"{_NUM}\s*(?:多|余)?\s*[万亿](?!\s*(?:多|余)?\s*[元万亿])"
_EN_COUNT_A = (rf"{_COUNT_OF}(?:[名位人户]|人次)"
               rf"|\d[\d,.]*\s*(?:million|thousand)?\s+(?:[a-z-]+\s+){{0,2}}(?:{_EN_PEOPLE})\b"
               # a bare number is the count asked for ("133686"; grounding checks it is in a passage)
               r"|^\s*\d[\d,.]*\s*[。.]?\s*$")


# "how many mu / tons / square meters …" in English: a measure, stated with its Chinese unit in
# the passage (49亩), with the English one in an answer ("49 mu"), or as a bare number
_EN_MEASURES = (
    ("亩", r"mu"), ("吨", r"tons?|tonnes?"), ("平方米|㎡", r"square (?:meters|metres)|m2"),
    ("公里|千米", r"kilometers|kilometres|km"), ("米", r"meters|metres"),
)
_EN_MEASURE_Q = [(zh, en, re.compile(rf"\bhow many\s+(?:{en})\b", re.I)) for zh, en in _EN_MEASURES]


def expected_type(question: str) -> AnswerType | None:
    """The answer type a question asks for, or None when it asks for nothing checkable.

    Args:
        question: the question (compared in its retrieval form: simplified Chinese, half-width).

    Returns:
        An ``AnswerType``, or None.
    """
    question = normalize(question)  # 多少戶 asks for 户
    for q, name, ans in _RULES:
        if q.search(question):
            return AnswerType(name, re.compile(ans, re.I))
    if _EN_COUNT_Q.search(question):
        return AnswerType("count:people", re.compile(_EN_COUNT_A, re.I))
    for zh, en, q in _EN_MEASURE_Q:
        if q.search(question):
            unit = zh.split("|")[0]
            return AnswerType(f"count:{unit}", re.compile(
                rf"{_COUNT_OF}(?:{zh})|\d[\d,.]*\s*(?:{en})\b|^\s*\d[\d,.]*\s*[。.]?\s*$", re.I))
    m = _COUNT_Q.search(question)
    if m:
        unit = m.group(1)
        # 个 is the general measure word: 多少个小区 may be answered "68个" but also "68家"
        units = _SAME_UNIT.get(unit, unit)
        return AnswerType(f"count:{unit}", re.compile(rf"{_COUNT_OF}[{units}]|{_COUNT_LARGE}"))
    return None
