"""Answers stay on the question's subject: the prompt, the extractive fallback and the model's refusals."""

from __future__ import annotations

import pytest

from conftest import ScriptedGenerator
from qa import ask
from qa.answer.answer_type import expected_type
from qa.answer.extractive import Candidate
from qa.answer.ground import context_sentences, ground, off_subject, on_subject, subject_coverage
from qa.index.store import verify_index
from qa.types import Hit

# a paraphrase asking for a company: "哪家企业" also matches 60多家企业入驻 in the live-streaming article
Q_HUGE = "柯城把上门收废品的模式搬到农村试点时，是跟哪家企业联手的？"


def _cands(small_index, *needles):
    """One candidate per needle: the sentence holding it, in the order given (rank 1 first)."""
    idx = verify_index(small_index)
    out = []
    for r, n in enumerate(needles, 1):
        c = next(c for c in idx.chunks if n in c.text)
        s = c.text.index(n)
        start = max(c.text.rfind(p, 0, s) for p in "。！？") + 1
        end = min((i for i in (c.text.find(p, s) for p in "。！？") if i >= 0), default=len(c.text)) + 1
        out.append(Candidate(Hit(c, idx.articles[c.article_id], 0.9 - r / 100, r), start, end, 0.5, 0.9, 1.0 - r / 10))
    return out


def test_subject_coverage_prefers_the_article_naming_the_question_words(small_index):
    cands = _cands(small_index, "共吸引60多家企业入驻", "浙江虎哥环境有限公司合作")
    cov = subject_coverage(Q_HUGE, [c.hit.article for c in cands])
    live, waste = (cov[c.hit.article.id] for c in cands)
    assert waste > live > 0


def test_off_subject_articles_are_left_out_of_the_prompt(small_index):
    cands = _cands(small_index, "共吸引60多家企业入驻", "浙江虎哥环境有限公司合作")
    kept = on_subject(cands, Q_HUGE, 0.6)
    assert [c.hit.article.id for c in kept] == [cands[1].hit.article.id]
    groups = context_sentences(cands, 3, 400, Q_HUGE, min_subject=0.6)
    text = "".join(c.text for g in groups for c in g)
    assert "虎哥" in text and "60多家企业" not in text
    # without the filter the rank-1 sentence from the other article goes in first
    assert "60多家企业" in "".join(c.text for g in context_sentences(cands, 3, 400, Q_HUGE) for c in g)


def test_subject_filter_leaves_english_questions_and_zero_ratio_alone(small_index):
    cands = _cands(small_index, "共吸引60多家企业入驻", "浙江虎哥环境有限公司合作")
    assert on_subject(cands, "Which company did Kecheng team up with?", 0.6) == cands
    assert on_subject(cands, Q_HUGE, 0.0) == cands


def test_off_subject_names_the_quote_from_another_articles_subject(small_index):
    cands = _cands(small_index, "共吸引60多家企业入驻", "浙江虎哥环境有限公司合作")
    hits = [c.hit for c in cands]
    live, waste = (c.hit.article.id for c in cands)
    articles = [h.article for h in hits]
    assert live in off_subject(Q_HUGE, articles, 0.6)
    assert waste not in off_subject(Q_HUGE, articles, 0.6)
    assert live not in off_subject(Q_HUGE, articles, 0.0)


Reply = ScriptedGenerator


def test_a_model_refusal_gives_way_to_a_quote_holding_the_whole_question(small_index, hashing_embedder):
    q = "5月22日召开的柯城区十届政府常务会议是第几次常务会议？"
    gen = Reply("资料中没有相关信息。")
    a = ask(q, index=small_index, embedder=hashing_embedder, generator=gen)
    assert gen.calls == 1
    assert not a.refused and a.answerer == "extractive"
    assert "第6次" in a.citations[0].quote
    # 6月27日's meeting (第9次) also matches the question's words, but not its date
    assert len(a.citations) == 1


def test_a_model_refusal_of_a_near_miss_question_stands(small_index, hashing_embedder):
    # the article says 铜鼎 was won, and what a 银鼎 takes: the question's words are there, the answer is not
    gen = Reply("资料中没有相关信息。")
    a = ask("衢江区是哪一年获得“神农鼎·银鼎”的？", index=small_index, embedder=hashing_embedder, generator=gen)
    assert a.refused and not a.citations


