"""Dictionary translation of English questions for BM25 (qa.crosslingual)."""

from __future__ import annotations

from qa import crosslingual as C
from qa.lexical import LexicalIndex

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
