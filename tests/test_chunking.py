"""Chunking: sizes, offsets, sentence-boundary cuts and coverage, with a real langchain splitter."""

from __future__ import annotations

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa.ingest.chunking import SEPARATORS, ChunkParams, chunk_articles
from qa.types import Article

SEP_CHARS = {s for s in SEPARATORS if s}
PARAMS = [ChunkParams(120, 20), ChunkParams(60, 10), ChunkParams(160, 32), ChunkParams(40, 0)]


def _art(body: str, aid: str = "t-01") -> Article:
    return Article(id=aid, headline="标题", body=body, source="t.txt")


def _ends_at_boundary(body: str, end: int) -> bool:
    """The cut is right after a separator character, or right before a paragraph break."""
    return body[end - 1] in SEP_CHARS or (end < len(body) and body[end].isspace())


def _by_article(chunks):
    out: dict[str, list] = {}
    for c in chunks:
        out.setdefault(c.article_id, []).append(c)
    return out


SYNTH = (
    "今年以来,全镇聚焦老年人基本生活需求,从助医、助餐、助洁三个方面落实助老服务。"
    "在助医方面,通过组团联村的方式组建家庭医生团队,定期上门送医送药,做好老年人健康保障!"
    "食堂刚完工不久,室内环境温馨整洁;据介绍,该食堂占地面积约170平方米,有三间餐厅和一间厨房?"
    "\n"
    "医疗有服务,就餐有保障:随着助老服务的深入开展,全镇进一步聚焦高龄、独居、失能失智等老年人的需求。"
    "扩大受惠群体,在其余的村庄建设幸福食堂和助餐点,联系更多的行业协会,希望更多的人投入进来。"
)


@pytest.fixture(scope="module")
def articles(seed_articles):
    return list(seed_articles) + [_art(SYNTH, "synth-01")]


@pytest.mark.parametrize("params", PARAMS, ids=str)
def test_chunk_size_and_offsets(articles, params):
    by_id = {a.id: a for a in articles}
    chunks = chunk_articles(articles, params, len)
    assert chunks
    for c in chunks:
        body = by_id[c.article_id].body
        assert len(c.text) <= params.chunk_size
        assert body[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()


def test_chunk_size_in_the_length_functions_unit(articles):
    def two_per_char(s: str) -> int:
        return 2 * len(s)

    params = ChunkParams(120, 20)
    chunks = chunk_articles(articles, params, two_per_char)
    assert max(two_per_char(c.text) for c in chunks) <= 120
    # measured in the other unit the same sizes would allow chunks twice as long
    assert max(len(c.text) for c in chunks) <= 60


def _clause_len(body: str, pos: int) -> int:
    """Length of the separator-free run of text around a cut at ``pos``."""
    lo = pos
    while lo > 0 and body[lo - 1] not in SEP_CHARS and not body[lo - 1].isspace():
        lo -= 1
    hi = pos
    while hi < len(body) and body[hi] not in SEP_CHARS and not body[hi].isspace():
        hi += 1
    return hi - lo


@pytest.mark.parametrize("params", PARAMS, ids=str)
def test_chunks_end_at_separators(articles, params):
    """Every chunk but an article's last ends right after 。！？；，etc. (or at a paragraph break): never mid-word.

    The one exception is forced: a clause with no separator that is itself longer than chunk_size.
    """
    by_id = {a.id: a for a in articles}
    for aid, cs in _by_article(chunk_articles(articles, params, len)).items():
        body = by_id[aid].body
        for c in cs[:-1]:
            if not _ends_at_boundary(body, c.end):
                assert _clause_len(body, c.end) > params.chunk_size, (
                    aid, body[c.end - 10 : c.end] + "|" + body[c.end : c.end + 5]
                )
        assert cs[-1].end == len(body.rstrip())


def test_seed_chunks_at_120_never_cut_mid_clause(seed_articles):
    # precondition: no clause of the seed corpus is longer than 120 characters ...
    for a in seed_articles:
        assert max(_clause_len(a.body, i) for i in range(len(a.body))) <= 120
    # ... so at chunk_size 120 every cut is at a separator
    by_id = {a.id: a for a in seed_articles}
    for aid, cs in _by_article(chunk_articles(seed_articles, ChunkParams(120, 20), len)).items():
        for c in cs[:-1]:
            assert _ends_at_boundary(by_id[aid].body, c.end)


@pytest.mark.parametrize("params", PARAMS, ids=str)
def test_chunks_cover_the_whole_body(articles, params):
    by_id = {a.id: a for a in articles}
    per = _by_article(chunk_articles(articles, params, len))
    assert set(per) == set(by_id)  # no article is left without chunks
    for aid, cs in per.items():
        body = by_id[aid].body
        covered = [False] * len(body)
        for c in cs:
            for i in range(c.start, c.end):
                covered[i] = True
        missing = [i for i, ch in enumerate(body) if not ch.isspace() and not covered[i]]
        assert not missing, (aid, [body[i] for i in missing[:10]])
        # chunks of one article come in body order
        assert [c.start for c in cs] == sorted(c.start for c in cs)


def test_ids_are_consecutive_from_first_id(articles):
    chunks = chunk_articles(articles, ChunkParams(120, 20), len, first_id=7)
    assert [c.id for c in chunks] == list(range(7, 7 + len(chunks)))
    assert [c.article_id for c in chunks] == sorted([c.article_id for c in chunks], key=[a.id for a in articles].index)


def test_consecutive_chunks_overlap_when_overlap_is_set():
    # short sentences (6 chars) fit inside a 20-char overlap, so the splitter can carry them over
    body = "".join(f"第{i:02d}句话。" for i in range(40))
    [a] = [_art(body)]
    with_overlap = chunk_articles([a], ChunkParams(60, 20), len)
    assert len(with_overlap) > 3
    for x, y in zip(with_overlap, with_overlap[1:]):
        assert y.start < x.end, (x, y)
        assert body[y.start : x.end].endswith("。")  # the overlap is whole sentences
    without = chunk_articles([a], ChunkParams(60, 0), len)
    for x, y in zip(without, without[1:]):
        assert y.start >= x.end


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="FINDING qa/chunking.py make_splitter: langchain carries over only whole splits totalling <= "
    "chunk_overlap, and Chinese sentences are longer than the overlap, so the configured overlap is almost "
    "never applied (seed corpus at 120/20: 11 of 263 consecutive chunk pairs overlap; default 160/32: 10 of 187)",
)
def test_consecutive_chunks_overlap_on_seed_corpus(seed_articles):
    chunks = chunk_articles(seed_articles, ChunkParams(120, 20), len)
    pairs = [(x, y) for x, y in zip(chunks, chunks[1:]) if x.article_id == y.article_id]
    assert pairs
    assert all(y.start < x.end for x, y in pairs), sum(y.start < x.end for x, y in pairs)