def test_a_bare_quantity_in_another_notation_is_supported_by_value(small_index):
    idx = verify_index(small_index)
    c = next(c for c in idx.chunks if "七八千元" in c.text)
    hits = [Hit(c, idx.articles[c.article_id], 0.9, 1)]
    q = "How much does Chen Longxing earn per month on average?"
    g = ground("7,000-8,000元", hits, question=q)
    assert g.supported == 1 and "七八千元" in g.citations[0].quote
    assert ground("7,000-9,000元", hits, question=q).supported == 0  # 9000 is in no passage
    assert ground("7,000-8,000吨", hits, question=q).supported == 0  # nor 8000吨


def test_a_typed_quote_does_not_add_an_untyped_sentence(small_index, hashing_embedder, monkeypatch):
    import dataclasses

    from qa.api import get_pipeline

    p = get_pipeline(small_index, embedder=hashing_embedder)
    q = "陈龙兴平均一个月收入多少钱？"
    typed, scene = _cands(small_index, "平均一个月七八千元", "浙江恩派宠物用品有限公司内一派繁忙景象")
    scene = dataclasses.replace(scene, score=typed.score * 0.99)  # close enough to be quoted too
    monkeypatch.setattr(p.extractive, "candidates", lambda *a, **k: [typed, scene])
    hits = [typed.hit, scene.hit]
    qvec = p.retriever.embed(q)
    spanned = p.extractive.answer(q, qvec, hits)
    assert spanned.text == "七八千元[1]" and "七八千元" in spanned.citations[0].quote  # the typed span, its sentence cited
    # with whole sentences as answers (typed spans off) the second-sentence rule applies
    monkeypatch.setattr(p.extractive, "settings", dataclasses.replace(p.extractive.settings, typed_span=False))
    ex = p.extractive.answer(q, qvec, hits)
    two, refused = ex.citations, ex.refused
    assert not refused and len(two) == 2  # untyped: the close second sentence is quoted as well
    one = p.extractive.answer(q, qvec, hits, expected_type(q)).citations
    assert [c.quote for c in one] == [two[0].quote] and "七八千元" in one[0].quote


def test_a_second_quote_from_another_article_must_name_the_questions_date(small_index, hashing_embedder, monkeypatch):
    import dataclasses

    from qa.api import get_pipeline

    p = get_pipeline(small_index, embedder=hashing_embedder)
    q = "1月12日居亚平来柯城视察时，陪同的区长是谁？"
    scene, mayor, other = _cands(small_index, "市人大常委会原主任居亚平一行来我区视察", "区长蒋国强", "胡益峰主持召开区十届政府第9次常务会议")
    assert scene.hit.article.id == mayor.hit.article.id != other.hit.article.id
    close = lambda c: dataclasses.replace(c, score=scene.score * 0.99)  # noqa: E731
    qvec = p.retriever.embed(q)
    for second, quoted in ((mayor, 2), (other, 1)):
        monkeypatch.setattr(p.extractive, "candidates", lambda *a, s=second, **k: [scene, close(s)])
        ex = p.extractive.answer(q, qvec, [scene.hit, second.hit])
        cites, refused = ex.citations, ex.refused
        assert not refused and len(cites) == quoted, second.text


class _Directed:
    """An embedder whose passage cosines are set by the test: 1.0 for sentences holding ``top``, ``other`` for the rest."""

    def __init__(self, top: str, other: float) -> None:
        self.top, self.other = top, other

    def embed_passages(self, texts):
        import numpy as np

        rest = [self.other, (1 - self.other**2) ** 0.5]
        return np.array([[1.0, 0.0] if self.top in t else rest for t in texts], dtype=np.float32)

    def embed_queries(self, texts):
        import numpy as np

        return np.array([[1.0, 0.0]] * len(texts), dtype=np.float32)


@pytest.mark.parametrize("other, cited", [(0.8, "30来分钟"), (0.5, None)])
def test_a_number_is_cited_from_the_sentence_stating_it_or_not_at_all(small_index, other, cited):
    idx = verify_index(small_index)
    c = next(c for c in idx.chunks if "30来分钟" in c.text and "半个多小时" in c.text)
    hits = [Hit(c, idx.articles[c.article_id], 0.9, 1)]
    q = "After Ms. Yao reported a broken stairwell light, how soon did the electrician arrive?"
    # the wording matches the 半个多小时 sentence best; "30" is only in another sentence
    g = ground("The electrician arrived in 30 minutes.", hits, embedder=_Directed("半个多小时", other), question=q)
    if cited is None:
        assert g.supported == 0  # no sentence that half-supports the wording states 30
    else:
        assert g.supported == 1 and cited in g.citations[0].quote and "半个多小时" not in g.citations[0].quote


