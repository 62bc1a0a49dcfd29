"""Extractive answers: pick the retrieved sentence(s) that answer the question, cite them, or refuse."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from qa.settings import AnswerSettings
from qa.text import QUESTION_STOPWORDS, is_mostly_latin, norm, sentences, stopword_pattern, strip_punct, text_grams
from qa.types import Article, Citation, Hit

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

# Question words and function words carry no evidence; 有/对/个 also say nothing here.
_STOP_RE = stopword_pattern(QUESTION_STOPWORDS | {"有", "对", "个"})
# Question words whose neighbours name what is asked (总投资 in 总投资多少, 户 in 多少户).
_WH = re.compile(r"多少|几|哪些|哪个|哪里|哪一|哪|谁|什么|怎么样|怎么|怎样|如何|为什么|为何|何时|多大|多宽|多长|多久|多高|多重|多远|多深")
_QNUM = re.compile(r"\d+(?:\.\d+)?")
_SPLIT_RE = re.compile(r"[\W_]+")
_NUMERIC_Q = re.compile(r"多少|几|how many|how much|number|比例|百分|面积|金额|人数|数量", re.I)
_WHEN_Q = re.compile(r"何时|什么时候|哪天|哪一天|几月|几号|日期|when|what date|which day", re.I)
_DATE = re.compile(r"\d{1,4}年|\d{1,2}月|\d{1,2}日")
_NUMBER = re.compile(r"\d|[一二三四五六七八九十百千万两]+[个名人户座次项家亩米元吨万]")

WHY_Q = re.compile(r"为什么|为何|什么原因|原因是|why", re.I)
# 为此/因此 … point back: the cause is the sentence before
BACK_REF = re.compile(r"^\W*(?:为此|因此|所以|因而|对此|鉴于此|针对这)")

W_FOCUS, W_NOVEL = 0.3, 0.5  # set on eval/gold.jsonl
REFUSAL_ZH = "资料中没有相关信息。"
REFUSAL_EN = "The archive has no information on this."


def question_grams(question: str) -> set[str]:
    """Character bigrams (and lone CJK characters / latin words) of the question's content words."""
    q = _STOP_RE.sub(" ", norm(question))
    grams: set[str] = set()
    for seg in _SPLIT_RE.split(q):
        if not seg:
            continue
        if seg.isascii():
            grams.add(seg)
            continue
        if len(seg) == 1:
            grams.add(seg)
        grams.update(seg[i : i + 2] for i in range(len(seg) - 1))
    return grams


def focus_grams(question: str) -> set[str]:
    """Grams next to the question word: what the question asks about.

    For 总投资多少 that is 总投资; for 多少户, 户; for 有多宽, 宽.
    """
    q = norm(question)
    out: set[str] = set()
    for m in _WH.finditer(q):
        if len(m.group()) == 2 and m.group()[0] == "多" and m.group() != "多少":
            out.add(m.group()[1])
        before = _STOP_RE.sub(" ", q[max(0, m.start() - 8) : m.start()])
        before = _SPLIT_RE.split(before)[-1][-3:]
        after = _STOP_RE.sub(" ", q[m.end() : m.end() + 6])
        after = _SPLIT_RE.split(after)[0][:3]
        for seg in (before, after):
            if len(seg) == 1:
                out.add(seg)
            out.update(seg[i : i + 2] for i in range(len(seg) - 1))
    return out


class LexicalStats:
    """Inverse document frequency of bigrams over the indexed articles (rare bigrams weigh more)."""

    def __init__(self, articles: Iterable[Article]) -> None:
        df: Counter[str] = Counter()
        n = 0
        for a in articles:
            n += 1
            df.update(text_grams(a.title + a.body))
        self.n = max(n, 1)
        self._count: Callable[[str], int] = lambda g: df.get(g, 0)

    @classmethod
    def stored(cls, n_articles: int, count: Callable[[str], int]) -> "LexicalStats":
        """Statistics counted when the index was built (``qa.index.meta.MetaStore.gram_count``), looked up per gram.

        Args:
            n_articles: how many articles were counted.
            count: how many of them hold a gram.
        """
        self = cls.__new__(cls)
        self.n = max(int(n_articles), 1)
        self._count = count
        return self

    def share(self, gram: str) -> float:
        """The share of the articles that hold ``gram`` (0..1)."""
        return self._count(gram) / self.n

    def idf(self, gram: str) -> float:
        return math.log(1 + self.n / (1 + self._count(gram)))

    def support(self, qgrams: set[str], text: str) -> float:
        """IDF-weighted share of the question's grams found in ``text`` (0..1)."""
        if not qgrams:
            return 0.0
        tg = text_grams(text)
        total = sum(self.idf(g) for g in qgrams)
        return sum(self.idf(g) for g in qgrams if g in tg) / total if total else 0.0


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    start: int  # offsets in the chunk text
    end: int
    lexical: float
    dense: float
    score: float
    focus: float = 1.0  # share of the question's focus grams found in the sentence

    @property
    def text(self) -> str:
        return self.hit.chunk.text[self.start : self.end]

    @property
    def body_span(self) -> tuple[int, int]:
        return self.hit.chunk.start + self.start, self.hit.chunk.start + self.end


