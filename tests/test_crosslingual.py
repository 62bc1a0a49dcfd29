"""English questions over Chinese text (qa.lexical.crosslingual): dictionary and glossary translation, names spelt back into Chinese."""

from __future__ import annotations

import pytest

from qa.lexical import crosslingual as C
from qa.lexical.bm25 import LexicalIndex

LEX = {
    "reservoir": ("水库", "蓄水池"),
    "small reservoir": ("小型水库",),
    "household": ("住户", "人家"),
    "village": ("村",),
    "thing": tuple("一二三四五六七"),
}


def test_longest_phrase_wins_and_plurals_are_stemmed():
    terms = C.translate_terms("How many small reservoirs were reinforced?", lambda w: True, LEX)
    assert terms == ["小型水库"]
    assert C.translate_terms("Which reservoirs?", lambda w: True, LEX) == ["水库", "蓄水池"]
    assert C.translate_terms("villages and households", lambda w: True, LEX) == ["村", "住户", "人家"]


def test_only_headwords_in_the_corpus_and_not_too_ambiguous():
    assert C.translate_terms("the reservoir", lambda w: w == "水库", LEX) == ["水库"]
    assert C.translate_terms("many things", lambda w: True, LEX) == []  # 7 senses > MAX_SENSES
    assert C.translate_terms("What is the weather?", lambda w: True, LEX) == []


def test_real_dictionary_has_news_words():
    lex = C.lexicon()
    assert len(lex) > 50_000
    assert "水库" in lex["reservoir"]
    assert "投资" in lex["investment"]


def test_english_question_finds_chinese_passage_by_translation():
    texts = ["衢江区完成4座小型水库的除险加固。", "柯城区新建了三个公园。", "今年全区投资总额增长。"]
    lx = LexicalIndex.build(texts)
    hits = lx.search("How many small reservoirs were reinforced?", 3)
    assert hits and hits[0][0] == 0
    # without a Chinese word in the question nothing else could have matched it
    assert lx.search("How many parks were built?", 3)[0][0] == 1


# --- the glossary, phrase groups, and names spelt back into Chinese ----------------------------

def test_glossary_replaces_the_dictionary_for_news_terms():
    from qa.lexical.glossary import GLOSSARY

    lex = C.lexicon()
    assert lex["company"][0] == "公司" and "连队" not in lex["company"]  # not an army company
    assert lex["party secretary"] == ("书记", "党委书记")
    assert lex[C.phrase_key("owners' committee")][0] == "业委会"
    assert "水库" in lex["reservoir"] and "小型水库" in lex["small reservoir"]
    for phrase, senses in GLOSSARY.items():
        assert phrase == phrase.lower() and 1 <= len(C.phrase_key(phrase).split()) <= C.MAX_PHRASE, phrase
        assert senses and all(s.strip() == s and s for s in senses), phrase


def test_translate_groups_keeps_each_phrase_with_its_senses():
    groups = C.translate_groups("Which reservoirs and small reservoirs in the village?", lambda w: True, LEX)
    assert groups == [("reservoirs", ("水库", "蓄水池")), ("small reservoirs", ("小型水库",)), ("village", ("村",))]
    assert C.translate_terms("Which reservoirs and small reservoirs in the village?", lambda w: True, LEX) == [
        "水库", "蓄水池", "小型水库", "村"]
    # a phrasal verb ending in a particle is looked up; the particle alone never is
    lex = {"set up": ("成立",), "up": ("上",)}
    assert C.translate_groups("When was it set up?", lambda w: True, lex) == [("set up", ("成立",))]
    assert C.translate_groups("Look up", lambda w: True, lex) == []


def test_reads_as_any_reading_of_each_character():
    assert C.reads_as("刘坂", ["liu", "ban"])
    assert C.reads_as("长安", ["chang", "an"]) and C.reads_as("长安", ["zhang", "an"])  # 长 has two readings
    assert C.reads_as("吕", ["lv"]) and C.reads_as("吕", ["lu"])  # ü written v or u
    assert not C.reads_as("刘坂", ["liu"]) and not C.reads_as("刘坂", ["liu", "bang"])


DF = {"上祝": 2, "商主": 5, "祝村": 2, "刘坂": 6, "柳板": 1, "中央": 9, "央徐": 3, "衢江": 40, "区将": 1, "徐旭": 4}


def test_name_forms_spell_names_from_the_index_words():
    words = C.index_words(DF)
    known = DF.__contains__
    assert C.name_forms(["liu", "ban"], words) == ["刘坂"]  # 柳板 reads the same but is 6× rarer
    assert C.name_forms(["qu", "jiang"], words) == ["衢江"]
    # "Shangzhu Village": the spelling the index shows before 村 wins over a more frequent homophone
    assert C.name_forms(["shang", "zhu"], words) == ["商主", "上祝"]
    assert C.name_forms(["shang", "zhu"], words, suffixes=["村"], known=known) == ["上祝"]
    # a three-syllable name no word spells is chained from its bigrams
    assert C.name_forms(["zhong", "yang", "xu"], words) == ["中央徐"]
    assert C.name_forms(["xu"], words) == [] and C.name_forms(["wang", "fang"], words) == []


def test_english_terms_from_a_lexical_index():
    from qa.lexical.bm25 import LexicalIndex

    texts = ["华墅乡刘坂村共有村民470余户。", "衢江区完成4座小型水库的除险加固。", "安仁水库位于高家镇中央徐村。"]
    lx = LexicalIndex.build(texts)
    en = lx.english_terms("How many small reservoirs did Qujiang District reinforce?")
    assert ("qujiang", ("衢江",)) in en.names
    assert dict(en.phrases)["small reservoirs"] == ("小型水库",)
    assert en.terms()[0] == "衢江"  # names first
    names = dict(lx.english_terms("Where is Anren Reservoir in Zhongyangxu Village?").names)
    assert names["anren"] == ("安仁",) and names["zhongyangxu"] == ("中央徐",)
    assert lx.english_terms("How is the weather?") == C.EnglishTerms()


def test_english_dense_query_carries_chinese_terms_but_hits_report_the_questions_cosine(small_index):
    import dataclasses

    from embeddings.encoder import HashingEmbedder
    from qa.api import get_pipeline
    from qa.text import normalize

    r = get_pipeline(small_index, embedder=HashingEmbedder(dim=256)).retriever
    q = normalize("How many households live in Liuban Village, Kecheng District?")
    dq = r.dense_query(q)
    assert dq.startswith(q) and "刘坂" in dq and "柯城" in dq
    qv = r.embed(q)
    hits = r.retrieve(q, 5, query_vec=qv)
    assert any("刘坂" in h.chunk.text for h in hits)
    # the answerer's thresholds read the question's own cosine, not the expanded query's
    own = r.index.cosines(qv, [h.chunk.id for h in hits])
    assert [h.score for h in hits] == pytest.approx(own, abs=1e-5)
    base = r.settings
    try:
        r.settings = dataclasses.replace(base, english_dense_terms=False)
        plain = r.retrieve(q, 5, query_vec=qv, retriever="dense")
    finally:
        r.settings = base
    expanded = r.retrieve(q, 5, query_vec=qv, retriever="dense")
    assert [h.score for h in plain] == sorted((h.score for h in plain), reverse=True)  # unexpanded: ranked by own cosine
    assert sum("刘坂" in h.chunk.text for h in expanded) >= sum("刘坂" in h.chunk.text for h in plain)