def test_english_question_sentences_are_scored_with_their_chinese_terms(small_index, hashing_embedder):
    from qa.api import get_pipeline

    p = get_pipeline(small_index, embedder=hashing_embedder)
    q = "How many households live in Liuban Village?"
    hits = p.retriever.retrieve(q, 5)
    dq = q + " 刘坂村 村民 户"  # what Retriever.dense_query appends, spelt out
    plain = p.extractive.candidates(q, p.retriever.embed(q), hits, True)
    expanded = p.extractive.candidates(dq, p.retriever.embed(dq), hits, True)
    assert max(c.lexical for c in plain) == 0.0  # English words are in no Chinese sentence
    top = max(expanded, key=lambda c: c.lexical)
    assert top.lexical > 0 and "刘坂村" in top.text


def test_an_english_question_is_kept_on_subject_by_its_chinese_terms(small_index):
    cands = _cands(small_index, "共吸引60多家企业入驻", "浙江虎哥环境有限公司合作")
    en = "Which company did Kecheng team up with to pilot doorstep recycling in villages?"
    expanded = en + " 柯城 上门回收 回收 试点 村 企业 公司"  # what Retriever.dense_query appends
    kept = on_subject(cands, expanded, 0.6)
    assert [c.hit.article.id for c in kept] == [cands[1].hit.article.id]
    groups = context_sentences(cands, 3, 400, en, min_subject=0.6, subject=expanded)
    assert "60多家企业" not in "".join(c.text for g in groups for c in g)


def test_a_bare_english_quantity_is_supported_by_the_sentence_stating_its_number(small_index):
    idx = verify_index(small_index)
    c = next(c for c in idx.chunks if "49亩抛荒地" in c.text)
    hits = [Hit(c, idx.articles[c.article_id], 0.9, 1)]
    q = "How many mu of abandoned land did the land reclamation project turn into farmland?"
    far = _Directed("no sentence holds this", 0.3)  # cosines far below the bar for every sentence
    g = ground("49 mu", hits, embedder=far, question=q)
    assert g.supported == 1 and "49亩" in g.citations[0].quote
    assert ground("48 mu", hits, embedder=far, question=q).supported == 0
    # a full English sentence still needs its wording supported
    assert ground("The project turned 49 mu of land into a football stadium.", hits, embedder=far, question=q).supported == 0


def test_an_off_subject_quote_is_left_out_of_the_fallback_answer(small_index, hashing_embedder, monkeypatch):
    from qa.api import get_pipeline
    from qa.answer.extractive import Extract
    from qa.types import Citation

    p = get_pipeline(small_index, embedder=hashing_embedder)
    live, waste = _cands(small_index, "共吸引60多家企业入驻", "浙江虎哥环境有限公司合作")

    def cite(n, c):
        a, (s, e) = c.hit.article, c.body_span
        return Citation(n, a.id, a.title, a.date, a.source, a.body[s:e], s, e, *a.raw_offsets(s, e), a.paper)

    cites = (cite(1, waste), cite(2, live))
    text = "".join(f"{c.quote}[{c.n}]" for c in cites)
    diag = {"top_score": 0.95, "best_lexical": 0.5, "missing_numbers": 0.0}
    monkeypatch.setattr(p.extractive, "answer", lambda *a, **k: Extract(text, cites, False, diag))
    monkeypatch.setattr(p.retriever, "retrieve", lambda *a, **k: [waste.hit, live.hit])
    a = ask(Q_HUGE, index=small_index, embedder=hashing_embedder, generator=Reply("柯城与一家外地企业联手。"))
    assert a.answerer == "extractive" and not a.refused
    assert [c.quote for c in a.citations] == [cites[0].quote] and a.citations[0].n == 1
    assert a.text == f"{cites[0].quote}[1]"
    # with only the off-subject quote left to offer, it is a refusal
    monkeypatch.setattr(p.extractive, "answer", lambda *a, **k: Extract(f"{cites[1].quote}[1]", (cite(1, live),), False, diag))
    b = ask(Q_HUGE, index=small_index, embedder=hashing_embedder, generator=Reply("柯城与一家外地企业联手。"))
    assert b.refused and not b.citations
