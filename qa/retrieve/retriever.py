"""Retrieval over a loaded index: dense (FAISS), lexical (BM25) or both fused, with filters.

Overlapping chunks of one article and reprints of the same text are collapsed to the
best-placed one, in each retriever's list and again after fusion, so they never crowd
the top k.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Collection, Sequence

import numpy as np

from qa.errors import InputError
from qa.retrieve.fusion import add_signal, convex, rrf
from qa.index.store import NewsIndex
from qa.settings import RETRIEVERS, RetrievalSettings
from qa.text import is_mostly_latin, norm
from qa.types import Chunk, Hit

if TYPE_CHECKING:
    from embeddings.encoder import Embedder


def parse_date(value: str | None, what: str) -> str | None:
    """Check an ISO date (YYYY-MM-DD) given as a filter; None passes through.

    Raises:
        InputError: for anything else.
    """
    if value is None:
        return None
    if isinstance(value, _dt.date):
        return value.isoformat()
    try:
        return _dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise InputError(f"{what} must be a date like 2022-05-25, got {value!r}") from None


class Retriever:
    """Finds the passages for a question: ``"hybrid"`` (default), ``"dense"`` or ``"lexical"``."""

    def __init__(self, index: NewsIndex, embedder: "Embedder", settings: RetrievalSettings = RetrievalSettings()) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.mode = settings.retriever
        self._keys: dict[int, str] = {}  # chunk id → comparison form of its text, for collapsing reprints

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.embed_queries([question])[0]

    def allowed(self, paper: str | None = None, date_from: str | None = None, date_to: str | None = None,
                article_ids: Collection[str] | None = None) -> np.ndarray | None:
        """Boolean mask over chunk ids for the filters, or None when there are none.

        ``paper`` matches an article's paper name after normalization (width,
        traditional/simplified, case, spaces). Dates are ISO and inclusive. Articles
        without a stated date are excluded only when a date filter is given.
        ``article_ids``, when given, keeps only those articles (dates read from the question).

        Raises:
            InputError: for a malformed date or a range that ends before it starts.
        """
        date_from, date_to = parse_date(date_from, "date_from"), parse_date(date_to, "date_to")
        if date_from and date_to and date_from > date_to:
            raise InputError(f"date_from {date_from} is after date_to {date_to}")
        paper = paper.strip() if isinstance(paper, str) else paper
        if not paper and not date_from and not date_to and article_ids is None:
            return None
        want = norm(paper) if paper else None
        meta = self.index.meta
        if meta is not None:  # SQL over the indexed paper/date columns, not a pass over every article
            papers = [p for p in meta.papers() if norm(p) == want] if want is not None else None
            return meta.chunk_mask(papers, date_from or None, date_to or None, article_ids)
        ok_articles = set()
        for a in self.index.articles.values():
            if article_ids is not None and a.id not in article_ids:
                continue
            if want is not None and (not a.paper or norm(a.paper) != want):
                continue
            if (date_from or date_to) and not a.date:
                continue
            if date_from and a.date < date_from:
                continue
            if date_to and a.date > date_to:
                continue
            ok_articles.add(a.id)
        return np.array([c.article_id in ok_articles for c in self.index.chunks], dtype=bool)

    def dense(self, query_vec: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self.index.search(query_vec[None, :], min(self.index.size, depth), allowed=allowed)[0]

    def lexical(self, question: str, depth: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if self.index.lexical is None:
            return []
        return self.index.lexical.search(question, depth, allowed=allowed)

    def retrieve(
        self,
        question: str,
        k: int = 5,
        query_vec: np.ndarray | None = None,
        *,
        retriever: str | None = None,
        paper: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        dense_vec: np.ndarray | None = None,
        article_ids: Collection[str] | None = None,
    ) -> list[Hit]:
        """The top ``k`` distinct passages for a question.

        Args:
            question: the question in its retrieval form (``qa.text.normalize``).
            k: how many hits to return.
            query_vec: the question's embedding, if already computed.
            dense_vec: for an English question, the embedding of its ``dense_query``, if
                already computed (the answerer scores sentences with it too).
            retriever: ``"hybrid"``, ``"dense"`` or ``"lexical"`` (default: the settings').
            paper, date_from, date_to: filters (see ``allowed``). Articles without a
                date are left out only when a date filter is given.
            article_ids: only these articles (None: all).

        Returns:
            Hits, best first. Each hit's ``score`` is its cosine with the question;
            ``dense_rank``/``lexical_rank`` say where each retriever placed it.
        """
        mode = retriever or self.mode
        if mode not in RETRIEVERS:
            raise InputError(f"retriever must be one of {', '.join(RETRIEVERS)}, got {mode!r}")
        mask = self.allowed(paper, date_from, date_to, article_ids)
        if mask is not None and not mask.any():
            return []
        s = self.settings
        depth = max(s.depth, k * 3, k + 5)
        qv = self.embed(question) if query_vec is None else query_vec
        latin = is_mostly_latin(question)
        lists: dict[str, list[int]] = {}
        cos: dict[int, float] = {}
        bm: dict[int, float] = {}
        if mode in ("hybrid", "dense"):
            dq = self.dense_query(question) if latin and s.english_dense_terms else question
            raw = self.dense(qv if dq == question else (dense_vec if dense_vec is not None else self.embed(dq)), depth, mask)
            if dq == question:
                cos.update(raw)
            lists["dense"] = self._collapse([cid for cid, _ in raw])
            dense_scores = dict(raw)
        if mode in ("hybrid", "lexical"):
            raw = self.lexical(question, depth, mask)
            bm.update(raw)
            lists["lexical"] = self._collapse([cid for cid, _ in raw])
        w_lex = s.w_lexical_latin if latin else s.w_lexical
        if s.fusion == "convex" and mode == "hybrid":
            fused = convex(lists, {"dense": dense_scores, "lexical": bm}, {"dense": s.w_dense, "lexical": w_lex})
            w_cov = s.w_coverage_latin if latin else s.w_coverage
            if w_cov and self.index.lexical is not None:
                items = [f.item for f in fused]
                fused = add_signal(fused, dict(zip(items, self.index.lexical.coverage(question, items).tolist())), w_cov)
        else:
            fused = rrf(lists, k=s.rrf_k, weights={"dense": s.w_dense, "lexical": w_lex})
        order = self._collapse([f.item for f in fused])
        by_id = {f.item: f for f in fused}
        chosen = order[:k]
        missing = [cid for cid in chosen if cid not in cos]
        if missing:  # found by BM25 only, or by an expanded dense query: report the question's own cosine
            cos.update(zip(missing, self.index.cosines(qv, missing)))
        hits = []
        for rank, cid in enumerate(chosen, 1):
            chunk = self.index.chunks[cid]
            f = by_id[cid]
            hits.append(Hit(
                chunk, self.index.articles[chunk.article_id], cos[cid], rank,
                dense_rank=f.ranks.get("dense"), lexical_rank=f.ranks.get("lexical"),
                lexical_score=bm.get(cid), fused_score=f.score if mode == "hybrid" else None, retriever=mode,
            ))
        return hits

    def dense_query(self, question: str) -> str:
        """The text embedded for an English question: the question, then the Chinese its words point to.

        The multilingual model places an English question near Chinese passages only
        roughly; names spelt back into Chinese (Liuban → 刘坂) and translated phrases
        (small reservoir → 小型水库) found in this index pull it to the passages that
        use them. Without a lexical index, or when nothing translates, the question as is.
        """
        lex = self.index.lexical
        terms = lex.english_terms(question).terms() if lex is not None else []
        return f"{question} {' '.join(terms)}" if terms else question

    def _collapse(self, ids: Sequence[int]) -> list[int]:
        """Drop chunks that repeat an earlier one's text or overlap an earlier chunk of the same article."""
        kept: list[int] = []
        seen_text: set[str] = set()
        by_article: dict[str, list[Chunk]] = {}
        for cid in ids:
            chunk = self.index.chunks[cid]
            key = self._keys.get(cid)
            if key is None:
                key = self._keys[cid] = norm(chunk.text)
            if key in seen_text or any(_overlaps(o, chunk) for o in by_article.get(chunk.article_id, ())):
                continue
            seen_text.add(key)
            by_article.setdefault(chunk.article_id, []).append(chunk)
            kept.append(cid)
        return kept



def _overlaps(a: Chunk, b: Chunk) -> bool:
    """Two chunks of one article sharing more than half of the shorter one."""
    if a.article_id != b.article_id:
        return False
    inter = min(a.end, b.end) - max(a.start, b.start)
    return inter > 0.5 * min(a.end - a.start, b.end - b.start)
