"""Dates and periods in questions (qa/timeq.py): pure functions, many written forms."""

from __future__ import annotations

import datetime as dt

import pytest

from qa.timeq import DateRange, articles_in_range, cn_number, mention_dates, newest_date, parse_time, states_date
from qa.types import Article

TODAY = "2023-06-15"


@pytest.mark.parametrize("q, start, end", [
    ("2023年衢江区新建了多少公里道路？", "2023-01-01", "2023-12-31"),
    ("2023年5月召开了几次常务会议？", "2023-05-01", "2023-05-31"),
    ("2022年5月25日的会议讨论了什么？", "2022-05-25", "2022-05-25"),
    ("2022年5月25号开了什么会", "2022-05-25", "2022-05-25"),
    ("二〇二二年五月二十五日发生了什么", "2022-05-25", "2022-05-25"),
    ("5月22日的区政府常务会议是第几次常务会议？", "2023-05-22", "2023-05-22"),
    ("12月3日的活动在哪里举办？", "2022-12-03", "2022-12-03"),  # after today's date: last year's
    ("去年全区粮食产量是多少？", "2022-01-01", "2022-12-31"),
    ("今年有多少个项目开工？", "2023-01-01", "2023-06-15"),
    ("前年的GDP是多少", "2021-01-01", "2021-12-31"),
    ("上个月新增了多少就业岗位？", "2023-05-01", "2023-05-31"),
    ("上月的降雨量", "2023-05-01", "2023-05-31"),
    ("本月举办了哪些活动", "2023-06-01", "2023-06-15"),
    ("昨天召开了什么会议", "2023-06-14", "2023-06-14"),
    ("最近三个月有哪些项目签约？", "2023-03-15", "2023-06-15"),
    ("近2年的投资总额", "2021-06-15", "2023-06-15"),
    ("2022年上半年的财政收入", "2022-01-01", "2022-06-30"),
    ("2022年第三季度出口额", "2022-07-01", "2022-09-30"),
    ("2022年和2023年分别新建多少学校", "2022-01-01", "2023-12-31"),
    ("2022-05-25的新闻", "2022-05-25", "2022-05-25"),
    ("3月份的招聘会有多少家企业参加", "2023-03-01", "2023-03-31"),
    ("How many villages did the court cover in 2023?", "2023-01-01", "2023-12-31"),
    ("What happened in May 2023?", "2023-05-01", "2023-05-31"),
    ("What did the meeting on May 22, 2022 decide?", "2022-05-22", "2022-05-22"),
    ("What did the meeting on 22 May 2022 decide?", "2022-05-22", "2022-05-22"),
    ("Who chaired the meeting on May 22?", "2023-05-22", "2023-05-22"),
    ("How much grain was produced last year?", "2022-01-01", "2022-12-31"),
    ("What projects started last month?", "2023-05-01", "2023-05-31"),
    ("What opened this year?", "2023-01-01", "2023-06-15"),
    ("What happened yesterday?", "2023-06-14", "2023-06-14"),
    ("Which projects were signed in the past 3 months?", "2023-03-15", "2023-06-15"),
    ("What was decided in Sept 2022?", "2022-09-01", "2022-09-30"),
])
def test_dates_and_periods_become_ranges(q, start, end):
    r = parse_time(q, TODAY).range
    assert r is not None, q
    assert (r.start, r.end) == (start, end)


@pytest.mark.parametrize("q", [
    "刘坂村共有村民多少户？",
    "衢江区共享法庭覆盖了多少个行政村？",
    "这个项目用了3个月完成，投资多少？",  # a duration, not a date
    "全区有5年以上工龄的教师多少人？",
    "How many administrative villages does Qujiang's shared court cover?",
    "太真乡下槽桥改建工程总投资多少？",
    "第5月份",
    "The project covers 2500 households",  # a number, not a year
])
def test_questions_without_a_date_have_no_range(q):
    assert parse_time(q, TODAY).range is None


def test_relative_ranges_name_their_anchor_and_phrase():
    r = parse_time("去年粮食产量", TODAY).range
    assert r.relative and r.anchor == TODAY and r.phrase == "去年"
    a = parse_time("2023年5月的会议", TODAY).range
    assert not a.relative and a.anchor is None and a.to_dict()["from"] == "2023-05-01"


