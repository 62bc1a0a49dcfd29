"""Typed data passed between stages: Article → Chunk → Hit → Citation → Answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """Maps a run of article-body characters back to the raw source file.

    ``body[body_start : body_start + length]`` equals
    ``raw[raw_start : raw_start + length]`` character for character.
    """

    body_start: int
    raw_start: int
    length: int


@dataclass(frozen=True)
class Article:
    """One article parsed from a newspaper page (or read from a JSONL archive)."""

    id: str
    headline: str
    body: str
    source: str  # the raw file, relative to the archive root (a PDF page adds #pN)
    kicker: str = ""
    subtitle: str = ""
    byline: str = ""
    paper: str | None = None
    date: str | None = None  # ISO issue date when the page states it
    page: str = ""  # the printed page (版次) when the source names it, e.g. 第03版
    date_mentions: tuple[str, ...] = ()
    raw_start: int = 0  # offsets of the whole article (headline to last paragraph) in the raw file
    raw_end: int = 0
    spans: tuple[Span, ...] = ()

    @property
    def title(self) -> str:
        """Kicker, headline and subtitle joined: what a reader sees as the title."""
        return " ".join(p for p in (self.kicker, self.headline, self.subtitle) if p)

    def raw_offsets(self, start: int, end: int) -> tuple[int, int]:
        """Map body offsets [start, end) to raw-file offsets.

        Args:
            start: start offset in ``body``.
            end: end offset in ``body`` (exclusive).

        Returns:
            (raw_start, raw_end). When the body text was rejoined across a column
            break, the raw range includes the line breaks between the pieces.
        """
        if not self.spans:
            return start, end
        return self._map(start, False), self._map(end, True)

    def _map(self, pos: int, is_end: bool) -> int:
        for sp in self.spans:
            lo, hi = sp.body_start, sp.body_start + sp.length
            if lo <= pos < hi or (is_end and lo < pos <= hi):
                return sp.raw_start + (pos - lo)
        # pos falls on an inserted paragraph separator: snap to the nearest span edge
        before = [sp for sp in self.spans if sp.body_start + sp.length <= pos]
        after = [sp for sp in self.spans if sp.body_start >= pos]
        if is_end and before:
            sp = before[-1]
            return sp.raw_start + sp.length
        if after:
            return after[0].raw_start
        sp = self.spans[-1]
        return sp.raw_start + sp.length

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spans"] = [[s.body_start, s.raw_start, s.length] for s in self.spans]
        d["date_mentions"] = list(self.date_mentions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Article":
        d = dict(d)
        d["spans"] = tuple(Span(*s) for s in d.get("spans", ()))
        d["date_mentions"] = tuple(d.get("date_mentions", ()))
        return cls(**d)


@dataclass(frozen=True)
class Chunk:
    """A passage of one article's body that is embedded and retrieved."""

    id: int  # row in the vector index
    article_id: str
    text: str
    start: int  # offsets into the article body
    end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score and, for hybrid search, why it came up.

    ``score`` is always the question's cosine with the chunk (inner product of unit
    vectors), whichever retriever found it, so answer thresholds mean one thing.
    ``rank`` is the final position. ``dense_rank`` / ``lexical_rank`` are the
    chunk's 1-based positions in each retriever's own list (None: that retriever
    did not return it within its search depth), ``lexical_score`` its BM25 score,
    and ``fused_score`` its reciprocal-rank-fusion score.
    """

    chunk: Chunk
    article: Article
    score: float
    rank: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None
    fused_score: float | None = None
    retriever: str = "dense"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 4),
            "retriever": self.retriever,
            "dense_rank": self.dense_rank,
            "lexical_rank": self.lexical_rank,
            "lexical_score": None if self.lexical_score is None else round(float(self.lexical_score), 4),
            "fused_score": None if self.fused_score is None else round(float(self.fused_score), 6),
            "chunk_id": self.chunk.id,
            "article_id": self.article.id,
            "title": self.article.title,
            "date": self.article.date,
            "paper": self.article.paper,
            "source": self.article.source,
            "page": self.article.page,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
        }


@dataclass(frozen=True)
class Citation:
    """A numbered source: the exact quote from an article that supports the answer."""

    n: int
    article_id: str
    title: str
    date: str | None
    source: str
    quote: str
    start: int  # quote offsets in the article body: body[start:end] == quote
    end: int
    raw_start: int  # the same quote's offsets in the raw source file
    raw_end: int
    paper: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The result of ``ask()``: answer text with inline ``[n]`` markers and its citations."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    answerer: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)
    rewritten_query: str | None = None  # the standalone question a follow-up was rewritten into
    supported_sentences: int | None = None  # generative: sentences kept because a passage supports them
    generated_sentences: int | None = None  # generative: sentences the model wrote
    generator: str | None = None
    index_generation: str | None = None  # the index generation (gen-NNNNNN) that answered, whole
    date_range: dict[str, Any] | None = None  # the dates searched: from/to, phrase, source, applied (qa.timeq)
    signals: dict[str, float] = field(default_factory=dict)  # what the refusal was decided on (scores, 0..1 chances)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the keys documented in the README."""
        return {
            "question": self.question,
            "text": self.text,
            "refused": self.refused,
            "answerer": self.answerer,
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
            "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()},
            "rewritten_query": self.rewritten_query,
            "supported_sentences": self.supported_sentences,
            "generated_sentences": self.generated_sentences,
            "generator": self.generator,
            "index_generation": self.index_generation,
            "date_range": self.date_range,
            "signals": {k: round(float(v), 4) for k, v in self.signals.items()},
        }
