"""The public API: ``ask(question) -> Answer``, composed of clean → retrieve → answer."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, ModelNotInstalledError
from .extractive import ExtractiveAnswerer, LexicalStats
from .index import NewsIndex, load_index
from .retrieve import DenseRetriever
from .settings import AnswerSettings, default_index_dir, default_model
from .text import clean_question, to_simplified
from .types import Answer

log = logging.getLogger(__name__)

ANSWERERS = ("auto", "extractive", "generative")
MAX_K = 50


def load_embedder(model: str | None = None) -> Any:
    """The embedder for a model name or folder (default: multilingual-e5-small, installed on demand).

    Raises:
        ModelNotInstalledError: with the command that installs it.
    """
    from embeddings.encoder import SentenceTransformerEmbedder
    from embeddings.models import ModelError, resolve_embedder_path

    try:
        path, name = resolve_embedder_path(model)
    except ModelError as e:
        raise ModelNotInstalledError(str(e)) from None
    return SentenceTransformerEmbedder(path, name=name)


@dataclass
class Pipeline:
    """Everything ``ask()`` needs, loaded once per (index, model) and reused."""

    index: NewsIndex
    embedder: Any
    retriever: DenseRetriever
    extractive: ExtractiveAnswerer

    @classmethod
    def load(cls, index_dir: Path, embedder: Any) -> "Pipeline":
        index = load_index(index_dir, identity=embedder.identity)
        stats = LexicalStats(index.articles.values())
        return cls(index, embedder, DenseRetriever(index, embedder), ExtractiveAnswerer(embedder, stats, AnswerSettings()))


_pipelines: dict[tuple[str, str], Pipeline] = {}
_lock = threading.Lock()


def get_pipeline(index: str | Path | None = None, model: str | None = None, embedder: Any = None) -> Pipeline:
    """The cached pipeline for an index folder and model.

    Args:
        index: index folder (default ``$NEWSQA_INDEX`` or ``corpus/index``).
        model: model name or folder (default ``$NEWSQA_MODEL`` or multilingual-e5-small).
        embedder: an embedder object to use instead of ``model`` (tests, custom models).
    """
    index_dir = Path(index) if index is not None else default_index_dir()
    model = model if model is not None else default_model()
    key = (str(index_dir.resolve()), model or "" if embedder is None else f"obj:{id(embedder)}")
    with _lock:
        p = _pipelines.get(key)
        if p is None:
            emb = embedder if embedder is not None else load_embedder(model)
            p = _pipelines[key] = Pipeline.load(index_dir, emb)
        return p


def clear_cache() -> None:
    """Forget loaded pipelines (after rebuilding an index in the same process)."""
    with _lock:
        _pipelines.clear()


def ask(
    question: str,
    *,
    k: int = 5,
    index: str | Path | None = None,
    model: str | None = None,
    answerer: str = "auto",
    embedder: Any = None,
) -> Answer:
    """Answer a question from the newspaper archive, with cited sources.

    Args:
        question: the question, up to 500 characters, in any language the model reads.
        k: how many passages to retrieve (1..50).
        index: the index folder; the default index is loaded once per process.
        model: the embedding model name or folder; must match the index.
        answerer: "auto" (the generator when one is installed, else extractive),
            "extractive", or "generative".
        embedder: an embedder object instead of ``model`` (used by tests).

    Returns:
        An ``Answer``: text with ``[n]`` markers, citations quoting the exact article
        text, ``refused=True`` when the archive does not support an answer, and the hits.

    Raises:
        InputError: for an empty, over-long or non-text question, or a bad option.
        IndexNotFoundError, IndexMismatchError, ModelNotInstalledError: setup problems.
    """
    t0 = time.perf_counter()
    q = clean_question(question)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    if answerer not in ANSWERERS:
        raise InputError(f"answerer must be one of {', '.join(ANSWERERS)}, got {answerer!r}")
    if answerer == "generative":
        raise ModelNotInstalledError(
            "no generative answerer is installed in this version; use answerer='extractive' or 'auto'"
        )
    p = get_pipeline(index, model, embedder)
    t1 = time.perf_counter()
    rq = to_simplified(q)  # the corpus is simplified Chinese; 區 and 区 must meet
    qvec = p.retriever.embed(rq)
    hits = p.retriever.retrieve(rq, k, query_vec=qvec)
    t2 = time.perf_counter()
    text, citations, refused, _diag = p.extractive.answer(rq, qvec, hits)
    t3 = time.perf_counter()
    return Answer(
        question=q,
        text=text,
        refused=refused,
        citations=citations,
        hits=tuple(hits),
        answerer=p.extractive.name,
        timings={"load": t1 - t0, "retrieve": t2 - t1, "answer": t3 - t2, "total": t3 - t0},
    )
