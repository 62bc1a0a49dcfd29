"""Lexical retrieval: BM25 (``bm25s``) over Chinese-aware tokens, stored beside the FAISS vectors.

Chinese has no spaces between words, so a whitespace tokenizer (what most BM25
set-ups use by default) sees a whole sentence as one token and matches nothing.
Here a text is first put in its retrieval form (``qa.text.normalize``: invisible
marks removed, NFKC, traditional → simplified), lower-cased, and then cut into:

- ``bigram``: overlapping character bigrams of every run of Chinese characters (a
  lone character stays a unigram), plus whole Latin words and numbers
  (``19268.15``, ``2024``);
- ``jieba``: jieba's search-mode words (``蒋国强``, ``人大常委会`` and its parts);
- ``both``: the two bags side by side, bigrams in their own namespace (``b:``) so a
  two-character jieba word and the same bigram count as two pieces of evidence.

The default was chosen on eval/gold.jsonl (see eval/RETRIEVAL.md): ``both``.

With ``pinyin=True`` (the default for new indexes, recorded in the manifest) every run
of Chinese characters also yields toneless pinyin syllable bigrams (``p:liu_ban`` for
刘坂), and a question's capitalised Latin words that spell pinyin (``Liuban Village``,
``Zheng Caisheng``) yield the same bigrams. An English question names places and
people in pinyin; this is the one lexical bridge it has to the Chinese text.

Files in a generation folder (``bm25s``'s ``.npy`` arrays written with ``allow_pickle=False``
and memory-mapped when loaded, its JSON parameters, and the vocabulary as a SQLite table read
per token, since at a million chunks it holds millions of tokens; no pickle) are listed in
``LEXICAL_FILES`` and hashed into the manifest with the rest of the index.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Sequence

import numpy as np

from qa.errors import IndexCorruptError
from qa.lexical import crosslingual
from qa.text import QUESTION_STOPWORDS, is_mostly_latin, normalize, stopword_pattern

log = logging.getLogger(__name__)

TOKENIZERS = ("jieba", "bigram", "both")
DEFAULT_TOKENIZER = "both"

# bm25s file names inside the generation folder
_NAMES = {
    "data_name": "bm25.data.npy",
    "indices_name": "bm25.indices.npy",
    "indptr_name": "bm25.indptr.npy",
    "params_name": "bm25.params.json",
}
_BM25S_VOCAB = "bm25.vocab.json"  # what bm25s writes; turned into VOCAB_FILE by ``save``
VOCAB_FILE = "bm25.vocab.sqlite"
LEXICAL_FILES = (*_NAMES.values(), VOCAB_FILE)
# pinyin bigrams in more chunks than this share are too common to point anywhere (see LexicalIndex.scores)
PINYIN_MAX_DF = 0.1

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# a run of Chinese characters, or a number (decimals and thousands kept whole), or a Latin word
_RUN = re.compile(rf"([{_CJK}]+)|(\d+(?:[.,]\d+)*%?)|([a-z]+(?:'[a-z]+)?)")
# Question and function words: they say what kind of answer is wanted, not where it is.
# Removed from queries only (documents keep every token; a query simply never asks for these).
_QUERY_STOP_RE = stopword_pattern(QUESTION_STOPWORDS | {"哪位", "哪家"})
_EN_STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been has have had do does did "
    "what which who whom whose when where why how many much this that these those it its as into".split()
)

_ALL_CJK = re.compile(f"[{_CJK}]+")

_jieba = None
_pinyin = None

# Toneless pinyin syllables (pypinyin's readings of its whole dictionary, ü written v),
# for splitting a romanised name such as "Zhongyangxu" into zhong·yang·xu.
_SYLLABLES = frozenset("""
a ai an ang ao ba bai ban bang bao bei ben beng bi bian biang biao bie bin bing bo bong bu ca cai can cang cao ce cei cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de den deng di dian diao die din ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen feng fiao fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang hui hun huo ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke ken keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei leng li lia lian liang liao lie lin ling liu lo long lou lu luan lun luo lv lve ma mai man mang mao me mei men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei nen neng ni nian niang niao nie nin ning niu nong nou nu nuan nun nuo nv nve o ou pa pai pan pang pao pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao she shen sheng shi shou shu shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao te teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo wong wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo
""".split())
_MAX_SYL = max(map(len, _SYLLABLES))
# a run of capitalised Latin words (possibly with 's), e.g. "Liuban", "Zheng Caisheng"
_CAPS = re.compile(r"[A-Z][a-z]+(?:'s)?(?:[ \t-]+[A-Z][a-z]+(?:'s)?)*")


def split_pinyin(word: str) -> list[str] | None:
    """A lower-case word as the fewest pinyin syllables (``kecheng`` → ke, cheng), or None."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + _MAX_SYL) + 1):
            if word[i:j] in _SYLLABLES and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                best[j] = best[i] + [word[i:j]]
    return best[n]


