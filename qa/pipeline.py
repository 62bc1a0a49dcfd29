"""The loaded pipeline (index, embedder, retriever, answerers, settings), its cache, and the hot swap to a new generation."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa.answer.answer_type import expected_type
from qa.answer.extractive import ExtractiveAnswerer, LexicalStats
from qa.answer.policy import GroundedAnswerPolicy
from qa.answer.query import Query
from qa.errors import ModelNotInstalledError, NewsQAError
from qa.index.store import NewsIndex, current_generation, current_name, read_manifest, verify_index
from qa.retrieve.retriever import Retriever
from qa.settings import Settings, default_index_dir, default_model
from qa.text import is_mostly_latin, normalize

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

RETRY_REFUSED_S = 5.0  # how long a generation that failed to load is not tried again


def load_embedder(model: str | None = None, runtime: str | None = None) -> "Embedder":
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

    try:
        return runtime_of(read_manifest(current_generation(index_dir)).get("model", {}))
    except NewsQAError:
        return None


@dataclass
class Pipeline:
    """Everything ``ask()`` needs, loaded once per (index, model, settings) and reused.

    One request uses one ``Pipeline`` from start to end, so it never mixes two index
    generations; ``generation`` names the one it holds. Nothing in it is changed after
    loading: per-request options travel with the request.
    """

    index: NewsIndex
    embedder: "Embedder"
    retriever: Retriever
    extractive: ExtractiveAnswerer
    policy: GroundedAnswerPolicy
    settings: Settings

    @classmethod
    def load(cls, index_dir: Path, embedder: "Embedder", settings: Settings) -> "Pipeline":
        index = verify_index(index_dir, identity=embedder.identity)
        answer = settings.answer
        if answer.refusal == "signals" and (embedder.identity or {}).get("name") != answer.refusal_model:
            # the refusal weights are on the calibrated model's cosine scale
            log.info("refusal decided by rules: weights are calibrated for %s, not %s",
                     answer.refusal_model, (embedder.identity or {}).get("name"))
            answer = dataclasses.replace(answer, refusal="rules")
        # counted at build time (meta.sqlite): opening never passes over every article
        stats = (LexicalStats.stored(len(index.articles), index.meta.gram_count) if index.meta is not None
                 else LexicalStats(index.articles.values()))
        extractive = ExtractiveAnswerer(embedder, stats, answer)
        return cls(index, embedder, Retriever(index, embedder, settings.retrieval), extractive,
                   GroundedAnswerPolicy(extractive, settings.generation, embedder), settings)

    @property
    def generation(self) -> str:
        return self.index.path.name

    def query(self, asked: str, rewritten: str | None = None) -> Query:
        """Normalise, embed and expand a question once for every later stage.

        The corpus is simplified Chinese, so 區 and 区 must meet (``normalize``). An
        English question's sentences are scored with the Chinese its words point to (the
        expanded query retrieval uses), embedded once.
        """
        text = normalize(rewritten or asked)
        vec = self.retriever.embed(text)
        latin = is_mostly_latin(text)
        scoring = self.retriever.dense_query(text) if latin and self.retriever.settings.english_dense_terms else text
        scoring_vec = vec if scoring == text else self.retriever.embed(scoring)
        wanted = expected_type(text) if self.settings.answer.answer_types else None
        return Query(asked, rewritten, text, vec, latin, scoring, scoring_vec, wanted)


_pipelines: dict[tuple[str, str, Settings], Pipeline] = {}
_lock = threading.Lock()
_swap_lock = threading.Lock()  # one hot swap at a time; other requests keep using the loaded generation
_refused: dict[tuple[str, str, Settings], tuple[str, float]] = {}  # generation that failed to load, and when


def get_pipeline(index: str | Path | None = None, model: str | None = None, embedder: "Embedder | None" = None,
                 settings: Settings | None = None) -> Pipeline:
    """The cached pipeline for an index folder, model and settings, following the index's ``CURRENT`` generation.

    When a build has switched ``CURRENT`` since the pipeline was loaded, the new
    generation is loaded and verified, then swapped in for later requests; requests
    already running keep the pipeline they started with. While one request loads the
    new generation, the others are served by the old one (never blocked, never mixed).
    A new generation that fails to load is logged and the old one stays in service.

    Args:
        index: index folder (default ``$NEWSQA_INDEX`` or ``corpus/index``).
        model: model name or folder (default ``$NEWSQA_MODEL`` or multilingual-e5-small).
        embedder: an embedder object to use instead of ``model`` (tests, custom models).
        settings: the pipeline's settings (default: ``Settings.from_env()``).
    """
    index_dir = Path(index) if index is not None else default_index_dir()
    model = model if model is not None else default_model()
    settings = settings if settings is not None else Settings.from_env()
    key = (str(index_dir.resolve()), model or "" if embedder is None else f"obj:{id(embedder)}", settings)
    with _lock:
        p = _pipelines.get(key)
        if p is None:
            # query vectors come from the runtime the index's vectors were made with
            emb = embedder if embedder is not None else load_embedder(model, index_runtime(index_dir))
            p = _pipelines[key] = Pipeline.load(index_dir, emb, settings)
            return p
    return _follow_current(key, index_dir, p)


def _follow_current(key: tuple[str, str, Settings], index_dir: Path, p: Pipeline) -> Pipeline:
    name = current_name(index_dir)
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
            new = Pipeline.load(index_dir, cur.embedder, cur.settings)
        except NewsQAError as e:
            _refused[key] = (name, time.monotonic())
            log.warning("index %s: generation %s not loaded (%s); still serving %s", index_dir, name, e, cur.generation)
            return cur
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
