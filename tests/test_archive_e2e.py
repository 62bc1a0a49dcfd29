"""End to end on the real model: `newsqa index DIR` over a messy archive, then one question per file through ask(index=IDX)."""

from __future__ import annotations

import re
import shutil

import pytest

from archive_maker import cjk_font_path, make_archive
from newsqa.cli import main
from qa import ask
from qa.index.store import verify_index

pytestmark = [pytest.mark.slow, pytest.mark.skipif(cjk_font_path() is None, reason="fonts-noto-cjk not installed")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    expected = make_archive(root)
    idx = tmp_path_factory.mktemp("idx")
    return root, expected, idx


def test_index_names_the_broken_files_and_info_lists_them(built, capsys):
    root, expected, idx = built
    assert main(["index", str(root), "--index", str(idx)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"indexed 8 files \(12 articles\), skipped 3: ", err)
    for name in expected["broken"]:
        assert name in err
    assert main(["info", "--index", str(idx)]) == 0
    out = capsys.readouterr().out
    assert "skipped files (3):" in out and all(name in out for name in expected["broken"])
    assert "2023-03-01 to 2023-06-02" in out


def test_one_question_per_file_cites_the_file_with_its_folder(built):
    _, expected, idx = built
    for source, (question, fact) in expected["questions"].items():
        a = ask(question, index=idx, answerer="extractive")
        assert not a.refused, question
        assert fact in a.text, (question, a.text)
        assert a.citations[0].source == source, (question, [c.source for c in a.citations])


def test_html_page_date_filters(built):
    _, _, idx = built
    q = "东河河道整治长度是多少公里？"
    inside = ask(q, index=idx, answerer="extractive", date_from="2023-06-01", date_to="2023-06-03")
    assert not inside.refused and inside.citations[0].source == "web/river.html"
    before = ask(q, index=idx, answerer="extractive", date_to="2023-05-31")
    assert all(c.source != "web/river.html" for c in before.citations)


def test_rerun_on_a_changed_folder_embeds_only_what_changed(built, capsys):
    root, _, idx = built
    changed = root / "2023-05-25" / "02.txt"
    changed.write_bytes(changed.read_bytes().replace("四十五".encode("gb18030"), "五十".encode("gb18030")))
    (root / "events.jsonl").unlink()
    (root / "2023-05-28").mkdir()
    (root / "2023-05-28" / "01.txt").write_text("桥梁维修完成\n本报讯 人民桥维修工程完工，桥面拓宽到二十四米。\n", encoding="utf-8")
    shutil.rmtree(root / "scans")  # the PNG and the broken JPEG go
    assert main(["index", str(root), "--index", str(idx)]) == 0
    out, err = capsys.readouterr()
    assert ("folder sync: 1 new (2023-05-28/01.txt), 1 changed (2023-05-25/02.txt), "
            "3 removed (events.jsonl, scans/2023-05-27.PNG, scans/broken.jpg)") in err
    line = next(l for l in out.splitlines() if l.startswith("index ready"))
    assert ", 2 embedded," in line  # the new page and the changed page: one passage each
    arts = verify_index(idx).articles
    assert "ev-1" not in arts and "scans/2023-05-27-01" not in arts
    assert "五十个" in arts["2023-05-25/02-01"].body
    a = ask("人民桥桥面拓宽到多少米？", index=idx, answerer="extractive")
    assert "二十四米" in a.text and a.citations[0].source == "2023-05-28/01.txt"