@functools.lru_cache(maxsize=65536)
def _pinyin_run(run: str) -> tuple[str, ...]:
    global _pinyin
    if _pinyin is None:
        from pypinyin import lazy_pinyin

        _pinyin = lazy_pinyin
    return tuple(p.replace("ü", "v") for p in _pinyin(run))


def _pinyin_of(run: str) -> list[str]:
    """Toneless pinyin syllables of a run of Chinese characters.

    Memoized per run: a chunk repeats its article's title and overlaps its neighbours,
    so a build converts the same runs again and again (pypinyin is pure Python). A
    run's reading depends only on the run, so the cache never changes a token.
    """
    return list(_pinyin_run(run))


def _syllable_bigrams(syls: Sequence[str]) -> list[str]:
    return [f"p:{a}_{b}" for a, b in zip(syls, syls[1:])]


def name_syllables(text: str) -> list[list[list[str]]]:
    """The romanised names of a question: each name as the syllables of its words.

    A name is a run of capitalised words that all spell pinyin ("Zheng Caisheng" →
    ``[["zheng"], ["cai", "sheng"]]``); an English word ends it, and so does a
    possessive ("Kecheng's Xu Xu" is two names).
    """
    return [name for name, _end in name_spans(text)]


def name_spans(text: str) -> list[tuple[list[list[str]], int]]:
    """``name_syllables`` with the offset where each name ends in ``text``."""
    out: list[tuple[list[list[str]], int]] = []
    for m in _CAPS.finditer(text):
        name: list[list[str]] = []
        end = m.start()
        for w in re.finditer(r"[^ \t-]+", m.group()):
            word = w.group()
            possessive = word.endswith("'s")
            parts = split_pinyin(word.lower().removesuffix("'s"))
            if parts is None:  # an English word ends the name
                if name:
                    out.append((name, end))
                name = []
                continue
            name.append(parts)
            end = m.start() + w.end()
            if possessive:
                out.append((name, end))
                name = []
        if name:
            out.append((name, end))
    return out


def pinyin_query_tokens(text: str) -> list[str]:
    """Pinyin bigrams of the capitalised romanised names in a question (English words never split into pinyin)."""
    out: list[str] = []
    for name in name_syllables(text):
        out.extend(_syllable_bigrams([s for word in name for s in word]))
    return out


def _bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its logger to DEBUG on import
    return bm25s


def _jieba_cut(text: str) -> list[str]:
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return _jieba.lcut_for_search(text)


def _jieba_precise(text: str) -> list[str]:
    """jieba's precise-mode words (one segmentation, no overlapping sub-words)."""
    _jieba_cut("")
    return _jieba.lcut(text)


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokenize(text: str, mode: str = DEFAULT_TOKENIZER, query: bool = False, pinyin: bool = False) -> list[str]:
    """Tokens of ``text`` for BM25.

    Args:
        text: a passage or a question, in any width, script or case.
        mode: ``"bigram"``, ``"jieba"`` or ``"both"``.
        query: drop question and function words (多少, 什么, how, the …).
        pinyin: add pinyin syllable bigrams: of every Chinese run in a passage, of the
            capitalised romanised names in a question.

    Returns:
        Tokens, in text order, duplicates kept (BM25 counts term frequency).
    """
    if mode not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {mode!r}")
    cased = normalize(text)
    t = cased.lower()
    if query:
        t = _QUERY_STOP_RE.sub(" ", t)
    out: list[str] = []
    if pinyin:
        if query:
            out.extend(pinyin_query_tokens(cased))
        else:
            for m in re.finditer(f"[{_CJK}]+", t):
                out.extend(_syllable_bigrams(_pinyin_of(m.group())))
    if mode in ("bigram", "both"):
        prefix = "b:" if mode == "both" else ""
        for m in _RUN.finditer(t):
            cjk, num, word = m.groups()
            if cjk:
                out.extend(prefix + g for g in _bigrams(cjk))
            elif mode == "bigram":  # in "both", jieba supplies numbers and words
                tok = num or word
                if not (query and tok in _EN_STOP):
                    out.append(tok)
    if mode in ("jieba", "both"):
        for w in _jieba_cut(t):
            w = w.strip()
            if not w or not any(ch.isalnum() for ch in w):
                continue  # spaces and punctuation
            if query and w in _EN_STOP:
                continue
            out.append(w)
    return out


