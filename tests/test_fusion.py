"""Reciprocal rank fusion on hand-made lists, and the hybrid retriever's ranks, collapsing and filters."""

from __future__ import annotations

import pytest

from embeddings.encoder import HashingEmbedder
from qa import ask
from qa.api import get_pipeline
from qa.errors import InputError
from qa.retrieve.fusion import rrf
from qa.retrieve.retriever import _overlaps
from qa.text import norm


def test_rrf_scores_by_hand():
    out = rrf({"dense": ["a", "b", "c"], "lexical": ["c", "a", "d"]}, k=60)
    got = {f.item: f for f in out}
    assert got["a"].score == pytest.approx(1 / 61 + 1 / 62)
    assert got["c"].score == pytest.approx(1 / 63 + 1 / 61)
    assert got["b"].score == pytest.approx(1 / 62)
    assert got["d"].score == pytest.approx(1 / 63)
    assert [f.item for f in out] == ["a", "c", "b", "d"]
    assert got["a"].ranks == {"dense": 1, "lexical": 2}
    assert got["d"].ranks == {"lexical": 3}


def test_rrf_agreement_beats_a_single_first_place():
    out = rrf({"dense": ["x", "both"], "lexical": ["y", "both"]}, k=60)
    assert out[0].item == "both"


def test_rrf_ties_are_deterministic():
    # x and y each first in one list: equal scores; the first-named list wins the tie
    assert [f.item for f in rrf({"dense": ["x"], "lexical": ["y"]})] == ["x", "y"]
    assert [f.item for f in rrf({"lexical": ["y"], "dense": ["x"]})] == ["y", "x"]


def test_rrf_weights_and_k():
    out = rrf({"dense": ["a", "b"], "lexical": ["b", "a"]}, k=0, weights={"dense": 1.0, "lexical": 0.0})
    assert [f.item for f in out] == ["a", "b"]
    assert out[1].ranks == {"dense": 2, "lexical": 1}  # a zero-weight list still reports its ranks
    assert out[0].score == pytest.approx(1.0)
    with pytest.raises(ValueError):
        rrf({"dense": ["a"]}, k=-1)


def test_rrf_duplicates_and_empty_lists():
    out = rrf({"dense": ["a", "a", "b"], "lexical": []})
    assert [f.item for f in out] == ["a", "b"]
    assert out[0].ranks == {"dense": 1} and out[1].ranks == {"dense": 3}
    assert rrf({"dense": [], "lexical": []}) == []
    assert [f.item for f in rrf({"only": [3, 1, 2]})] == [3, 1, 2]  # one list keeps its order


# --- the hybrid retriever on the seed index -------------------------------------------------

QUESTIONS = ["水库除险加固", "累计回收生活垃圾19268.15吨", "新新街道下辖多少个小区", "区长蒋国强", "共享菜园认领模式"]


@pytest.fixture
def asker(small_index):
    emb = HashingEmbedder(dim=256)

    def _ask(q, **kw):
        return ask(q, index=small_index, embedder=emb, **kw)

    return _ask


@pytest.mark.parametrize("q", QUESTIONS)
def test_hybrid_ranks_agree_with_each_retriever(asker, q):
    k = 8
    hyb = asker(q, k=k).hits
    dense = [h.chunk.id for h in asker(q, k=k, retriever="dense").hits]
    lex = [h.chunk.id for h in asker(q, k=k, retriever="lexical").hits]
    assert hyb and all(h.retriever == "hybrid" and h.fused_score > 0 for h in hyb)
    for h in hyb:
        assert h.dense_rank is not None or h.lexical_rank is not None
        if h.dense_rank is not None and h.dense_rank <= len(dense):
            assert dense[h.dense_rank - 1] == h.chunk.id
        if h.lexical_rank is not None and h.lexical_rank <= len(lex):
            assert lex[h.lexical_rank - 1] == h.chunk.id
    d = asker(q, k=k, retriever="dense").hits
    assert all(h.dense_rank == h.rank and h.lexical_rank is None for h in d)


