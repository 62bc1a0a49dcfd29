"""Relation check by span adjacency: a short answer must sit next to what the question asks about in the cited sentence.

Grounding checks that an answer's words are in the cited sentence; it cannot tell
"区长张三，…主任李四" answered 区长是谁 with 李四 from 张三. Here the answer's span must
occur in the sentence as written, and when the words next to the question word (区长 in
区长是谁) are in that sentence, the answer must share a clause with one of them (no
，；。 between them).
"""

from __future__ import annotations

import re

from qa.answer.span import KINDS
from qa.text import normalize, strip_punct

_CLAUSE = re.compile(r"[，,；;。！？!?：:]")
_MARKER = re.compile(r"\[\d+\]")
_WH = re.compile("|".join(p.pattern for p in KINDS.values()) + r"|什么|哪个|哪些|哪种|哪家|怎样|如何")
_HAS_NUMBER = re.compile(r"\d|[零〇一二两三四五六七八九十百千万亿]{2,}")


def _key_grams(question: str) -> set[str]:
    """Character bigrams of the (up to) three characters on each side of the question word."""
    q = strip_punct(normalize(question))
    out: set[str] = set()
    for m in _WH.finditer(q):
        for seg in (q[max(0, m.start() - 3) : m.start()], q[m.end() : m.end() + 3]):
            out.update(seg[i : i + 2] for i in range(len(seg) - 1))
    return out


def relation_holds(question: str, answer: str, sentence: str, max_chars: int = 12) -> bool | None:
    """Whether a short answer stands in the asked-for relation in its cited sentence.

    Args:
        question: the question.
        answer: the answer text (markers allowed); only answers of at most ``max_chars``
            characters without numbers are judged (numbers are checked by grounding).
        sentence: the cited sentence.

    Returns:
        True or False, or None when the check does not apply (long answers, numbers, no key word).
    """
    a = strip_punct(normalize(_MARKER.sub("", answer)))
    if not a or len(a) > max_chars or _HAS_NUMBER.search(a):
        return None
    s = normalize(sentence)
    plain = strip_punct(s)
    if a not in plain:
        return False  # the words are there, but not as one span: 区委书记 in 区委副书记
    keys = _key_grams(question)
    # positions in the sentence as written (punctuation kept) of the key grams and of the answer
    key_pos = [i for i in range(len(s) - 1) if s[i : i + 2] in keys]
    if not key_pos:
        return None
    starts = [m.start() for m in re.finditer(re.escape(a), s)]
    if not starts:
        return None  # the answer spans punctuation in the sentence; not judged
    for st in starts:
        en = st + len(a)
        for k in key_pos:
            lo, hi = (en, k) if k >= en else (k + 2, st)
            if lo >= hi or not _CLAUSE.search(s[lo:hi]):
                return True
    return False
