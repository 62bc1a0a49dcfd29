"""Dense retrieval over a loaded index, with overlapping and reprinted passages collapsed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .index import NewsIndex
from .text import norm
from .types import Hit


class DenseRetriever:
    """Embeds the question and searches the FAISS index (inner product of unit vectors = cosine)."""

    def __init__(self, index: NewsIndex, embedder: Any) -> None:
        self.index = index
        self.embedder = embedder

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.embed_queries([question])[0]

    def retrieve(self, question: str, k: int = 5, query_vec: np.ndarray | None = None) -> list[Hit]:
        """The top ``k`` distinct passages for a question.

        Args:
            question: the cleaned question.
            k: how many hits to return.
            query_vec: the question's embedding, if already computed.

        Returns:
            Hits ranked by cosine, best first; overlapping chunks of one article and
            reprints of the same text are collapsed to the best-scoring one.
        """
        qv = self.embed(question) if query_vec is None else query_vec
        raw = self.index.search(qv[None, :], min(self.index.size, max(k * 3, k + 5)))[0]
        kept: list[Hit] = []
        seen_text: set[str] = set()
        for cid, score in raw:
            chunk = self.index.chunks[cid]
            key = norm(chunk.text)
            if key in seen_text or any(_overlaps(h.chunk, chunk) for h in kept):
                continue
            seen_text.add(key)
            kept.append(Hit(chunk, self.index.articles[chunk.article_id], score, len(kept) + 1))
            if len(kept) == k:
                break
        return kept


def _overlaps(a, b) -> bool:
    """Two chunks of one article sharing more than half of the shorter one."""
    if a.article_id != b.article_id:
        return False
    inter = min(a.end, b.end) - max(a.start, b.start)
    return inter > 0.5 * min(a.end - a.start, b.end - b.start)
