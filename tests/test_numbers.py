"""Numbers as values: Chinese numerals, 万/亿 and thousands separators (qa/numbers.py)."""

from __future__ import annotations

import pytest

from qa.numbers import quantities, strip_thousands, values


@pytest.mark.parametrize(
    "text, expected",
    [
        ("七八千元", {"7000", "8000"}),
        ("两万", {"20000"}),
        ("一百二十三", {"123"}),
        ("十二", {"12"}),
        ("10万余人", {"10", "100000"}),
        ("1.5亿元", {"1.5", "150000000"}),
        ("earns 7,000 yuan", {"7000"}),
    ],
)
def test_values(text, expected):
    assert values(text) == expected


def test_bare_units_state_no_number():
    assert values("千方百计") == set() and values("万众") == set()


def test_quantities_pair_each_value_with_its_unit():
    assert quantities("刘坂村共有村民470余户1600余人") == {("470", "户"), ("1600", "人")}
    assert quantities("七八千元") == {("7000", "元"), ("8000", "元")}
    assert quantities("10万余人") == {("100000", "人")}  # not ("10", "人")


def test_strip_thousands_only_inside_numbers():
    assert strip_thousands("1,234,567 and 12,34") == "1234567 and 12,34"
