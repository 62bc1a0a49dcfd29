"""Time-aware ask() on the multi-date archive in eval/dated/pages (a fake embedder, a small index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import ask
from qa.errors import InputError

PAGES = Path(__file__).parent.parent / "eval" / "dated" / "pages"


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory):
    from conftest import SMALL_PARAMS
    from embeddings.encoder import HashingEmbedder
    from qa.index.build import build_index
    from qa.ingest.corpus import load_articles

    out = tmp_path_factory.mktemp("dated-index")
    build_index(load_articles([PAGES]), HashingEmbedder(dim=256), out, SMALL_PARAMS)
    return out


def _ask(q, index, **kw):
    from embeddings.encoder import HashingEmbedder

    return ask(q, index=index, embedder=HashingEmbedder(dim=256), answerer="extractive", **kw)


@pytest.mark.parametrize("q, want, not_want", [
    ("2022年5月22日县政府召开的是第几次常务会议？", "第12次", "第25次"),
    ("2023年5月22日县政府召开的是第几次常务会议？", "第25次", "第12次"),
    ("最近一次县政府常务会议是第几次？", "第25次", "第12次"),
    ("县政府第一次研究防汛工作的常务会议是第几次？", "第12次", "第25次"),
])
def test_dates_and_order_pick_the_right_issue(dated_index, q, want, not_want):
    a = _ask(q, dated_index)
    assert not a.refused and want in a.text and not_want not in a.text
    assert all(c.date for c in a.citations)  # every cited article shows its issue date


def test_answer_reports_the_range_it_used(dated_index):
    a = _ask("2022年5月22日县政府召开的是第几次常务会议？", dated_index)
    assert a.date_range["from"] == a.date_range["to"] == "2022-05-22"
    assert a.date_range["source"] == "question" and a.date_range["applied"] is True
    assert a.to_dict()["date_range"] == a.date_range
    assert {h.article.date for h in a.hits} <= {"2022-05-23", "2023-01-18"}  # the 2023 issue names the year 2022


def test_relative_phrases_count_from_the_newest_issue_or_today(dated_index):
    a = _ask("去年的青溪茶文化节是第几届？", dated_index)  # newest issue 2023-05-23: last year is 2022
    assert a.date_range["anchor"] == "2023-05-23" and a.date_range["from"] == "2022-01-01"
    assert "第二届" in a.text and "第三届" not in a.text
    b = _ask("去年的青溪茶文化节是第几届？", dated_index, today="2024-02-01")
    assert b.date_range["from"] == "2023-01-01" and "第三届" in b.text and "第二届" not in b.text


def test_a_range_with_no_article_is_refused(dated_index):
    a = _ask("2020年青溪县接待游客多少人次？", dated_index)
    assert a.refused and a.hits == () and a.date_range["applied"] is True


def test_when_answer_without_a_date_in_the_sentence_gets_the_issue_date(dated_index):
    a = _ask("青溪县图书馆新馆是什么时候开放的？", dated_index)
    assert not a.refused and "2023年2月15日" in a.text
    b = _ask("青溪大桥是哪天建成通车的？", dated_index)
    assert "9月29日" in b.text and "据" not in b.text  # the sentence's own date is enough


def test_caller_filter_wins_over_the_question(dated_index):
    a = _ask("2023年5月22日县政府召开的是第几次常务会议？", dated_index, date_from="2022-05-01", date_to="2022-05-31")
    assert a.date_range["source"] == "caller" and "第25次" not in a.text


def test_bad_today_is_an_input_error(dated_index):
    with pytest.raises(InputError, match="today"):
        _ask("去年的茶文化节", dated_index, today="last tuesday")


def test_undated_archive_keeps_every_article(small_index, hashing_embedder):
    a = ask("5月22日召开的柯城区十届政府常务会议是第几次常务会议？", index=small_index, embedder=hashing_embedder)
    assert "第6次" in a.text
    b = ask("刘坂村共有村民多少户？", index=small_index, embedder=hashing_embedder)
    assert b.date_range is None and "470" in b.text