def test_text_without_separators_still_chunked():
    body = "甲" * 130 + "。" + "乙" * 10
    [a] = [_art(body)]
    chunks = chunk_articles([a], ChunkParams(50, 0), len)
    assert all(len(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks) == body


def test_default_separators_cut_chinese_mid_sentence(seed_articles):
    """Control: the splitter's own default separators ["\\n\\n", "\\n", " ", ""] do cut mid-sentence on this text."""
    default = RecursiveCharacterTextSplitter(chunk_size=120, chunk_overlap=20)
    mid_word = 0
    for a in seed_articles:
        pieces = default.split_text(a.body)
        cursor = 0
        for piece in pieces[:-1]:
            start = a.body.find(piece, cursor)
            assert start >= 0
            end = start + len(piece)
            cursor = start + 1
            if not _ends_at_boundary(a.body, end):
                mid_word += 1
    assert mid_word > 10
    # ... while ours never does on the same articles and sizes
    ours = _by_article(chunk_articles(seed_articles, ChunkParams(120, 20), len))
    by_id = {a.id: a for a in seed_articles}
    assert all(_ends_at_boundary(by_id[aid].body, c.end) for aid, cs in ours.items() for c in cs[:-1])


def test_space_is_not_a_separator():
    assert " " not in SEPARATORS
    assert SEPARATORS[0] == "\n" and SEPARATORS[-1] == ""
    for ch in "。！？；，":
        assert ch in SEPARATORS


@pytest.mark.parametrize("size,overlap", [(100, 100), (100, 150), (15, 0), (8, 2), (100, -1)])
def test_chunk_params_validation(size, overlap):
    with pytest.raises(ValueError):
        ChunkParams(size, overlap)


def test_chunk_params_accepts_limits():
    assert ChunkParams(16, 15).chunk_overlap == 15
    assert ChunkParams(16, 0).chunk_size == 16