class ExtractiveAnswerer:
    """Scores every sentence of the retrieved passages and answers with the best one(s)."""

    name = "extractive"

    def __init__(self, embedder: "Embedder", stats: LexicalStats, settings: AnswerSettings = AnswerSettings()) -> None:
        self.embedder = embedder
        self.stats = stats
        self.settings = settings
        self._vec_cache: dict[str, np.ndarray] = {}

    def _sentence_vecs(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vec_cache]
        if missing:
            for t, v in zip(missing, self.embedder.embed_passages(missing)):
                self._vec_cache[t] = v
            if len(self._vec_cache) > 50_000:
                self._vec_cache.clear()
        return np.vstack([self._vec_cache[t] for t in texts])

    def candidates(self, question: str, qvec: np.ndarray, hits: Sequence[Hit], latin: bool | None = None) -> list[Candidate]:
        """All sentences of the hits, scored and sorted best first.

        Lexical support weighs each question gram by its global IDF times a local IDF
        over the candidate sentences: the topic words every candidate shares (the
        bridge's name) count less than the words that single out the answer (总投资).

        Args:
            question, qvec, hits: the question (for an English one, with the Chinese
                terms its words point to appended: ``Retriever.dense_query``), its vector, the hits.
            latin: whether the question as asked is in a Latin script (default: judged from ``question``).
        """
        latin = is_mostly_latin(question) if latin is None else latin
        focus = focus_grams(question)
        qgrams = question_grams(question) | focus
        numeric = bool(_NUMERIC_Q.search(question))
        when = bool(_WHEN_Q.search(question))
        spans = []
        for h in hits:
            for s, e in sentences(h.chunk.text):
                if e - s >= 4:
                    spans.append((h, s, e))
        if not spans:
            return []
        texts = [h.chunk.text[s:e] for h, s, e in spans]
        sent_grams = [text_grams(t) for t in texts]
        n = len(texts)
        weight = {
            g: self.stats.idf(g) * math.log(1 + n / (1 + sum(g in sg for sg in sent_grams))) * (3.0 if g in focus else 1.0)
            for g in qgrams
        }
        total = sum(weight.values()) or 1.0
        qall = text_grams(question)
        if latin or self.settings.sentence_vectors:
            dense = self._sentence_vecs(texts) @ qvec
        else:  # the passage's cosine stands in for the sentence's: no model call per question
            dense = np.array([h.score for h, _, _ in spans], dtype=np.float32)
        top = hits[0].score
        out = []
        for (h, s, e), text, sg, d in zip(spans, texts, sent_grams, dense):
            lex = sum(w for g, w in weight.items() if g in sg) / total
            title = text_grams(h.article.title)
            ctx = sum(w for g, w in weight.items() if g in sg or g in title) / total
            lexical = 0.7 * lex + 0.3 * ctx
            fcov = sum(1 for g in focus if g in sg) / len(focus) if focus else 1.0
            # a sentence that only restates the question (its scene) does not answer it
            novelty = len(sg - qall) / max(len(sg), 1)
            bonus = 0.0
            if numeric:
                bonus += 0.08 if _NUMBER.search(text) else -0.08
            if when and _DATE.search(text):
                bonus += 0.08
            w_lex, w_dense = (0.15, 0.85) if latin else (0.55, 0.45)
            score = w_lex * lexical + w_dense * float(d) + W_FOCUS * fcov - W_NOVEL * max(0.0, 0.7 - novelty) + 0.5 * (h.score - top) + bonus
            out.append(Candidate(h, s, e, lexical, float(d), score, fcov))
        out.sort(key=lambda c: c.score, reverse=True)
        return out

    def answer(
        self, question: str, qvec: np.ndarray, hits: Sequence[Hit], wanted: Any = None, latin: bool | None = None
    ) -> "Extract":
        """Answer from the hits.

        Args:
            question, qvec, hits: the (normalized) question, its vector and the retrieved hits.
            wanted: the answer type the question asks for (``qa.answer.answer_type.expected_type``),
                or None. When the best sentence states it, a second sentence is quoted
                only if it states it too (a head count needs no scene-setting sentence).
            latin: whether the question as asked is in a Latin script (default: judged from ``question``).

        Returns:
            An ``Extract``: text with [n] markers, citations, refused, and the signals it decided on.
        """
        latin = is_mostly_latin(question) if latin is None else latin
        cands = self.candidates(question, qvec, hits, latin) if hits else []
        diag: dict[str, float] = {"top_score": hits[0].score if hits else 0.0, "nonsense": float(is_nonsense(question))}
        if not cands:
            return Extract(REFUSAL_EN if latin else REFUSAL_ZH, (), True, diag, tuple(cands))
        best = cands[0]
        diag.update(best_lexical=best.lexical, best_dense=best.dense, best_score=best.score)
        qnums = _QNUM.findall(norm(question))
        # the issue date is part of what an article states: 2023年5月22日's meeting is in the 2023 issue
        # (whole articles: the passage that names 1974年 may be another chunk of the article found)
        arts = {h.article.id: h.article for h in hits}.values()
        seen = norm("".join(a.title + a.body + (a.date or "") for a in arts))
        diag["missing_numbers"] = float(sum(1 for x in qnums if x not in seen))
        diag["top_coverage"] = self.stats.support(question_grams(question), hits[0].article.title + hits[0].chunk.text)
        diag["p_unanswerable"] = unanswerable_chance(diag, self.settings)
        if prechecks_out(diag, latin, self.settings):
            return Extract(REFUSAL_EN if latin else REFUSAL_ZH, (), True, diag, tuple(cands))
        chosen = [best]
        for c in cands[1:3]:
            if wanted is not None and wanted.satisfied_by(best.text) and not wanted.satisfied_by(c.text):
                continue
            # a second sentence from another article must name the question's numbers (5月22日)
            # that the best one names: 6月27日's meeting is another event, not a second source
            # (in the same article the date set by the best sentence still holds)
            if c.hit.article.id != best.hit.article.id and any(x in norm(best.text) and x not in norm(c.text) for x in qnums):
                continue
            if c.score >= self.settings.second_ratio * best.score and c.focus >= best.focus and not _same_place(c, chosen):
                chosen.append(c)
                break
        spans = [(c.hit.article, *c.body_span) for c in chosen]
        if WHY_Q.search(question) and BACK_REF.search(best.text):
            # "为此, X" answers why X happened with the sentence before it (in the article, which
            # may be in the previous chunk)
            a, start, _ = spans[0]
            prev = [sp for sp in sentences(a.body) if sp[1] <= start]
            if prev:
                spans = [(a, *prev[-1])]
        if self.settings.typed_span and not latin:
            # a question asking for a number, date, person or place is answered by that span of
            # the best sentence; the sentence is the citation
            from qa.answer.span import typed_span

            a, start, end = spans[0]
            sp = typed_span(question, a.body[start:end], wanted.satisfied_by if wanted is not None else None)
            if sp is not None:
                raw_start, raw_end = a.raw_offsets(start, end)
                cite = Citation(1, a.id, a.title, a.date, a.source, a.body[start:end], start, end, raw_start, raw_end, a.paper)
                return Extract(f"{a.body[start + sp[0]:start + sp[1]]}[1]", (cite,), False, diag, tuple(cands))
        citations = []
        parts = []
        for n, (a, start, end) in enumerate(spans, 1):
            text = a.body[start:end]
            raw_start, raw_end = a.raw_offsets(start, end)
            citations.append(Citation(n, a.id, a.title, a.date, a.source, text, start, end, raw_start, raw_end, a.paper))
            parts.append(f"{text}[{n}]")
        return Extract("".join(parts), tuple(citations), False, diag, tuple(cands))


