"""Scoring functions for the gold set: retrieval hits, answer matching, CMRC-style F1, citations, refusals."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

from qa.numbers import quantities, strip_thousands, values
from qa.text import norm, strip_punct

_MARKER = re.compile(r"\[\d+\]")


def answer_text(text: str) -> str:
    """The answer without its ``[n]`` citation markers."""
    return _MARKER.sub("", text)


def contains_evidence(passage: str, evidence: str) -> bool:
    """A passage contains the evidence when it does so with whitespace ignored (and widths unified)."""
    return bool(evidence) and norm(evidence) in norm(passage)


def first_hit_rank(passages: Sequence[str], evidence: str) -> int | None:
    """1-based rank of the first passage containing the evidence, or None."""
    for i, p in enumerate(passages, 1):
        if contains_evidence(p, evidence):
            return i
    return None


def answer_correct(text: str, references: Iterable[str]) -> bool:
    """A reference string appears in the answer after normalization (width, case, spaces, punctuation),
    or the reference is a quantity and the answer states the same values in the same unit
    (七八千元 = 7,000-8,000元; ``same_quantity``)."""
    a = strip_punct(answer_text(text))
    return any(strip_punct(r) and (strip_punct(r) in a or same_quantity(answer_text(text), r)) for r in references)


def same_quantity(answer: str, reference: str) -> bool:
    """The reference states quantities (value and unit) and the answer holds every value and unit.

    Numbers written as Chinese numerals or with thousands separators are compared as
    values (``qa.numbers``), so a correct answer is not marked wrong for its notation.
    """
    ref_q = quantities(strip_thousands(norm(reference)))
    if not ref_q:
        return False
    a = strip_thousands(norm(answer))
    a_vals = values(a)
    a_units = {u for _, u in quantities(a)} | {_EN_UNITS[w] for w in _EN_QTY.findall(a)}
    return all(v in a_vals and u in a_units for v, u in ref_q)


# English unit words an answer to an English question uses, as the Chinese unit a reference
# states ("49 mu" = 49亩, "6 households" = 6户); a number must come right before the word
_EN_UNITS = {"mu": "亩", "household": "户", "households": "户", "ton": "吨", "tons": "吨", "tonnes": "吨",
             "meter": "米", "meters": "米", "metres": "米", "yuan": "元", "people": "人", "persons": "人"}
_EN_QTY = re.compile(r"\d\s*(" + "|".join(sorted(_EN_UNITS, key=len, reverse=True)) + r")\b")


def char_f1(prediction: str, reference: str) -> float:
    """CMRC 2018 character F1: punctuation and spaces removed, characters as tokens."""
    p, r = strip_punct(answer_text(prediction)), strip_punct(reference)
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def max_f1(prediction: str, references: Sequence[str]) -> float:
    return max((char_f1(prediction, r) for r in references), default=0.0)


def exact_match(prediction: str, references: Sequence[str]) -> bool:
    p = strip_punct(answer_text(prediction))
    return any(p == strip_punct(r) for r in references)


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest common substring (dynamic programming, fine for sentences)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    best = 0
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def citation_supports(quote: str, source: str, evidence: str, gold_source: str) -> bool:
    """A citation is correct when it is from the gold page and shares at least half the evidence."""
    if gold_source and source != gold_source:
        return False
    e, q = norm(evidence), norm(quote)
    if not e:
        return False
    return e in q or longest_common_substring(e, q) >= 0.5 * len(e)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for an empty list)."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(pct / 100 * len(s)) - 1))
    return s[k]


def ratio(num: int | float, den: int | float) -> float | None:
    return num / den if den else None
