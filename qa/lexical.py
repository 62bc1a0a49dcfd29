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

Files in a generation folder (``bm25s``'s own format: ``.npy`` arrays written with
``allow_pickle=False`` and JSON; no pickle) are listed in ``LEXICAL_FILES`` and
hashed into the manifest with the rest of the index.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .text import normalize

log = logging.getLogger(__name__)

TOKENIZERS = ("jieba", "bigram", "both")
DEFAULT_TOKENIZER = "both"

# bm25s file names inside the generation folder
_NAMES = {
    "data_name": "bm25.data.npy",
    "indices_name": "bm25.indices.npy",
    "indptr_name": "bm25.indptr.npy",
    "vocab_name": "bm25.vocab.json",
    "params_name": "bm25.params.json",
}
LEXICAL_FILES = tuple(_NAMES.values())

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# a run of Chinese characters, or a number (decimals and thousands kept whole), or a Latin word
_RUN = re.compile(rf"([{_CJK}]+)|(\d+(?:[.,]\d+)*%?)|([a-z]+(?:'[a-z]+)?)")
# Question and function words: they say what kind of answer is wanted, not where it is.
# Removed from queries only (documents keep every token; a query simply never asks for these).
_QUERY_STOP = sorted(
    "请问 为什么 为何 怎么样 怎么 怎样 如何 什么 多少 哪些 哪个 哪里 哪儿 哪天 哪年 哪位 哪家 哪 谁 是否 几 吗 呢 吧 "
    "是 的 了 在 和 与 及 被 把 都 也 就 还 又 从 到 这 那 其 之 一共 分别 主要 目前".split(),
    key=len,
    reverse=True,
)
_QUERY_STOP_RE = re.compile("|".join(map(re.escape, _QUERY_STOP)))
_EN_STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been has have had do does did "
    "what which who whom whose when where why how many much this that these those it its as into".split()
)

_jieba = None


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


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokenize(text: str, mode: str = DEFAULT_TOKENIZER, query: bool = False) -> list[str]:
    """Tokens of ``text`` for BM25.

    Args:
        text: a passage or a question, in any width, script or case.
        mode: ``"bigram"``, ``"jieba"`` or ``"both"``.
        query: drop question and function words (多少, 什么, how, the …).

    Returns:
        Tokens, in text order, duplicates kept (BM25 counts term frequency).
    """
    if mode not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {mode!r}")
    t = normalize(text).lower()
    if query:
        t = _QUERY_STOP_RE.sub(" ", t)
    out: list[str] = []
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


class LexicalIndex:
    """A BM25 index over the chunks of one generation (row i = chunk id i)."""

    def __init__(self, bm25, tokenizer: str, size: int) -> None:
        self.bm25 = bm25
        self.tokenizer = tokenizer
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], tokenizer: str = DEFAULT_TOKENIZER, k1: float = 1.5, b: float = 0.75) -> "LexicalIndex":
        """Index ``texts`` (what each chunk is found by: its article's title and its text)."""
        bm25s = _bm25s()
        tokens = [tokenize(t, tokenizer) or [""] for t in texts]
        bm = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm.index(tokens, show_progress=False)
        return cls(bm, tokenizer, len(texts))

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), allow_pickle=False, show_progress=False, **_NAMES)

    @classmethod
    def load(cls, folder: Path, tokenizer: str, size: int) -> "LexicalIndex":
        bm = _bm25s().BM25.load(str(folder), allow_pickle=False, mmap=False, load_corpus=False, **_NAMES)
        return cls(bm, tokenizer, size)

    @property
    def params(self) -> dict:
        return {"k1": self.bm25.k1, "b": self.bm25.b, "method": self.bm25.method}

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every chunk for the question (zeros when no question token is in the vocabulary)."""
        ids = self.bm25.get_tokens_ids(tokenize(question, self.tokenizer, query=True))
        ids = [i for i in ids if i != self.bm25.vocab_dict.get("")]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

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