@pytest.mark.parametrize("retriever", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("q", QUESTIONS)
def test_no_overlapping_or_reprinted_passages(asker, q, retriever):
    hits = asker(q, k=10, retriever=retriever).hits
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            assert not _overlaps(a.chunk, b.chunk)
            assert norm(a.chunk.text) != norm(b.chunk.text)


def test_hit_dict_shows_why(asker):
    d = asker("区长蒋国强").to_dict()
    h = d["hits"][0]
    assert {"dense_rank", "lexical_rank", "lexical_score", "fused_score", "retriever", "score"} <= set(h)


def test_paper_and_date_filters(asker, small_index):
    arts = get_pipeline(small_index, embedder=HashingEmbedder(dim=256)).index.articles.values()
    dated = {a.id for a in arts if a.date}
    papers = {a.paper for a in arts if a.paper}
    assert dated and papers, "the seed corpus has a dated page"
    paper = sorted(papers)[0]
    for retriever in ("hybrid", "dense", "lexical"):
        hits = asker("常务会议", retriever=retriever, paper=paper, k=10).hits
        assert hits and all(h.article.paper == paper for h in hits)
        date = sorted(a.date for a in arts if a.date)[0]
        hits = asker("常务会议", retriever=retriever, date_from=date, date_to=date, k=10).hits
        assert hits and all(h.article.date == date for h in hits)
        # undated articles are excluded only when a date filter is given
        assert any(h.article.id not in dated for h in asker("常务会议", retriever=retriever, k=10).hits)
        ans = asker("常务会议", retriever=retriever, date_from="1990-01-01", date_to="1990-12-31")
        assert ans.hits == () and ans.refused
    assert asker("常务会议", paper="没有这份报纸").hits == ()


@pytest.mark.parametrize("kw", [{"retriever": "bm25"}, {"date_from": "2022-13-01"}, {"date_to": "yesterday"},
                                {"date_from": "2023-01-02", "date_to": "2023-01-01"}])
def test_bad_retrieval_options(asker, kw):
    with pytest.raises(InputError):
        asker("常务会议", **kw)


def test_convex_fusion_scales_each_list_and_keeps_ranks():
    from qa.retrieve.fusion import convex

    lists = {"dense": ["a", "b", "c"], "lexical": ["c", "d"]}
    scores = {"dense": {"a": 0.9, "b": 0.8, "c": 0.5}, "lexical": {"c": 12.0, "d": 2.0}}
    fused = convex(lists, scores)
    got = {f.item: round(f.score, 3) for f in fused}
    assert got == {"a": 1.0, "b": 0.75, "c": 1.0, "d": 0.0}
    assert [f.item for f in fused][:2] == ["a", "c"]  # tie at 1.0: the better best rank, then the earlier list
    assert next(f for f in fused if f.item == "c").ranks == {"dense": 3, "lexical": 1}
    weighted = convex(lists, scores, {"dense": 1.0, "lexical": 2.0})
    assert weighted[0].item == "c"


# --- a per-item signal added to a fused list (query-term coverage) ---------------------------

def test_add_signal_on_hand_made_lists():
    from qa.retrieve.fusion import add_signal, convex

    lists = {"dense": ["a", "b", "c"], "lexical": ["c", "d"]}
    scores = {"dense": {"a": 0.9, "b": 0.8, "c": 0.5}, "lexical": {"c": 12.0, "d": 2.0}}
    fused = convex(lists, scores)  # a 1.0, c 1.0, b 0.75, d 0.0
    out = add_signal(fused, {"b": 1.0, "d": 0.5}, 0.5)  # c and a get nothing
    got = {f.item: round(f.score, 3) for f in out}
    assert got == {"a": 1.0, "b": 1.25, "c": 1.0, "d": 0.25}
    assert [f.item for f in out] == ["b", "a", "c", "d"]  # a before c: equal scores keep the input order
    assert next(f for f in out if f.item == "c").ranks == {"dense": 3, "lexical": 1}  # list ranks are kept
    assert add_signal(fused, {"b": 1.0}, 0.0) == fused  # weight 0 leaves the list alone
    assert [f.item for f in add_signal(fused, {"d": 1.0}, 2.0)][0] == "d"  # a strong signal can lift the last item
    assert add_signal([], {"a": 1.0}, 1.0) == []


def test_coverage_reorders_hybrid_hits_only(small_index):
    """w_coverage changes only the hybrid order; the hits are the same passages with the same list ranks."""
    import dataclasses

    from qa.api import get_pipeline
    from qa.text import normalize

    emb = HashingEmbedder(dim=256)
    r = get_pipeline(small_index, embedder=emb).retriever
    q = normalize("刘坂村共有村民多少户？")
    base = r.settings
    try:
        n = r.index.size  # every passage, so both orders hold the same ones
        r.settings = dataclasses.replace(base, w_coverage=0.0)
        off = r.retrieve(q, n)
        r.settings = dataclasses.replace(base, w_coverage=5.0)
        on = r.retrieve(q, n)
    finally:
        r.settings = base
    assert {h.chunk.id for h in on} == {h.chunk.id for h in off}
    lex = r.index.lexical
    cov = dict(zip([h.chunk.id for h in on], lex.coverage(q, [h.chunk.id for h in on])))
    assert cov[on[0].chunk.id] == max(cov.values())  # a heavy coverage weight puts a full-coverage passage first
    assert "刘坂村" in on[0].chunk.text or "刘坂村" in on[0].article.title
    off_by_id = {h.chunk.id: h for h in off}
    for h in on:
        o = off_by_id[h.chunk.id]
        assert (o.dense_rank, o.lexical_rank) == (h.dense_rank, h.lexical_rank)
        assert h.fused_score == pytest.approx(o.fused_score + 5.0 * cov[h.chunk.id], abs=1e-5)
