"""Page parsing: the hand-checked seed pages, offsets back into the raw files, and small synthetic pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.ingest.corpus import corpus_files, load_articles, load_corpus
from qa.errors import CorpusError
from qa.ingest.parse import find_banners, parse_page, read_jsonl_articles, read_text
from qa.text import sentences

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "seed_pages.json").read_text(encoding="utf-8"))
PAGES = FIXTURE["pages"]

_WS = re.compile(r"\s+")


def nows(s: str) -> str:
    return _WS.sub("", s)


@pytest.fixture(scope="module")
def by_source(seed_articles):
    out: dict[str, list] = {}
    for a in seed_articles:
        out.setdefault(a.source, []).append(a)
    return out


@pytest.fixture(scope="module")
def raws(seed_dir):
    return {f.name: read_text(f) for f in sorted(seed_dir.glob("*.txt"))}


def _find(articles, headline_contains):
    hits = [a for a in articles if headline_contains in a.title]
    assert len(hits) == 1, f"{headline_contains!r} matches {len(hits)} titles: {[a.title for a in articles]}"
    return hits[0]


# --------------------------------------------------------------------------- #
# the seed pages


def test_fixture_covers_every_seed_page(seed_dir):
    assert sorted(PAGES) == sorted(f.name for f in seed_dir.glob("*.txt"))


@pytest.mark.parametrize("source,count", [(s, len(p["articles"])) for s, p in sorted(PAGES.items())])
def test_article_count_per_page(by_source, source, count):
    assert len(by_source.get(source, [])) == count, [a.title for a in by_source.get(source, [])]


def test_expected_counts_match_brief():
    # the independent reading of the five pages: 4, 5, 9, 6, 5 articles
    assert [len(PAGES[s]["articles"]) for s in sorted(PAGES)] == [4, 5, 9, 6, 5]


@pytest.mark.parametrize("source", sorted(PAGES))
def test_articles_in_page_order_with_title_byline_and_body(by_source, source):
    got = by_source[source]
    expected = PAGES[source]["articles"]
    assert len(got) == len(expected)
    for a, exp in zip(got, expected):
        # the same article, in order
        assert exp["headline_contains"] in a.title, (a.title, exp["headline_contains"])
        # every title line present, in reading order, and nothing else in the title
        positions = [a.title.find(line) for line in exp["title_lines"]]
        assert all(p >= 0 for p in positions), (a.title, exp["title_lines"])
        assert positions == sorted(positions), (a.title, exp["title_lines"])
        rest = a.title
        for line in exp["title_lines"] + exp.get("ambiguous_title_lines", []):
            rest = rest.replace(line, "", 1)
        assert rest.strip() == "", f"unexpected text in the title of {a.id}: {rest!r}"
        assert a.byline == exp["byline"]
        assert a.body.startswith(exp["body_starts"]), (a.id, a.body[:30])
        assert a.body.endswith(exp["body_ends"]), (a.id, a.body[-30:])
        assert a.source == source


def test_ids_are_unique_and_name_the_source(seed_articles):
    ids = [a.id for a in seed_articles]
    assert len(ids) == len(set(ids))
    for a in seed_articles:
        assert a.id.startswith(Path(a.source).stem)


FURNITURE_ANYWHERE = [
    "责任编辑", "下转", "今日四版", "采编热线", "转作风 讲担当 抓落实", "六治六提 六比六晒",
    "贯彻二十大精神 踔厉奋进新征程", "**", "摄)", "摄）", "第1953期", "农历壬寅年", "运动柯城APP",
    "中共衢州市柯城区委主办", "融媒体中心编印",
]
# "六治六提" legitimately appears inside a sentence of the 000 body (扎实推进“六治六提”“六比六晒”作风建设行动),
# so it is only furniture when it shows up in a title.
FURNITURE_IN_TITLES = FURNITURE_ANYWHERE + ["六治六提", "本报讯", "柯城发布"]


def test_no_page_furniture_in_bodies_or_titles(seed_articles):
    for a in seed_articles:
        for f in FURNITURE_ANYWHERE:
            assert f not in a.body, (a.id, f)
            assert f not in a.byline, (a.id, f)
        for f in FURNITURE_IN_TITLES:
            assert f not in a.title, (a.id, f)


def test_body_does_not_start_with_byline(seed_articles):
    for a in seed_articles:
        assert not a.body.startswith("本报讯"), a.id
        assert not a.body[:1].isspace(), a.id


@pytest.mark.parametrize(
    "source,joined",
    [
        ("000_7ff5f06dc4846084.txt", "应用场景从城市向乡村延伸"),
        ("000_7ff5f06dc4846084.txt", "守护绿水青山、建设美丽柯城"),
        ("002_a1394b6d0e0c442f.txt", "中央徐村的安仁水库"),
        ("003_b6a1a753da2b1ca8.txt", "祝升明详细了解"),
        ("003_b6a1a753da2b1ca8.txt", "后溪镇集中整治"),
        ("004_733030cbff99bc12.txt", "“评审团”现场评议"),
    ],
)
def test_column_breaks_rejoined_without_space(by_source, raws, source, joined):
    # the raw page really splits this phrase across lines ...
    assert joined not in raws[source]
    assert joined in nows(raws[source])
    # ... and exactly one body holds it rejoined with nothing inserted
    assert sum(joined in a.body for a in by_source[source]) == 1


def test_paragraphs_end_at_sentence_ends(seed_articles):
    """Every paragraph but an article's last ends a sentence: no column break is left as a paragraph break."""
    for a in seed_articles:
        paras = a.body.split("\n")
        for p in paras[:-1]:
            if p in ("记者手记",):
                continue
            assert re.search(r"[。！？!?…][”’」』）)\"']*$", p), (a.id, p[-20:])