@dataclass(frozen=True)
class Extract:
    """The extractive answer: quoted sentences with [n] markers, their citations, and why.

    ``signals`` holds the scores the refusal was decided on: ``top_score`` (the best
    passage's cosine), ``best_lexical``/``best_dense``/``best_score`` (the best
    sentence's word support, cosine and combined score) and ``missing_numbers``.
    """

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    signals: dict[str, float] = field(default_factory=dict)
    # the scored sentences the answer was chosen from, best first: the prompt is built from them
    candidates: tuple[Candidate, ...] = field(default=(), repr=False, compare=False)


def is_nonsense(question: str) -> bool:
    """A question that repeats a few characters over and over ("abababab…", "哈哈哈哈哈哈哈哈") asks nothing."""
    t = strip_punct(question)
    if len(t) < 8:
        return False
    return len({t[i : i + 2] for i in range(len(t) - 1)}) / (len(t) - 1) < 0.3


def unanswerable_chance(diag: dict[str, float], s: AnswerSettings) -> float:
    """The chance that the archive does not hold the answer, from the best passage's cosine and
    the share of the question's weighted words it holds (``AnswerSettings.refusal_*``)."""
    z = s.refusal_bias + s.refusal_w_score * diag.get("top_score", 0.0) + s.refusal_w_coverage * diag.get("top_coverage", 0.0)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def prechecks_out(diag: dict[str, float], latin: bool, s: AnswerSettings) -> bool:
    """Whether the diagnostics of ``answer()`` fail the bounds ``s`` (a question naming a
    number no retrieved passage holds, or repeating a few characters, always does)."""
    if diag.get("missing_numbers") or "best_lexical" not in diag or diag.get("nonsense"):
        return True
    if latin:
        return diag["top_score"] < s.min_score_latin
    if s.refusal == "signals":
        return diag.get("p_unanswerable", 1.0) >= s.refuse_at
    return diag["best_lexical"] < s.min_lexical or (diag["top_score"] < s.min_score and diag["best_lexical"] < s.min_support)


def _same_place(c: Candidate, chosen: Sequence[Candidate]) -> bool:
    for o in chosen:
        if o.hit.article.id == c.hit.article.id:
            a0, a1 = o.body_span
            b0, b1 = c.body_span
            if min(a1, b1) > max(a0, b0):
                return True
        if norm(o.text) == norm(c.text):
            return True
    return False
