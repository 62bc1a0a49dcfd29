"""The span of a sentence that answers a question asking for a number, a date, a person or a place."""

from __future__ import annotations

import logging
import re
from typing import Callable

from qa.text import normalize

log = logging.getLogger(__name__)

_CN = "零〇一二两三四五六七八九十百千万亿"
_UNIT = (r"平方公里|平方千米|平方米|平方英里|立方米|立方|方|公里|千米|公顷|厘米|毫米|米|吨|公斤|千克|克|美元|港元|欧元|日元|英镑|元|岁|周年|年|个月|月|"
         r"星期|周|天|日|小时|分钟|秒|人次|人|名|位|户|家|座|个|次|场|届|项|条|辆|台|所|部|本|种|倍|度|%|层|集|首|张|只|头|匹|亩|"
         r"英尺|英里|磅|艘|架|枚|颗|间|门|册|卷|篇|支|队|国|省|州|县|区|村|章|节|票|分|栋|幢|套|处|棵|株|块|件|份|例|起|批|期|km|kg|cm|mm|m")
_NUMBER = re.compile(
    rf"(?:约|近|超过|逾|大约|将近|多达|不到)?(?:\d[\d,.]*(?:\s*(?:多|余|来))?(?:\s*[万亿千百])?(?:\s*(?:多|余))?\s*(?:{_UNIT})?"
    rf"|百分之[{_CN}点]+|[{_CN}][{_CN}点]*(?:多|余)?(?:{_UNIT}))"
)
_DATE = re.compile(
    rf"(?:公元前?)?(?:\d{{1,4}}|[{_CN}]{{2,4}})年代?(?:\d{{1,2}}月)?(?:\d{{1,2}}[日号])?"
    rf"|\d{{1,2}}月(?:\d{{1,2}}[日号])?|\d{{1,2}}[日号]|(?:\d{{1,2}}|[{_CN}]{{1,3}})世纪(?:\d0年代)?"
)
KINDS = {
    "date": re.compile(r"哪一?年|何年|哪一?天|何时|什么时候|几月|几号|几日|哪个月|何日|什么年代|哪个年代|哪一年代|什么时间|哪个世纪"),
    "number": re.compile(r"多少|(?<!哪)几(?!乎|点|时)|多大|多长|多高|多宽|多深|多远|多重|多久|多厚|多快|多少钱|第几"),
    "person": re.compile(r"谁|哪位|什么人|哪个人|哪一位"),
    "place": re.compile(r"哪里|哪儿|在哪|何处|何地|什么地方|哪个(?:国家|城市|省|地区|州|县|市|岛)|哪国|哪座城市|哪一个国家"),
}
_LIST = re.compile(r"哪几|哪些|有哪|分别")
_POS = {"person": ("nr",), "place": ("ns", "nt")}


def question_kind(question: str) -> str | None:
    """What a question asks for: "date", "number", "person", "place", or None (anything else)."""
    q = normalize(question)
    for kind, pat in KINDS.items():
        if pat.search(q):
            return kind
    return None


def _spans(kind: str, sent: str) -> list[tuple[int, int]]:
    if kind == "date":
        return [m.span() for m in _DATE.finditer(sent)]
    if kind == "number":
        return [m.span() for m in _NUMBER.finditer(sent) if m.group().strip()]
    try:
        import jieba.posseg as pseg
    except ImportError:  # jieba is a dependency; without it the sentence is the answer
        return []
    out, pos = [], 0
    for w in pseg.cut(sent):
        if w.flag.startswith(_POS[kind]) and len(w.word) >= 2:
            out.append((pos, pos + len(w.word)))
        pos += len(w.word)
    return out


def typed_span(question: str, sentence: str, accept: Callable[[str], bool] | None = None) -> tuple[int, int] | None:
    """Offsets in ``sentence`` of the span answering ``question``, or None.

    Among the sentence's spans of the kind asked for (``question_kind``) that the question
    does not itself state (and that ``accept`` takes, e.g. the answer type's check), the
    one whose neighbourhood holds most of the question's words: in "正常库容84万方，总库容109万方"
    the question 总库容是多少 is answered by the number after 总库容.
    """
    kind = question_kind(question)
    if kind is None or _LIST.search(normalize(question)):
        return None  # 哪几个村 / 哪些: several items, which the sentence lists
    sent = normalize(sentence)
    if len(sent) != len(sentence):  # offsets would not map back to the sentence as written
        return None
    q = normalize(question)
    spans = [(s, e) for s, e in _spans(kind, sent) if sent[s:e].strip() and sent[s:e].strip() not in q
             and (accept is None or accept(sent[s:e]))]
    if not spans:
        return None
    m = KINDS[kind].search(q)
    if kind == "number":
        # 多少栋 / 几户: the measure word the question names picks the value stated in it
        unit = re.match(rf"(?:{_UNIT})", q[m.end() :])
        if unit:
            same = [(s, e) for s, e in spans if sent[s:e].rstrip().endswith(unit.group())]
            spans = same or spans
    # positions of the sentence covered by one of the question's character bigrams. Those next to
    # the question word name what is asked: before it (总库容 in 总库容是多少) they name the value
    # that follows them in the sentence (总库容109万方), after it (个业委会 in 多少个业委会) the
    # value that precedes them (40个业委会); the X of 多宽/多高/多长 names it as well (宽12米).
    qgrams = {q[i : i + 2] for i in range(len(q) - 1)}
    before = q[max(0, m.start() - 3) : m.start()]
    after = q[m.end() : m.end() + 4]
    f_before = {before[i : i + 2] for i in range(len(before) - 1)}
    f_after = {after[i : i + 2] for i in range(len(after) - 1)}
    attr = m.group()[1] if len(m.group()) == 2 and m.group()[0] == "多" and m.group() != "多少" else None
    grams = {i: sent[i : i + 2] for i in range(len(sent) - 1) if sent[i : i + 2] in qgrams}
    covered = list(grams)

    def rank(span: tuple[int, int]) -> tuple[float, int, int]:
        s, e = span
        # the question's words in the eight characters before the value (the four nearest count double)
        near = sum((3.0 if g in f_before else 1.0) * (2 if i >= s - 4 else 1) for i, g in grams.items() if s - 8 <= i < s)
        # the words after the question word, right after the value
        near += sum(3.0 * (2 if i <= e + 2 else 1) for i, g in grams.items() if e <= i < e + 6 and g in f_after)
        if attr and attr in sent[max(0, s - 3) : s]:
            near += 6.0
        dist = min((min(abs(i + 2 - s), abs(i - e)) for i in covered), default=0)
        return (-near, dist, s)

    s, e = min(spans, key=rank)
    while s < e and sentence[s].isspace():
        s += 1
    return (s, e) if e > s else None