def test_spans_map_body_to_identical_raw_text(seed_articles, raws):
    for a in seed_articles:
        raw = raws[a.source]
        assert a.spans, a.id
        covered = 0
        for sp in a.spans:
            assert a.body[sp.body_start : sp.body_start + sp.length] == raw[sp.raw_start : sp.raw_start + sp.length]
            covered += sp.length
        # every body character is either mapped or one of the inserted paragraph separators
        assert covered + a.body.count("\n") == len(a.body), a.id
        assert 0 <= a.raw_start < a.raw_end <= len(raw)


def test_raw_offsets_of_every_sentence(seed_articles, raws):
    """A quote's raw range holds the same text once line breaks between column pieces are removed."""
    n = 0
    for a in seed_articles:
        raw = raws[a.source]
        for s, e in sentences(a.body):
            rs, re_ = a.raw_offsets(s, e)
            assert rs < re_
            assert nows(raw[rs:re_]) == nows(a.body[s:e]), (a.id, a.body[s:e])
            n += 1
    assert n > 200


@pytest.mark.parametrize(
    "quote", ["数字化应用场景从城市向乡村延伸", "在位于高家镇中央徐村的安仁水库", "祝升明详细了解该村产业发展"]
)
def test_raw_offsets_across_column_break(seed_articles, raws, quote):
    [a] = [a for a in seed_articles if quote in a.body]
    s = a.body.index(quote)
    rs, re_ = a.raw_offsets(s, s + len(quote))
    piece = raws[a.source][rs:re_]
    assert "\n" in piece  # it really crosses a line break in the raw file
    assert nows(piece) == quote


def test_paper_and_date(by_source):
    for source, page in PAGES.items():
        for a in by_source[source]:
            assert a.paper == page["paper"]
            assert a.date == page["date"]
    assert PAGES["004_733030cbff99bc12.txt"]["paper"] == "今日柯城"
    assert PAGES["004_733030cbff99bc12.txt"]["date"] == "2022-05-25"


def test_orphan_headline_attached_to_its_article(by_source, raws):
    raw = raws["002_a1394b6d0e0c442f.txt"]
    assert raw.rstrip().endswith("区政府党组主题教育调研成果交流会召开")  # printed away from its article
    owners = [a for a in by_source["002_a1394b6d0e0c442f.txt"] if "区政府党组主题教育调研成果交流会召开" in a.title]
    assert len(owners) == 1
    assert owners[0].body.startswith("12月11日")


def test_signature_line_is_not_a_headline(seed_articles):
    for a in seed_articles:
        assert "区农业农村局" not in a.title, a.id
    [nxt] = [a for a in seed_articles if "泉井边村“共享菜园”" in a.title]
    assert nxt.kicker == ""


def test_reporters_note_stays_inside_its_article(seed_articles):
    owners = [a for a in seed_articles if "记者手记" in a.body]
    assert len(owners) == 1
    a = owners[0]
    assert "春江" in a.title + a.body and "小积分" in a.title
    # the note's text follows the label in the same body
    assert a.body.index("记者手记") < a.body.index("在春江社区,诚信“春江分”已从简单的数字转化为治理动能")
    assert all("记者手记" not in b.title for b in seed_articles)