def write_vocab(path: Path, vocab: Mapping[str, int]) -> None:
    """Write a token → column map as a SQLite table (rows in token order, so equal maps give equal files)."""
    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE vocab (token TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID")
        con.execute("BEGIN")
        con.executemany("INSERT INTO vocab VALUES (?,?)", sorted(vocab.items()))
        con.execute("COMMIT")
    finally:
        con.close()


class SqliteVocab(Mapping[str, int]):
    """A BM25 vocabulary read from its SQLite file per token instead of loaded whole (millions of tokens at scale).

    Stands in for bm25s's ``vocab_dict``; safe to share between threads.
    """

    def __init__(self, path: Path, cache_size: int = 65536) -> None:
        if not Path(path).is_file():
            raise IndexCorruptError(f"{path} is missing")
        self.path = Path(path)
        self._con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._cache: dict[str, int | None] = {}
        self._cache_size = cache_size
        self._len: int | None = None

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._con.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"{self.path}: cannot read the vocabulary ({e})") from None

    def get(self, token, default=None):  # type: ignore[override]
        if token in self._cache:
            hit = self._cache[token]
        else:
            rows = self._query("SELECT id FROM vocab WHERE token = ?", (token,))
            hit = int(rows[0][0]) if rows else None
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[token] = hit
        return default if hit is None else hit

    def __getitem__(self, token: str) -> int:
        hit = self.get(token)
        if hit is None:
            raise KeyError(token)
        return hit

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.get(token) is not None

    def __len__(self) -> int:
        if self._len is None:
            self._len = int(self._query("SELECT count(*) FROM vocab")[0][0])
        return self._len

    def __iter__(self) -> Iterator[str]:
        return (t for t, _ in self._rows())

    def items(self):  # type: ignore[override]
        """Every (token, column), streamed in token order (for the rare full pass: English questions' word list)."""
        return self._rows()

    def _rows(self) -> Iterator[tuple[str, int]]:
        rows = self._query("SELECT token, id FROM vocab ORDER BY token LIMIT 5000")
        while rows:
            yield from rows
            rows = self._query("SELECT token, id FROM vocab WHERE token > ? ORDER BY token LIMIT 5000", (rows[-1][0],))


