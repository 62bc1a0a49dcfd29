"""The lexical side: Chinese-aware tokens, BM25 search on the seed pages, and its files under the manifest."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from embeddings.encoder import HashingEmbedder
from qa.errors import IndexCorruptError, IndexMismatchError
from qa.index.store import FILES, current_generation, verify_index
from qa.lexical.bm25 import LEXICAL_FILES, LexicalIndex, tokenize


# --- tokenizer on names and numbers from the seed pages ---------------------------------

def test_numbers_stay_whole_in_every_mode():
    for mode in ("bigram", "jieba", "both"):
        toks = tokenize("累计回收生活垃圾19268.15吨，实现碳减排20254.7吨", mode)
        assert "19268.15" in toks and "20254.7" in toks, mode
        assert "19268" not in toks and "15" not in toks, mode


def test_names_and_places():
    text = "区委副书记、区长蒋国强，柯城区华墅乡刘坂村共有村民470余户"
    jieba = tokenize(text, "jieba")
    assert "蒋国强" in jieba and "刘坂村" in jieba and "470" in jieba
    bigram = tokenize(text, "bigram")
    assert {"蒋国", "国强", "刘坂", "坂村", "470"} <= set(bigram)
    assert "蒋国强" not in bigram
    both = tokenize(text, "both")
    assert {"蒋国强", "刘坂村", "b:蒋国", "b:刘坂", "470"} <= set(both)  # bigrams in their own namespace


def test_query_drops_question_words_but_documents_keep_them():
    q = tokenize("柯城区华墅乡刘坂村共有村民多少户？", "bigram", query=True)
    assert "多少" not in q and "少户" not in q and "户" in q
    assert "多少" in tokenize("多少户", "bigram")
    en = tokenize("How many active users does Kecheng's 零废生活 have?", "both", query=True)
    assert "how" not in en and "many" not in en and "零废" in en and "active" in en


def test_lone_character_and_latin():
    assert tokenize("鸡", "bigram") == ["鸡"]
    assert tokenize("Hello, World 2024!", "bigram") == ["hello", "world", "2024"]
    assert tokenize("，。！？", "both") == []


def test_unknown_tokenizer_rejected():
    with pytest.raises(ValueError):
        tokenize("x", "whitespace")


# --- BM25 search --------------------------------------------------------------------------

def test_search_ranks_and_handles_empty_queries(tmp_path):
    texts = ["刘坂村共有村民470余户1600余人", "区长蒋国强陪同视察", "累计回收生活垃圾19268.15吨", "今日天气晴"]
    lex = LexicalIndex.build(texts, "both")
    assert lex.search("19268.15吨", 3)[0][0] == 2
    assert lex.search("蒋國強", 3)[0][0] == 1  # traditional in the query
    assert lex.search("刘坂村有多少户？", 3)[0][0] == 0
    assert lex.search("xyzzy", 3) == []  # nothing in the vocabulary
    assert lex.search("？？", 3) == []  # no tokens at all
    assert lex.search("刘坂村", 3, allowed=np.array([False, True, True, True])) == []
    lex.save(tmp_path)
    again = LexicalIndex.load(tmp_path, "both", len(texts))
    for q in ("19268.15", "蒋国强", "村民"):
        assert again.search(q, 4) == lex.search(q, 4)


@pytest.mark.parametrize("q,needle", [("累计回收生活垃圾19268.15吨", "19268.15"), ("区长蒋国强", "蒋国强"), ("刘坂村村民", "刘坂村")])
def test_lexical_retrieval_on_seed_index(small_index, q, needle):
    from qa import ask

    ans = ask(q, index=small_index, embedder=HashingEmbedder(dim=256), retriever="lexical")
    top = ans.hits[0]
    assert needle in top.article.title + top.chunk.text
    assert top.lexical_rank == 1 and top.dense_rank is None and top.lexical_score > 0
    assert -1.0 <= top.score <= 1.0  # the cosine is still reported


# --- files, manifest, format ----------------------------------------------------------------

@pytest.fixture
def index_copy(small_index, tmp_path):
    dst = tmp_path / "idx"
    shutil.copytree(small_index, dst)
    return dst


def test_lexical_files_are_in_the_manifest(small_index):
    gen = current_generation(small_index)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert set(LEXICAL_FILES) <= set(FILES) == set(m["files"])
    assert m["format_version"] == 3  # format 3: meta.sqlite replaced the JSONL metadata
    assert m["lexical"]["tokenizer"] in ("bigram", "jieba", "both")
    idx = verify_index(small_index)
    assert idx.lexical.size == idx.size == int(idx.lexical.bm25.scores["num_docs"])


def test_lexical_arrays_load_without_pickle(small_index):
    gen = current_generation(small_index)
    for name in LEXICAL_FILES:
        if name.endswith(".npy"):
            arr = np.load(gen / name, allow_pickle=False)
            assert arr.dtype != object
        elif name.endswith(".sqlite"):
            assert (gen / name).read_bytes()[:16] == b"SQLite format 3\x00"
        else:
            json.loads((gen / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", LEXICAL_FILES)
def test_damaged_lexical_file_is_detected(index_copy, name):
    gen = current_generation(index_copy)
    p = gen / name
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))
    with pytest.raises(IndexCorruptError, match=name):
        verify_index(index_copy)


def test_format_1_index_is_refused_with_the_rebuild_command(index_copy):
    gen = current_generation(index_copy)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    m["format_version"] = 1
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="rebuild with: newsqa index"):
        verify_index(index_copy)


def test_missing_lexical_section_is_corrupt(index_copy):
    gen = current_generation(index_copy)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    del m["lexical"]
    (gen / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="lexical"):
        verify_index(index_copy)


# --- pinyin: the lexical bridge for English questions ------------------------------------

def test_split_pinyin():
    from qa.lexical.bm25 import split_pinyin

    assert split_pinyin("kecheng") == ["ke", "cheng"]
    assert split_pinyin("zhongyangxu") == ["zhong", "yang", "xu"]
    assert split_pinyin("liuban") == ["liu", "ban"]
    for english in ("how", "village", "district", "reservoir", "since", "town"):
        assert split_pinyin(english) is None, english


def test_pinyin_query_tokens_come_from_capitalised_names_only():
    from qa.lexical.bm25 import pinyin_query_tokens

    assert pinyin_query_tokens("How many households live in Liuban Village, Huashu Township?") == ["p:liu_ban", "p:hua_shu"]
    assert pinyin_query_tokens("Did Zheng Caisheng earn it?") == ["p:zheng_cai", "p:cai_sheng"]
    assert pinyin_query_tokens("Kecheng's Xu Xu") == ["p:ke_cheng", "p:xu_xu"]  # a possessive ends a name
    assert pinyin_query_tokens("how many liuban households") == []  # lower case: not a name
    assert tokenize("刘坂村", "both", pinyin=True)[:2] == ["p:liu_ban", "p:ban_cun"]
    assert not any(t.startswith("p:") for t in tokenize("刘坂村", "both"))


def test_english_names_find_chinese_text():
    texts = ["刘坂村共有村民470余户1600余人", "区长蒋国强陪同视察", "安仁水库总库容109万方"]
    lex = LexicalIndex.build(texts, "both", pinyin=True)
    assert lex.search("How many households are in Liuban Village?", 3)[0][0] == 0
    assert lex.search("What is the capacity of Anren Reservoir?", 3)[0][0] == 2
    assert lex.search("Who is Jiang Guoqiang?", 3)[0][0] == 1
    plain = LexicalIndex.build(texts, "both", pinyin=False)
    assert plain.search("How many households are in Liuban Village?", 3) == []


def test_manifest_records_pinyin(small_index):
    idx = verify_index(small_index)
    assert idx.manifest["lexical"]["pinyin"] is True and idx.lexical.pinyin


def test_common_pinyin_names_point_nowhere():
    # 衢江 is in every passage (the district a paper covers): its pinyin is dropped from queries
    texts = ["衢江区召开会议", "衢江区刘坂村", "衢江区天气", "衢江安仁水库"] + [f"其他新闻{i}" for i in range(10)]
    lex = LexicalIndex.build(texts, "both", pinyin=True)
    assert lex.search("What happened in Qujiang?", 5) == []
    assert lex.search("Liuban Village in Qujiang", 5)[0][0] == 1


# --- query-term coverage and weighted English queries -----------------------------------------

COVER_TEXTS = [
    "华墅乡刘坂村共有村民470余户1600余人。",
    "刘坂村推行垃圾分类。",
    "柯城区新新街道下辖68个小区。",
    "今年柯城区完成4座小型水库的除险加固。",
    "柯城区召开会议。",
]


def test_coverage_counts_the_share_of_question_terms_a_passage_holds():
    lx = LexicalIndex.build(COVER_TEXTS)
    q = "华墅乡刘坂村共有村民多少户？"
    groups = lx.query_groups(q)
    assert ("刘坂村",) in groups and ("村民",) in groups
    assert not any("多少" in g for g in groups)  # question words are not terms
    cov = lx.coverage(q)
    assert cov.shape == (len(COVER_TEXTS),) and np.all((cov >= 0) & (cov <= 1))
    assert cov[0] == pytest.approx(1.0)  # holds every term
    assert 0 < cov[1] < cov[0] and cov[2] == 0 and cov[4] == 0
    assert lx.coverage(q, [1, 0]).tolist() == pytest.approx([cov[1], cov[0]])
    assert not lx.coverage("北京天气").any()  # no term is in the index


def test_coverage_weighs_rare_terms_more():
    lx = LexicalIndex.build(COVER_TEXTS)
    cov = lx.coverage("柯城区的小型水库")
    # 柯城区 is in three passages, 小型水库 in one: holding the rare one counts more
    assert cov[3] == pytest.approx(1.0) and 0 < cov[2] < 0.5 and cov[2] == pytest.approx(cov[4])


def test_coverage_of_an_english_question_uses_names_and_translations():
    lx = LexicalIndex.build(COVER_TEXTS)
    q = "How many small reservoirs did Kecheng reinforce?"
    groups = lx.query_groups(q)
    assert ("柯城",) in groups and ("小型水库",) in groups
    cov = lx.coverage(q)
    assert cov.argmax() == 3 and cov[3] == pytest.approx(1.0) and cov[0] == 0


def test_weighted_scores_match_bm25s_with_unit_weights():
    lx = LexicalIndex.build(COVER_TEXTS)
    ids = [lx.bm25.vocab_dict[t] for t in ("b:刘坂", "刘坂村", "b:水库", "b:水库")]
    np.testing.assert_allclose(lx._weighted_scores(ids, [1.0] * 4), lx.bm25.get_scores_from_ids(ids), rtol=1e-6)
    half = lx._weighted_scores(ids[:1], [0.5])
    np.testing.assert_allclose(half * 2, lx.bm25.get_scores_from_ids(ids[:1]), rtol=1e-6)


def test_an_ambiguous_phrase_weighs_as_one_term():
    """An English phrase with two in-index senses adds as much as one sense would, not twice as much."""
    texts = ["村民收入增长。", "家庭收入增长，住户增加。", "刘坂村的住户和家庭。"]
    lx = LexicalIndex.build(texts)
    senses = dict(lx.english_terms("households of Liuban").phrases)["households"]
    assert len(senses) >= 2
    s = lx.scores("households of Liuban")
    sense_ids = [lx.bm25.vocab_dict[t] for sense in senses for t in tokenize(sense, "both")]
    unit = lx.bm25.get_scores_from_ids(sense_ids)  # every sense at full weight
    assert s[1] == pytest.approx(unit[1] / len(senses), rel=1e-5)  # passage 1 holds both senses, no name
    assert s.argmax() == 2  # the name and the phrase together