def test_date_mentions_found_in_body(seed_articles):
    for a in seed_articles:
        for d in a.date_mentions:
            assert d in a.body
    [a] = [a for a in seed_articles if "第9次常务会议" in a.title]
    assert "6月27日" in a.date_mentions


# --------------------------------------------------------------------------- #
# synthetic pages


TWO_ARTICLES = (
    "\n"
    "某某村举办乡村文艺演出\n"
    "\n"
    "本报讯(记者 张三)3月1日,某某村举行了一场热闹的文\n"
    "\n"
    "艺演出,吸引了众多村民观看!\n"
    "\n"
    "村民李四说,这样的活动多多益善。\n"
    "\n"
    "某镇开展春季植树活动\n"
    "\n"
    "本报讯（记者 王五）3月2日，某镇组织干部群众开展植树活动，共植\n"
    "树500余株。\n"
)


def test_two_article_page():
    arts = parse_page(TWO_ARTICLES, "p.txt")
    assert [a.headline for a in arts] == ["某某村举办乡村文艺演出", "某镇开展春季植树活动"]
    a, b = arts
    assert a.byline == "本报讯(记者 张三)"
    assert a.body == "3月1日,某某村举行了一场热闹的文艺演出,吸引了众多村民观看!\n村民李四说,这样的活动多多益善。"
    assert b.byline == "本报讯（记者 王五）"
    assert b.body == "3月2日，某镇组织干部群众开展植树活动，共植树500余株。"
    assert [x.id for x in arts] == ["p-01", "p-02"]
    for x in arts:
        assert x.paper is None and x.date is None
        for sp in x.spans:
            assert x.body[sp.body_start : sp.body_start + sp.length] == TWO_ARTICLES[sp.raw_start : sp.raw_start + sp.length]


@pytest.mark.parametrize(
    "comma,stop,lp,rp",
    [(",", "!", "(", ")"), ("，", "！", "（", "）"), (",", "?", "(", ")"), ("，", "。", "（", "）")],
)
def test_full_and_half_width_punctuation(comma, stop, lp, rp):
    page = (
        "标题一行\n\n"
        f"本报讯{lp}记者 甲{rp}第一句话{comma}没有结\n"
        f"束{comma}这里结束{stop}\n"
        f"第二段开始{comma}到此为止{stop}\n"
    )
    [a] = parse_page(page, "x.txt")
    assert a.byline == f"本报讯{lp}记者 甲{rp}"
    # a line ending in a comma is a column break; one ending in a sentence stop closes the paragraph
    assert a.body == f"第一句话{comma}没有结束{comma}这里结束{stop}\n第二段开始{comma}到此为止{stop}"


def test_masthead_gives_paper_and_date():
    page = "2023年1月5日\n\n第100期\n\n某某日报\n\n今日八版\n\n一条新闻\n\n本报讯 今天,天气很好。\n"
    [a] = parse_page(page, "m.txt")
    assert (a.paper, a.date) == ("某某日报", "2023-01-05")
    assert a.headline == "一条新闻"
    assert "第100期" not in a.title + a.body


def test_find_banners_detects_repeated_line():
    p1 = "口号一 口号二\n\n甲村修路\n\n本报讯(记者 甲)甲村修好了路,村民很高兴。\n"
    p2 = "**口号一 口号二**\n\n乙村种树\n\n本报讯(记者 乙)乙村种了树,村民很高兴。\n"
    banners = find_banners([p1, p2])
    assert "口号一 口号二" in banners
    assert "甲村修路" not in banners and "乙村种树" not in banners
    # lines with prose punctuation are never banners, even when repeated
    assert "村民很高兴。" not in banners
    for page in (p1, p2):
        [a] = parse_page(page, "b.txt", banners=banners)
        assert "口号" not in a.title
        assert a.headline in ("甲村修路", "乙村种树")


def test_banner_needs_two_pages():
    p = "口号一 口号二\n\n口号一 口号二\n\n标题\n\n本报讯 正文,内容。\n"
    assert find_banners([p]) == frozenset()


def test_headline_repeated_on_two_pages_still_starts_an_article():
    p1 = (
        "省里来人调研乡村振兴\n\n本报讯(记者 张三)3月1日,省里来人调研乡村振兴工作。\n\n"
        "区委常委会召开会议\n\n本报讯(记者 李四)3月1日,区委常委会召开会议,研究春耕工作。\n"
    )
    p2 = (
        "县里开展植树活动\n\n本报讯(记者 王五)3月12日,县里开展植树活动。\n\n"
        "区委常委会召开会议\n\n本报讯(记者 赵六)3月12日,区委常委会召开会议,研究防汛工作。\n"
    )
    banners = find_banners([p1, p2])
    for page in (p1, p2):
        arts = parse_page(page, "x.txt", banners=banners)
        assert len(arts) == 2, [a.body for a in arts]
        assert all("本报讯" not in a.body for a in arts)