def test_anchor_defaults_to_the_system_date():
    r = parse_time("今天的新闻").range
    assert r.start == dt.date.today().isoformat()


@pytest.mark.parametrize("q, order", [
    ("最新的区长是谁？", "latest"),
    ("最近一次常务会议讨论了什么？", "latest"),
    ("现任区委书记是谁？", "latest"),
    ("目前共享法庭覆盖多少个村？", "latest"),
    ("What is the latest figure?", "latest"),
    ("Who is the current mayor?", "latest"),
    ("第一次召开常务会议是什么时候？", "earliest"),
    ("首次提出该计划是在哪一年？", "earliest"),
    ("最早报道的投资额是多少？", "earliest"),
    ("When was the plan first announced?", "earliest"),
    ("刘坂村共有村民多少户？", None),
    ("最近3天的新闻", None),  # 最近 with a number is a range
])
def test_latest_and_earliest_cues(q, order):
    assert parse_time(q, TODAY).order == order


@pytest.mark.parametrize("q, when", [
    ("共享法庭是什么时候建成的？", True),
    ("该项目何时开工？", True),
    ("会议在哪天召开？", True),
    ("大桥是哪一年通车的？", True),
    ("When did the bridge open?", True),
    ("On what date was the meeting held?", True),
    ("刘坂村共有村民多少户？", False),
    ("How many villages?", False),
])
def test_when_questions(q, when):
    assert parse_time(q, TODAY).asks_when is when


def test_chinese_numbers():
    assert [cn_number(x) for x in ("5", "十", "十二", "二十二", "三十一", "两", "二〇二三", "一九九九", "abc", "")] == [
        5, 10, 12, 22, 31, 2, 2023, 1999, None, None]


def _art(id_, date=None, mentions=()):
    return Article(id=id_, headline="h", body="b", source="s.txt", date=date, date_mentions=tuple(mentions))


def test_mention_dates_take_the_issue_year():
    assert mention_dates(_art("a", "2023-05-23", ["5月22日", "2021年3月1日"])) == [dt.date(2023, 5, 22), dt.date(2021, 3, 1)]
    assert mention_dates(_art("b", "2023-01-03", ["12月30日"])) == [dt.date(2022, 12, 30)]
    assert mention_dates(_art("c", None, ["5月22日", "2022年5月1日"])) == [dt.date(2022, 5, 1)]


def test_articles_in_range_by_issue_date_mention_or_year():
    arts = [_art("a", "2023-05-22"), _art("b", "2023-05-24"), _art("c", "2023-05-30"), _art("d", None, ["2023年5月22日"]),
            _art("e", "2022-05-22"), _art("f", "2023-07-01", ["5月22日"]), _art("g", "2024-01-10"),
            Article(id="h", headline="h", body="2023年全年接待游客610万人次。", source="s.txt", date="2024-01-12")]
    day = DateRange("2023-05-22", "2023-05-22", "5月22日", day=True)
    assert articles_in_range(arts, day) == {"a", "b", "d", "f", "h"}  # h names the year 2023
    month = DateRange("2023-05-01", "2023-05-31", "2023年5月")
    assert articles_in_range(arts, month) == {"a", "b", "c", "d", "f", "h"}
    year = DateRange("2022-01-01", "2022-12-31", "2022年")
    assert articles_in_range(arts, year) == {"d", "e"}  # undated d is kept: nothing says when it is from
    assert newest_date(arts) == "2024-01-12" and newest_date([_art("x")]) is None


def test_states_date():
    assert states_date("2023年5月22日召开")
    assert states_date("5月22日上午")
    assert states_date("in May 2023") and states_date("in 2021")
    assert not states_date("共有470余户")


def test_describe_range():
    from qa.timeq import describe_range

    assert describe_range(None) is None
    line = describe_range({"from": "2022-01-01", "to": "2022-12-31", "phrase": "去年", "relative": True,
                           "anchor": "2023-05-23", "applied": True, "order": None})
    assert "2022-01-01 – 2022-12-31" in line and "去年" in line and "2023-05-23" in line
    assert "newest" in describe_range({"from": None, "to": None, "order": "latest"})
