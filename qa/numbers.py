"""Numbers as values: Chinese numerals (七八千, 两万, 十二) and Arabic ones with 万/亿 read as digits.

Grounding checks that every number an answer states appears in a retrieved passage. A
passage says 七八千元 or 10万余人 and a model answering in English writes "7,000 yuan" or
"100,000 people"; comparing digit strings alone would call both invented.
"""

from __future__ import annotations

import re

_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL_UNIT = {"十": 10, "百": 100, "千": 1000}
_BIG_UNIT = {"万": 10_000, "亿": 100_000_000}
_CN = "零〇一二两三四五六七八九十百千万亿"
_CN_RUN = re.compile(rf"[{_CN}]+")
# 7,000 and 7 000 in answers: thousands separators are not part of the value
_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_ARABIC_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*([万亿])")
# 七八千, 三四百, 十二三: two neighbouring digits before a unit give two values
_APPROX = re.compile(r"([一二三四五六七八九])([二三四五六七八九])([十百千万])")


def _cn_value(run: str) -> int | None:
    """The value of one run of Chinese numerals (一百二十三 → 123, 两万 → 20000), or None."""
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in _DIGIT:
            if digit is not None and digit != 0:
                return None  # two digits in a row (七八) are an approximation, handled elsewhere
            digit = _DIGIT[ch]
        elif ch in _SMALL_UNIT:
            section += (1 if digit is None else digit) * _SMALL_UNIT[ch]
            digit = None
        elif ch in _BIG_UNIT:
            section += digit or 0
            total += (section or 1) * _BIG_UNIT[ch]
            section, digit = 0, None
    if digit is not None:
        section += digit
    value = total + section
    return value if value or run.strip("零〇") == "" else None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def strip_thousands(text: str) -> str:
    """7,000 → 7000 (separators inside a number only)."""
    return _THOUSANDS.sub("", text)


def values(text: str) -> set[str]:
    """Every number ``text`` states, as digit strings: its Arabic numbers, those scaled by 万/亿,
    and its Chinese numerals (both ends of an approximation such as 七八千).

    Args:
        text: passage or answer text.

    Returns:
        Digit strings such as {"7000", "8000", "100000", "10"}.
    """
    t = strip_thousands(text)
    out = set(re.findall(r"\d+(?:\.\d+)?", t))
    for m in _ARABIC_SCALED.finditer(t):
        out.add(_fmt(float(m.group(1)) * _BIG_UNIT[m.group(2)]))
    for m in _APPROX.finditer(t):
        unit = _SMALL_UNIT.get(m.group(3)) or _BIG_UNIT[m.group(3)]
        out.update({str(_DIGIT[m.group(1)] * unit), str(_DIGIT[m.group(2)] * unit)})
    for m in _CN_RUN.finditer(t):
        run = m.group()
        if len(run) == 1 and run in "千万亿百":
            continue  # a bare unit (千方百计, 万众) states no number
        v = _cn_value(run)
        if v is not None:
            out.add(str(v))
    return out


# measure words: a number with its unit is one fact (470余户 is not 470余人)
UNITS = "户人个名位家座亩元吨岁次项条所辆台米年月日天倍场期批套间栋处件只头斤"
_QTY = re.compile(rf"(\d+(?:\.\d+)?\s*[万亿]?|[{_CN}]+)\s*(?:余|多)?\s*([{UNITS}])")


def quantities(text: str) -> set[tuple[str, str]]:
    """(value, unit) pairs ``text`` states: 470余户 → ("470", "户"), 七八千元 → ("7000", "元"), ("8000", "元")."""
    t = strip_thousands(text)
    out: set[tuple[str, str]] = set()
    for m in _QTY.finditer(t):
        num = m.group(1)
        scaled = _ARABIC_SCALED.fullmatch(num.strip())
        vals = {_fmt(float(scaled.group(1)) * _BIG_UNIT[scaled.group(2)])} if scaled else values(num)
        out.update((v, m.group(2)) for v in vals)
    return out