# --------------------------------------------------------------------------- #
# JSONL archives and file errors


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_good_file(tmp_path):
    p = _write(
        tmp_path / "arch.jsonl",
        [
            json.dumps({"id": "a1", "title": "标题一", "text": "正文一,5月3日举行。", "date": "2024-05-03", "source": "某报"}, ensure_ascii=False),
            "",
            json.dumps({"title": "标题二", "text": "正文二。"}, ensure_ascii=False),
        ],
    )
    arts = read_jsonl_articles(p)
    assert [a.id for a in arts] == ["a1", "arch-3"]
    a, b = arts
    assert (a.headline, a.body, a.date, a.source) == ("标题一", "正文一,5月3日举行。", "2024-05-03", "某报")
    assert a.date_mentions == ("5月3日",)
    assert (b.headline, b.body, b.date, b.source) == ("标题二", "正文二。", None, "arch.jsonl")
    # no spans: body offsets are raw offsets
    assert a.raw_offsets(2, 5) == (2, 5)


def test_jsonl_invalid_json_names_file_and_line(tmp_path):
    p = _write(tmp_path / "bad.jsonl", [json.dumps({"id": "a", "text": "好。"}), "{not json"])
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2"):
        read_jsonl_articles(p)


@pytest.mark.parametrize("rec", [{"id": "a"}, {"id": "a", "text": ""}, {"id": "a", "text": "   "}, {"id": "a", "text": 5}])
def test_jsonl_missing_text(tmp_path, rec):
    p = _write(tmp_path / "m.jsonl", [json.dumps(rec)])
    with pytest.raises(CorpusError, match=r"m\.jsonl:1"):
        read_jsonl_articles(p)


def test_jsonl_not_an_object(tmp_path):
    p = _write(tmp_path / "l.jsonl", ["[1, 2]"])
    with pytest.raises(CorpusError, match=r"l\.jsonl:1"):
        read_jsonl_articles(p)


def test_jsonl_duplicate_id(tmp_path):
    p = _write(tmp_path / "d.jsonl", [json.dumps({"id": "x", "text": "一。"}), json.dumps({"id": "x", "text": "二。"})])
    with pytest.raises(CorpusError, match=r"d\.jsonl:2.*duplicate"):
        read_jsonl_articles(p)


def test_duplicate_ids_across_files_skip_the_later_file(tmp_path):
    _write(tmp_path / "a.jsonl", [json.dumps({"id": "same", "text": "一。"})])
    _write(tmp_path / "b.jsonl", [json.dumps({"id": "same", "text": "二。"})])
    corpus = load_corpus([tmp_path])
    assert [a.body for a in corpus.articles] == ["一。"]
    assert [(s.source, "same" in s.reason and "a.jsonl" in s.reason) for s in corpus.skipped] == [("b.jsonl", True)]


def test_gbk_txt_is_decoded(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes("标题\n\n本报讯 正文,内容。\n".encode("gbk"))
    assert "本报讯 正文" in read_text(p)
    assert load_articles([tmp_path])[0].body == "正文,内容。"


def test_corpus_files_missing_path(tmp_path):
    with pytest.raises(CorpusError, match="nope"):
        corpus_files([tmp_path / "nope"])


def test_corpus_files_empty_folder_and_wrong_type(tmp_path):
    with pytest.raises(CorpusError):
        corpus_files([tmp_path])
    (tmp_path / "x.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="unsupported"):
        corpus_files([tmp_path / "x.csv"])
    with pytest.raises(CorpusError, match="no archive files"):
        corpus_files([tmp_path])


def test_corpus_files_sorted_deduplicated_and_skip_index(tmp_path):
    (tmp_path / "b.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "chunks.jsonl").write_text("", encoding="utf-8")
    files = corpus_files([tmp_path, tmp_path / "b.txt"])
    assert [f.name for f in files] == ["a.jsonl", "b.txt"]


def test_load_articles_mixes_pages_and_jsonl(tmp_path):
    (tmp_path / "page.txt").write_text(TWO_ARTICLES, encoding="utf-8")
    _write(tmp_path / "z.jsonl", [json.dumps({"id": "z1", "title": "档案", "text": "档案正文。"}, ensure_ascii=False)])
    arts = load_articles([tmp_path])
    assert [a.id for a in arts] == ["page-01", "page-02", "z1"]
