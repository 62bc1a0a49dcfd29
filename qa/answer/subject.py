"""The subject a Chinese question names first, and whether an article names it at all.

An archive that lacks the asked-about railway, bus route or species often holds a
near-namesake (大莱龙铁路 for 德龙烟铁路, route 32B for 32M) whose article matches the
question's form and most of its words; the model then answers with the namesake's fact.
The question's leading noun phrase is its subject in most Chinese questions
(德龙烟铁路全长多少公里); an article that has neither its first two characters, nor its
codes (32M, 170), nor a 《title》 the question quotes, is about something else.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Callable

from qa.text import is_mostly_latin, norm, to_simplified

# jieba part-of-speech flags that continue a noun phrase: nouns and names, Latin words,
# numerals and measure words (32, 号), abbreviations, idioms; adjectives and
# distinguishers (短/白 of a species name) and a leading localizer (前肛鳗).
_PHRASE_FLAGS = frozenset("n nr nrt nrfg ns nt nz eng j an vn m x nl ng l i a b f q".split())
_JOIN = frozenset("－-·•．・_")
# Words that end the subject: question words, quantities asked about, scope and time words
# that follow it (张三一共…, 铁路上…, 公司以后…).
_END_WORDS = frozenset(
    "多少 多 几 几个 哪 哪个 哪些 哪里 哪一 什么 甚么 一共 共 主要 最 一般 通常 上 中 内 里 以后 之后 "
    "以前 之前 时期 期间 时 时候 目前 现在 当时 曾 曾经 首位 首任 第一 全 整体 其 其中 该 此 这 那 之 所".split()
)
_QUESTION_WORD = re.compile(r"几|哪|何|什么|甚么|谁|多少|怎")
_TIME_WORD = re.compile(r"年|月|日|世纪|时|期|现在|目前|当时|今|昔|古|近|初|末|代")
_TIME_UNIT = frozenset({"年", "月", "日", "年代", "世纪", "号"})
_LEAD_SKIP = frozenset({"在", "于", "请问", "那么"})
_PUNCT = re.compile(r"^[\W_]+$")
_TITLE = re.compile(r"《([^》]{1,40})》")
_CODE = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Subject:
    """What a question names first.

    Attributes:
        phrase: the leading noun phrase, in comparison form (``qa.text.norm``).
        codes: its runs of Latin letters and digits (32m, 170), which must match exactly.
        titles: the 《titles》 the question quotes, in comparison form.
        core: the phrase without the words it starts with that are common in the archive
            (柯城区 of 柯城区新新街道 in 柯城's paper), or "".
    """

    phrase: str
    codes: tuple[str, ...]
    titles: tuple[str, ...]
    core: str = ""


@functools.lru_cache(maxsize=1)
def _posseg():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


@functools.lru_cache(maxsize=4096)
def _words(question: str) -> tuple[tuple[str, str], ...]:
    return tuple((w.word, w.flag) for w in _posseg().cut(to_simplified(question)))


# Administrative areas (浙江省, 衢州市, 香港地区); not every place jieba tags (城西大桥 is a subject)
_AREA = re.compile(r"..(省|市|区|县|州|地区|自治区|特别行政区)$")
_DIRECTION = re.compile(r"^[东南西北中内外上下]+(边|部|面|方|侧|端)?$|^(境内|附近|周边|周围)$")


def _leading_phrase(words: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The words (with their tags) of the question's first noun phrase, after a leading time phrase or preposition."""
    i = 0
    while i < len(words):
        w, f = words[i]
        if _PUNCT.match(w) or w in _LEAD_SKIP or (f in ("t", "f", "d") and _TIME_WORD.search(w)):
            i += 1
        elif f == "m" and i + 1 < len(words) and words[i + 1][0] in _TIME_UNIT:
            i += 2  # 2009年 …, 4月 …
        elif f == "m" and not _CODE.search(w.lower()):
            i += 1  # 一次 …, 两位 …: a count before the subject
        else:
            break
    out: list[tuple[str, str]] = []
    for j in range(i, len(words)):
        w, f = words[j]
        if w == "的" and out and all(_AREA.match(x) for x, _ in out):
            if j + 1 < len(words) and _DIRECTION.match(words[j + 1][0]):
                break  # 溧阳市的南边: the place is the subject
            out = []  # 浙江省衢州市的安仁水库, 香港地区的哪位演员: the place only locates the subject
            continue
        if w in _JOIN and out:
            out.append((w, f))
            continue
        if _PUNCT.match(w) or w in _END_WORDS or _QUESTION_WORD.search(w):
            break
        if f == "m" and j + 1 < len(words) and words[j + 1][0] in _TIME_UNIT:
            break  # a date after the subject
        if (f in _PHRASE_FLAGS or f.startswith("n")) and not (f == "f" and out):
            out.append((w, f))
        else:
            break
    while out and out[-1][0] in _JOIN:
        out.pop()
    return out


def leading_subject(question: str, common: Callable[[str], bool] | None = None) -> Subject | None:
    """The subject a Chinese question names first, or None when it names none (or is in English).

    Args:
        question: the question as asked (simplified or traditional).
        common: whether a word (in ``norm`` form) is common in the archive, such as its home
            district, which a local paper's articles seldom repeat (柯城区新新街道 is 新新街道
            there); the common words the phrase starts with make up no part of its ``core``.

    Returns:
        A ``Subject``; None for a question in a Latin script, or one that starts with a
        question word or pronoun (哪些农作物…, 这张专辑…) and quotes no 《title》.
    """
    if not question.strip() or is_mostly_latin(question):
        return None
    titles = tuple(t for t in (norm(x) for x in _TITLE.findall(question)) if t)
    lead = _leading_phrase(_words(question))
    phrase = norm("".join(w for w, _ in lead))
    if len(phrase) < 2 and not titles:
        return None
    skip = 0
    while common is not None and skip < len(lead) and len(lead[skip][0]) >= 2 and common(norm(lead[skip][0])):
        skip += 1
    core = norm("".join(w for w, _ in lead[skip:])) if skip else ""
    return Subject(phrase if len(phrase) >= 2 else "", tuple(_CODE.findall(phrase)), titles,
                   core if len(core) >= 2 else "")


def _code_in(code: str, text: str) -> bool:
    """Whether a code stands in the text on its own: 11 is not in 40m线 or b9tl11, nor 32 in 132 or 3.2."""
    return re.search(rf"(?<![a-z0-9.]){re.escape(code)}(?![a-z0-9]|\.\d)", text) is not None


def names_subject(subject: Subject, text: str) -> bool:
    """Whether a text (an article's title and body) names the subject.

    It does when it holds every quoted title, every code of the phrase, and the phrase's
    first two characters (or those of its core, after the common words it starts with). Only
    the start of the phrase is asked for: the rest of it is often a property the question
    asks about (全长, 整体) or worded otherwise in the article.
    """
    t = norm(text)
    if any(x not in t for x in subject.titles) or not all(_code_in(c, t) for c in subject.codes):
        return False
    return not subject.phrase or subject.phrase[:2] in t or (bool(subject.core) and subject.core[:2] in t)


__all__ = ("Subject", "leading_subject", "names_subject")
