"""Archive formats and folders: PDF (text layer, two columns, scans), images, HTML pages, GB18030/Big5 text, date folders, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archive_maker import cjk_font_path, html_page, make_archive, page_image, two_column_pdf
from embeddings.encoder import HashingEmbedder
from qa.errors import CorpusError
from qa.index.build import build_index
from qa.index.reuse import folder_changes, previous_files
from qa.index.store import current_generation, read_manifest
from qa.ingest.corpus import archive_files, load_corpus
from qa.ingest.dates import iso_date, path_date
from qa.ingest.encoding import decode_text
from qa.ingest.layout import TextLine, reading_order
from qa.ingest.parse import looks_plain, parse_text, read_jsonl_articles

needs_font = pytest.mark.skipif(cjk_font_path() is None, reason="fonts-noto-cjk not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    if cjk_font_path() is None:
        pytest.skip("fonts-noto-cjk not installed (scripts/setup.sh installs it)")
    root = tmp_path_factory.mktemp("archive")
    expected = make_archive(root)
    return root, expected, load_corpus([root])


# --- reading order, encodings, dates: no files needed -----------------------------------


def test_reading_order_reads_columns_then_a_spanning_headline_and_footer():
    L = lambda t, x0, y0, x1: TextLine(t, x0, y0, x1, y0 + 10)  # noqa: E731
    lines = [
        L("headline across both", 0, 0, 200),
        L("left 1", 0, 20, 90), L("right 1", 110, 20, 200),
        L("left 2", 0, 32, 90), L("right 2", 110, 32, 200),
        L("footer across both", 0, 60, 200),
    ]
    assert [ln.text for ln in reading_order(lines[::-1])] == [
        "headline across both", "left 1", "left 2", "right 1", "right 2", "footer across both"]


def test_decode_text_utf8_gb18030_big5_truncated_and_binary():
    simp = "垃圾分类见成效\n本报讯 全区建成回收站四十五个，𠮷字也在。\n"
    assert decode_text(simp.encode("gb18030"), "a.txt") == simp
    trad = "東湖濕地公園開園\n本報訊 東湖濕地公園昨日開園迎客，濕地面積達到三百公頃，園內共有鳥類一百六十種。\n"
    assert decode_text(trad.encode("big5"), "b.txt") == trad
    assert decode_text(("\ufeff" + simp).encode("utf-8"), "c.txt") == simp
    assert decode_text(simp.replace("\n", "\r\n").encode("utf-8"), "d.txt") == simp
    assert decode_text(simp.encode("utf-8")[:-2], "e.txt") == simp[:-2]  # cut inside the last character
    with pytest.raises(CorpusError, match="f.txt"):
        decode_text(bytes(range(256)) * 4, "f.txt")


def test_dates_as_written_and_in_paths():
    for v in ("2023-03-01", "2023/03/01", "2023/3/1", "2023.03.01", "2023年3月1日", "２０２３年３月１日", "20230301", "2023-03-01T08:00:00+08:00"):
        assert iso_date(v) == "2023-03-01", v
    for v in ("2023-13-01", "3月1日", "yesterday", ""):
        assert iso_date(v) is None, v
    assert path_date("2023-05-25/01.txt") == "2023-05-25"
    assert path_date("2023/05/25/a.pdf") == "2023-05-25"
    assert path_date("20230525_01.txt") == "2023-05-25"
    assert path_date("000_7ff5f06dc4846084.txt") is None


def test_jsonl_dates_normalised_or_error_naming_the_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"text": "一。", "date": "2023/03/01"}, {"text": "二。", "date": "2023年3月1日"}, {"text": "三。"}]), encoding="utf-8")
    assert [a.date for a in read_jsonl_articles(p)] == ["2023-03-01", "2023-03-01", None]
    p.write_text(json.dumps({"text": "一。"}) + "\n" + json.dumps({"text": "二。", "date": "last week"}), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"a\.jsonl:2: date 'last week'"):
        read_jsonl_articles(p)


def test_masthead_date_with_weekday_or_iso_is_not_a_headline():
    for line in ("2023年3月1日 星期三", "2023-03-01", "2023年3月1日星期三 农历二月初十"):
        raw = f"东城日报\n{line}\n图书馆新馆开放\n本报讯 区图书馆新馆昨日开放，馆藏图书十二万册。\n"
        [a] = parse_text(raw, "p.txt")
        assert (a.date, a.paper, a.headline) == ("2023-03-01", "东城日报", "图书馆新馆开放"), line


def test_plain_article_keeps_numbered_subheads_and_joins_latin_lines():
    raw = ("关于全区经济运行情况的报告\n\n一、总体情况\n今年一季度，全区经济运行总体平稳，\n地区生产总值增长百分之六点五。\n\n"
           "二、主要措施\n一是扩大有效投资。\n")
    assert looks_plain(raw)
    [a] = parse_text(raw, "r.txt")
    assert a.headline == "关于全区经济运行情况的报告"
    assert a.body.split("\n") == ["一、总体情况", "今年一季度，全区经济运行总体平稳，地区生产总值增长百分之六点五。", "二、主要措施", "一是扩大有效投资。"]
    eng = "Harbour report\n\nThe harbour handled 12 million tons of\ncargo last year, the\nauthority said.\n"
    [e] = parse_text(eng, "e.txt")
    assert e.body == "The harbour handled 12 million tons of cargo last year, the authority said."
    # offsets still map back to the raw text (the inserted spaces have no raw counterpart)
    s, t = e.raw_offsets(e.body.index("cargo"), e.body.index("cargo") + 5)
    assert eng[s:t] == "cargo"
    # the same files forced into page layout split at the sub-heads; the flag chooses
    assert len(parse_text(raw, "r.txt", layout="page")) > 1


def test_newspaper_pages_stay_in_page_layout(seed_dir):
    for f in sorted(seed_dir.glob("*.txt")):
        assert not looks_plain(f.read_text(encoding="utf-8")), f.name


def test_folder_ids_and_sources_are_relative_to_the_root(tmp_path):
    page = "图书馆新馆开放\n本报讯 区图书馆新馆昨日开放，馆藏图书{}万册。\n"
    for day, n in (("2023-05-25", "十二"), ("2023-05-26", "十三")):
        (tmp_path / day).mkdir()
        (tmp_path / day / "01.txt").write_text(page.format(n), encoding="utf-8")
    (tmp_path / "2023-05-26" / "02.TXT").write_text(page.format("十四"), encoding="utf-8")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")  # not an archive format: not listed
    assert [f.source for f in archive_files([tmp_path])] == ["2023-05-25/01.txt", "2023-05-26/01.txt", "2023-05-26/02.TXT"]
    corpus = load_corpus([tmp_path])
    assert [(a.id, a.source, a.date) for a in corpus.articles] == [
        ("2023-05-25/01-01", "2023-05-25/01.txt", "2023-05-25"),
        ("2023-05-26/01-01", "2023-05-26/01.txt", "2023-05-26"),
        ("2023-05-26/02-01", "2023-05-26/02.TXT", "2023-05-26"),
    ]
    assert corpus.skipped == ()


def test_nothing_readable_is_one_error_listing_the_reasons(tmp_path):
    (tmp_path / "a.pdf").write_bytes(os.urandom(100))
    (tmp_path / "b.txt").write_bytes(bytes(range(256)) * 3)
    with pytest.raises(CorpusError, match=r"a\.pdf.*b\.txt"):
        load_corpus([tmp_path])


# --- real files ----------------------------------------------------------------------------


def test_two_column_pdf_pages_in_reading_order_with_page_numbers(archive):
    _, _, corpus = archive
    arts = [a for a in corpus.articles if a.source.startswith("2023-05-25/01.pdf")]
    assert [(a.source, a.headline) for a in arts] == [
        ("2023-05-25/01.pdf#p1", "区图书馆新馆开放"), ("2023-05-25/01.pdf#p1", "社区食堂覆盖全区"), ("2023-05-25/01.pdf#p2", "三条公交新线开通")]
    assert arts[0].body == "区图书馆新馆昨日正式对外开放，馆藏图书达到十二万册，每天开放十个小时。"
    assert arts[0].byline == "本报讯（记者 王芳）"
    assert arts[1].body == "今年全区新建社区食堂二十八家，覆盖全部街道，每餐价格不超过十五元。"
    assert {(a.paper, a.date) for a in arts} == {("东城日报", "2023-05-25")}  # page 2 takes page 1's masthead


@needs_font
def test_scanned_pdf_page_and_png_are_read_by_ocr_in_column_order(archive):
    _, _, corpus = archive
    scan = {a.headline: a for a in corpus.articles if a.source == "2023-05-26/01.pdf#p1"}
    assert set(scan) == {"老街改造工程完工", "春季运动会闭幕"}
    assert "三十六栋" in scan["老街改造工程完工"].body and "运动员" not in scan["老街改造工程完工"].body
    assert scan["春季运动会闭幕"].date == "2023-05-26"
    [png] = [a for a in corpus.articles if a.source == "scans/2023-05-27.PNG"]
    assert (png.headline, png.date) == ("夜市经济持续升温", "2023-05-27")
    assert "八十万人次" in png.body


def test_html_article_page_main_text_and_metadata(archive):
    _, _, corpus = archive
    [a] = [a for a in corpus.articles if a.source == "web/river.html"]
    assert (a.headline, a.date, a.paper, a.page, a.byline) == ("河道治理工程通过验收", "2023-06-02", "东城日报", "第03版", "李明")
    assert a.body.startswith("东河河道综合治理工程昨日通过竣工验收")
    for junk in ("首页", "版权所有", "备案号", "相关新闻"):
        assert junk not in a.body


def test_html_in_gb18030_declared_in_markup(tmp_path):
    html = html_page("公园开放", ["本报讯 新建口袋公园十个，总面积达到五万平方米。", "公园全天免费开放。"], "2023-07-01", "张华", "第02版")
    (tmp_path / "p.htm").write_bytes(html.replace('charset="utf-8"', 'charset="gb18030"').encode("gb18030"))
    [a] = load_corpus([tmp_path]).articles
    assert a.headline == "公园开放" and "五万平方米" in a.body and a.date == "2023-07-01"


def test_gb18030_big5_and_uppercase_suffix(archive):
    _, _, corpus = archive
    by_source = {a.source: a for a in corpus.articles}
    assert "四十五个" in by_source["2023-05-25/02.txt"].body
    big5 = by_source["2023-05-26/02.TXT"]
    assert (big5.headline, big5.byline, big5.date) == ("東湖濕地公園開園", "本報訊", "2023-05-26")


def test_bad_files_are_skipped_with_their_reason(archive):
    _, expected, corpus = archive
    assert [s.source for s in corpus.skipped] == expected["broken"]
    summary = corpus.summary()
    assert summary.startswith("indexed 8 files (12 articles)") and "skipped 3:" in summary
    for name in expected["broken"]:
        assert name in summary


def test_manifest_records_files_and_skipped_and_folder_sync_reports_changes(archive, tmp_path):
    root, expected, corpus = archive
    idx = tmp_path / "idx"
    build_index(list(corpus.articles), HashingEmbedder(dim=64), idx, files=corpus.files, skipped=corpus.skipped)
    m = read_manifest(current_generation(idx))
    assert [s["source"] for s in m["corpus"]["skipped"]] == expected["broken"]
    assert set(m["corpus"]["files"]) == {f.source for f in archive_files([root])}
    # change one file, add one, remove one: the sync names them; unchanged passages are reused
    old = previous_files(idx)
    files = dict(corpus.files)
    files["2023-05-25/02.txt"] = "0" * 64
    files["2023-05-28/01.txt"] = "1" * 64
    del files["events.jsonl"]
    ch = folder_changes(old, files)
    assert (ch.added, ch.changed, ch.removed) == (("2023-05-28/01.txt",), ("2023-05-25/02.txt",), ("events.jsonl",))
    assert ch.unchanged == len(old) - 2
    assert "1 new (2023-05-28/01.txt), 1 changed (2023-05-25/02.txt), 1 removed (events.jsonl)" in ch.summary()


def test_chat_examples_and_about_line_come_from_the_loaded_index(archive, small_index, tmp_path):
    from types import SimpleNamespace

    from qa.index.store import verify_index
    from ui.app import about_line, example_questions

    _, _, corpus = archive
    idx = tmp_path / "idx"
    build_index(list(corpus.articles), HashingEmbedder(dim=64), idx)
    mine, seed = verify_index(idx), verify_index(small_index)
    ex = example_questions(mine.articles.values())
    assert len(ex) == 4 and ex[0] == "河道治理工程通过验收是怎么回事？"  # the newest issue first
    headlines = {a.headline for a in mine.articles.values()}
    assert all(q.removesuffix("是怎么回事？").removesuffix("是怎麼回事？") in headlines for q in ex)
    assert "東湖濕地公園開園是怎麼回事？" in ex
    assert not set(ex) & set(example_questions(seed.articles.values()))
    assert about_line(SimpleNamespace(index=mine)) == (
        "About this archive: 东城日报; issues 2023-03-01 – 2023-06-02; 12 articles from 8 files (9 pages).")


def test_cli_layout_flag_and_no_ocr(tmp_path, monkeypatch, capsys):
    import qa.pipeline
    from newsqa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_embedder", lambda model=None, runtime=None: HashingEmbedder(dim=64))
    root = tmp_path / "a"
    root.mkdir()
    (root / "report.txt").write_text("年度报告\n\n一、总体情况\n全年地区生产总值增长百分之六。\n\n二、下一步工作\n继续扩大有效投资。\n",
                                     encoding="utf-8")
    (root / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    for layout, n in (("auto", 1), ("plain", 1), ("page", 2)):
        assert main(["index", str(root), "--index", str(tmp_path / layout), "--layout", layout, "--no-ocr"]) == 0
        err = capsys.readouterr().err
        assert f"indexed 1 files ({n} articles), skipped 1: scan.png (an image needs OCR, which is turned off)" in err


@needs_font
def test_scan_with_a_stamped_page_number_is_still_read_by_ocr(tmp_path):
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = page_image(["湿地保护条例施行", "本报讯 湿地保护条例今日起施行，", "全区划定保护红线十二处。"], [], ["南湖周刊"])
    c = canvas.Canvas(str(tmp_path / "scan.pdf"), pagesize=(595, 432))
    c.drawImage(ImageReader(img), 0, 0, width=595, height=432)
    c.setFont("Helvetica", 8)
    c.drawString(560, 10, "A03")  # the scanner's page stamp: a text layer of three characters
    c.showPage()
    c.save()
    [a] = load_corpus([tmp_path]).articles
    assert a.headline == "湿地保护条例施行" and "十二处" in a.body


def test_chinese_line_broken_inside_a_number_joins_without_a_space():
    raw = "桥梁工程完工\n本报讯 工程共计投资12\n3万元，全长四百米。\n"
    [a] = parse_text(raw, "p.txt")
    assert a.body == "工程共计投资123万元，全长四百米。"


def test_mutated_files_are_skipped_never_raised(archive, tmp_path):
    import random

    root, _, _ = archive
    rng = random.Random(7)
    good_pdf = (root / "2023-05-25" / "01.pdf").read_bytes()
    good_html = (root / "web" / "river.html").read_bytes()
    for i in range(24):
        src = good_pdf if i % 2 == 0 else good_html
        b = bytearray(src)
        if i % 3 == 0:
            b = b[: rng.randrange(1, len(b))]
        else:
            for _ in range(30):
                b[rng.randrange(len(b))] = rng.randrange(256)
        (tmp_path / f"m{i:02d}{'.pdf' if i % 2 == 0 else '.html'}").write_bytes(bytes(b))
    (tmp_path / "ok.txt").write_text("图书馆开放\n本报讯 新馆昨日开放，藏书十二万册。\n", encoding="utf-8")
    corpus = load_corpus([tmp_path], ocr=False)
    assert any(a.source == "ok.txt" for a in corpus.articles)
    assert len(corpus.files) == 25
    for s in corpus.skipped:
        assert s.reason and "Traceback" not in s.reason