class LexicalIndex:
    """A BM25 index over the chunks of one generation (row i = chunk id i)."""

    def __init__(self, bm25, tokenizer: str, size: int, pinyin: bool = False) -> None:
        self.bm25 = bm25
        self.tokenizer = tokenizer
        self.size = size
        self.pinyin = pinyin
        self._known_fn = None
        self._words: dict[tuple[int, str], list[tuple[str, int]]] | None = None
        self._english: dict[str, crosslingual.EnglishTerms] = {}
        self._docs: dict[str, np.ndarray | None] = {}

    @classmethod
    def build(cls, texts: Sequence[str], tokenizer: str = DEFAULT_TOKENIZER, k1: float = 1.5, b: float = 0.75,
              pinyin: bool = True) -> "LexicalIndex":
        """Index ``texts`` (what each chunk is found by: its article's title and its text)."""
        bm25s = _bm25s()
        tokens = [tokenize(t, tokenizer, pinyin=pinyin) or [""] for t in texts]
        bm = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm.index(tokens, show_progress=False)
        return cls(bm, tokenizer, len(texts), pinyin)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        self.bm25.save(str(folder), allow_pickle=False, show_progress=False, vocab_name=_BM25S_VOCAB, **_NAMES)
        write_vocab(folder / VOCAB_FILE, self.bm25.vocab_dict)
        (folder / _BM25S_VOCAB).unlink()

    @classmethod
    def load(cls, folder: Path, tokenizer: str, size: int, pinyin: bool = False) -> "LexicalIndex":
        """Open a saved index: the score arrays memory-mapped, the vocabulary read from SQLite per token."""
        bm = _bm25s().BM25.load(str(folder), allow_pickle=False, mmap=True, load_corpus=False, load_vocab=False,
                                vocab_name=_BM25S_VOCAB, **_NAMES)
        bm.vocab_dict = SqliteVocab(Path(folder) / VOCAB_FILE)
        return cls(bm, tokenizer, size, pinyin)

    @property
    def params(self) -> dict:
        return {"k1": self.bm25.k1, "b": self.bm25.b, "method": self.bm25.method, "pinyin": self.pinyin}

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every chunk for the question (zeros when no question token is in the vocabulary).

        A pinyin bigram found in more than ``PINYIN_MAX_DF`` of the chunks (and in more
        than 3, so a tiny index keeps its names) is dropped:
        the district a whole paper covers (Qujiang, Kecheng: a quarter to a third of
        the seed chunks) points nowhere, and alone it would rank chunks by how often
        they name it. Rare names (Liuban, Anren: under 7 %) are what pinyin is for.

        An English question is scored on its own tokens (numbers, pinyin names, any
        Chinese it quotes) plus the tokens of its dictionary translations
        (``english_terms``), each translated phrase weighing as much as one term
        however many senses it has: an ambiguous phrase ("village": 村, 乡村) must
        not outweigh a precise one, nor the name that says where to look.
        """
        weighted = [(t, 1.0) for t in tokenize(question, self.tokenizer, query=True, pinyin=self.pinyin)]
        if is_mostly_latin(question):
            for _phrase, senses in self.english_terms(question).phrases:
                w = 1.0 / len(senses)
                for sense in senses:
                    weighted.extend((t, w) for t in tokenize(sense, self.tokenizer))
        ids, weights = [], []
        indptr = self.bm25.scores["indptr"]
        for t, w in weighted:
            i = self.bm25.vocab_dict.get(t)
            if i is None or t == "":
                continue
            if t.startswith("p:") and (indptr[i + 1] - indptr[i]) > max(PINYIN_MAX_DF * self.size, 3):
                continue
            ids.append(i)
            weights.append(w)
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return self._weighted_scores(ids, weights)

    def _weighted_scores(self, ids: Sequence[int], weights: Sequence[float]) -> np.ndarray:
        """Σ weight × BM25 contribution of each token id (a repeated id counts each time, as in bm25s)."""
        sc = self.bm25.scores
        data, indices, indptr = sc["data"], sc["indices"], sc["indptr"]
        out = np.zeros(self.size, dtype=np.float32)
        for i, w in zip(ids, weights):
            lo, hi = indptr[i], indptr[i + 1]
            np.add.at(out, indices[lo:hi], np.float32(w) * data[lo:hi])
        return out

    def english_terms(self, question: str) -> crosslingual.EnglishTerms:
        """The Chinese an English question points to in this index: its names spelt back, its phrases translated.

        A romanised name is spelt as a whole ("Zhongyangxu" → 中央徐), else word by
        word when it has several ("Qujiang Jinxiu" → 衢江, 锦绣); words of one syllable
        alone are never spelt (too many characters read "xu").
        """
        cached = self._english.get(question)
        if cached is not None:
            return cached
        words = self._chinese_words()
        known = self._known()
        text = normalize(question)
        names: list[tuple[str, tuple[str, ...]]] = []
        for name, end in name_spans(text):
            after = re.match(r"[\s,'’s]*([A-Za-z]+)", text[end:])
            suffixes = crosslingual.translate_terms(after.group(1), known) if after else []
            bigram = self._has_bigram if self.tokenizer != "jieba" else None
            flat = [s for w in name for s in w]
            forms = crosslingual.name_forms(flat, words, suffixes, known=bigram)
            if forms:
                names.append(("".join(flat), tuple(forms)))
                continue
            for w in name if len(name) > 1 else ():
                forms = crosslingual.name_forms(w, words, suffixes, known=bigram)
                if forms:
                    names.append(("".join(w), tuple(forms)))
        phrases = crosslingual.translate_groups(question, self._known())
        out = crosslingual.EnglishTerms(tuple(names), tuple(phrases))
        if len(self._english) > 256:
            self._english.clear()
        self._english[question] = out
        return out

    def _has_bigram(self, bigram: str) -> bool:
        return (("b:" if self.tokenizer == "both" else "") + bigram) in self.bm25.vocab_dict

    def _chinese_words(self) -> dict[tuple[int, str], list[tuple[str, int]]]:
        """The vocabulary's all-Chinese words and character bigrams with document frequencies (``crosslingual.index_words``)."""
        if self._words is None:
            indptr = self.bm25.scores["indptr"]
            df: dict[str, int] = {}
            for tok, i in self.bm25.vocab_dict.items():
                w = tok[2:] if tok.startswith("b:") else tok
                if tok.startswith("p:") or not w or not _ALL_CJK.fullmatch(w):
                    continue
                df[w] = max(df.get(w, 0), int(indptr[i + 1] - indptr[i]))
            self._words = crosslingual.index_words(df)
        return self._words

    def query_groups(self, question: str) -> list[tuple[str, ...]]:
        """The terms a passage should hold to answer the question, each a group of alternatives.

        A Chinese question gives its words (jieba, question words removed; single
        characters skipped, numbers kept). An English question gives its names' Chinese
        spellings, each translated phrase's senses, its numbers and any Chinese it quotes.
        """
        text = normalize(question)
        groups: list[tuple[str, ...]] = []
        latin = is_mostly_latin(question)
        if latin:
            groups.extend(self.english_terms(question).groups)
            cjk = " ".join(re.findall(f"[{_CJK}]+", text))
            nums = [m.group(2) for m in _RUN.finditer(text.lower()) if m.group(2)]
            groups.extend((n,) for n in nums)
            text = cjk
        for w in _jieba_precise(_QUERY_STOP_RE.sub(" ", text.lower())) if text else ():
            w = w.strip()
            if not w or not any(ch.isalnum() for ch in w) or w in _EN_STOP:
                continue
            if latin and not _ALL_CJK.fullmatch(w):
                continue
            if _ALL_CJK.fullmatch(w) and len(w) < 2:
                continue
            groups.append((w,))
        seen: set[tuple[str, ...]] = set()
        return [g for g in groups if not (g in seen or seen.add(g))]

    def _term_docs(self, term: str) -> np.ndarray | None:
        """Boolean mask of the chunks holding every token of ``term`` (its character bigrams, numbers and words); None if none can."""
        cached = self._docs.get(term)
        if cached is not None or term in self._docs:
            return cached
        if self.tokenizer == "jieba":
            toks = [t for t in tokenize(term, "jieba") if t]
        else:  # a lone character is a jieba word in "both" (bigrams never hold one)
            prefix = "b:" if self.tokenizer == "both" else ""
            toks = []
            for m in _RUN.finditer(normalize(term).lower()):
                cjk, num, word = m.groups()
                if cjk:
                    toks.extend([cjk] if len(cjk) == 1 else [prefix + g for g in _bigrams(cjk)])
                else:
                    toks.append(num or word)
        sc = self.bm25.scores
        mask: np.ndarray | None = None
        for t in dict.fromkeys(toks):
            i = self.bm25.vocab_dict.get(t)
            if i is None:
                mask = None
                break
            m = np.zeros(self.size, dtype=bool)
            m[sc["indices"][sc["indptr"][i] : sc["indptr"][i + 1]]] = True
            mask = m if mask is None else mask & m
            if not mask.any():
                break
        if len(self._docs) > 4096:
            self._docs.clear()
        self._docs[term] = mask
        return mask

    def coverage(self, question: str, ids: Sequence[int] | None = None) -> np.ndarray:
        """The share of the question's terms (``query_groups``) each chunk holds, in [0, 1].

        A group counts as held when any of its alternatives is; groups no chunk can hold
        (words outside the vocabulary) are left out of the share. Each group weighs its
        BM25 idf, so holding a rare name counts more than holding the district name
        every passage has.

        Args:
            question: the question.
            ids: chunk ids to score (default: every chunk).

        Returns:
            One share per chunk of ``ids`` (zeros when no term can be held).
        """
        total = np.zeros(self.size, dtype=np.float32)
        weight = 0.0
        for group in self.query_groups(question):
            held: np.ndarray | None = None
            for alt in group:
                m = self._term_docs(alt)
                if m is not None:
                    held = m if held is None else held | m
            if held is None:
                continue
            df = int(held.sum())
            w = float(np.log(1.0 + (self.size - df + 0.5) / (df + 0.5)))
            total += w * held
            weight += w
        out = total / weight if weight > 0 else total
        return out if ids is None else out[np.asarray(ids, dtype=np.int64)]

    def _known(self):
        if self._known_fn is None:
            self._known_fn = crosslingual.known_in(self.bm25.vocab_dict, lambda w: tokenize(w, self.tokenizer))
        return self._known_fn

    def search(self, question: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score), best first; chunks scoring 0 never come back.

        Args:
            question: the question.
            k: how many.
            allowed: optional boolean mask over chunk ids (filters).
        """
        s = self.scores(question)
        if allowed is not None:
            s = np.where(allowed, s, 0.0)
        k = max(0, min(int(k), int((s > 0).sum())))
        if k == 0:
            return []
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.lexsort((top, -s[top]))]  # score desc, then id asc: deterministic ties
        return [(int(i), float(s[i])) for i in top]
