"""Writing an index generation: chunk, embed, write, fsync, verify, then swap ``CURRENT`` (crash-safe)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from embeddings.models import sha256_file

from qa.ingest.chunking import ChunkParams, chunk_articles
from qa.ingest.corpus import corpus_hash
from qa.errors import IndexMismatchError, IndexWriteError
from qa.index.reuse import embed_with_reuse
from qa.index.meta import META_FILE, write_meta
from qa.index.store import (FILES, FORMAT_VERSION, current_name, lexical_text, manifest_digest, passage_text, sampled_sha256,
                            verify_index)
from qa.lexical.bm25 import DEFAULT_TOKENIZER, TOKENIZERS, LexicalIndex
from qa.text import text_grams
from qa.timeq import article_times
from qa.types import Article

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
LOCK_FILE = ".build.lock"
# Step boundaries of a build, in order. ``NEWSQA_CRASH_AT=<step>`` kills the building
# process with SIGKILL at that boundary (tests/test_crash.py proves each one is safe).
CRASH_POINTS = (
    "locked", "tmp-created", "vectors-written", "meta-written", "lexical-written",
    "files-fsynced", "manifest-written", "tmp-dir-fsynced", "renamed", "verified", "current-tmp-written",
    "current-switched", "pruned",
)


def _crash_point(step: str) -> None:
    """Test hook: die here, as abruptly as a power cut allows a process to, when asked to."""
    if os.environ.get("NEWSQA_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def build_lock(out_dir: Path):
    """Serialize builders of one index folder (an flock, released by the kernel if the builder dies)."""
    fd = os.open(out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another build of %s is running; waiting for it", out_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("newsqa", "faiss-cpu", "sentence-transformers", "torch", "transformers", "langchain-text-splitters", "bm25s", "jieba", "OpenCC"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def build_index(
    articles: Sequence[Article],
    embedder: "Embedder",
    out_dir: Path,
    params: ChunkParams = ChunkParams(),
    progress: Progress | None = None,
    tokenizer: str = DEFAULT_TOKENIZER,
    reuse: bool = True,
    files: Mapping[str, str] | None = None,
    skipped: Sequence[Any] = (),
    on_plan: Callable[[int, int], None] | None = None,
) -> Path:
    """Chunk, embed and write a new index generation (vectors and BM25), then make it current.

    Args:
        articles: the corpus.
        embedder: an ``embeddings.encoder.Embedder``.
        out_dir: the index folder (created if missing).
        params: chunking parameters (in model tokens).
        progress: called with (chunks embedded, total chunks).
        tokenizer: the lexical tokenizer (``qa.lexical.bm25.TOKENIZERS``), recorded in the manifest.
        reuse: take unchanged passages' vectors from the live generation (same model and
            runtime, same embedded text) instead of embedding them again (``qa.index.reuse``).
        files: the archive's files and their sha256 (``qa.ingest.corpus.Corpus.files``), recorded in
            the manifest so the next build of the folder can report what changed.
        skipped: files left out (``qa.ingest.corpus.Skipped``: source, reason), recorded in the manifest.
        on_plan: called with (articles, chunks) once the corpus is chunked, before any embedding.

    Returns:
        The new generation folder.
    """

    if not articles:
        raise IndexMismatchError("refusing to build an index from an empty corpus")
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
    if params.chunk_size + 64 > embedder.max_tokens:
        raise ValueError(f"chunk_size {params.chunk_size} leaves no room for the title within the model's {embedder.max_tokens} tokens")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    by_id = {a.id: a for a in articles}
    chunks = chunk_articles(articles, params, embedder.count_tokens)
    texts = [passage_text(by_id[c.article_id], c.text) for c in chunks]
    log.info("%d articles make %d chunks to embed", len(articles), len(chunks))
    if on_plan is not None:
        on_plan(len(articles), len(chunks))
    # BM25 (jieba, pinyin, bigrams: pure Python) is built in a thread while the embedder,
    # which releases the GIL in onnxruntime/torch, runs; it depends only on the chunks
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsqa-bm25") as pool:
        lexical_job = pool.submit(LexicalIndex.build, [lexical_text(by_id[c.article_id], c.text) for c in chunks], tokenizer)
        try:
            if reuse:

                vecs, reuse_stats = embed_with_reuse(texts, embedder, out_dir, progress)
            else:
                vecs, reuse_stats = embedder.embed_passages(texts, progress=progress), None
        except BaseException:
            lexical_job.cancel()
            raise
        t_embed = time.perf_counter() - t0
        lexical = lexical_job.result()  # re-raises the thread's exception, if any
    if vecs.shape != (len(chunks), embedder.dim):
        raise IndexMismatchError(f"embedder returned shape {vecs.shape}, expected ({len(chunks)}, {embedder.dim})")

    from qa.index.ann import make_vector_index

    index, vector_index = make_vector_index(embedder.dim, len(chunks))
    index.add_with_ids(vecs, np.array([c.id for c in chunks], dtype=np.int64))
    info = {
        "t0": t0, "t_embed": t_embed, "params": params, "tokenizer": tokenizer,
        "lexical": lexical, "index": index, "chunks": chunks, "articles": articles, "identity": dict(embedder.identity),
        "dim": embedder.dim, "vector_index": vector_index, "vectors_reused": reuse_stats.reused if reuse_stats else 0,
        "files": dict(files) if files is not None else None,
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
    }
    with build_lock(out_dir):
        _crash_point("locked")
        _clean_orphans(out_dir)  # under the lock: never another builder's temp folder
        previous = current_name(out_dir)
        try:
            gen = _write_generation(out_dir, info)
        except (OSError, RuntimeError, sqlite3.Error) as e:  # disk full, file too large, read-only folder...
            for p in out_dir.glob(".gen-*"):
                shutil.rmtree(p, ignore_errors=True)
            raise IndexWriteError(
                f"could not write a new index generation in {out_dir} ({e}); "
                f"the current index ({previous or 'none'}) is unchanged"
            ) from None
        _prune(out_dir, keep={gen.name, *([previous] if previous else [])})
        _crash_point("pruned")
    log.info("index written to %s (%d articles, %d chunks)", gen, len(articles), len(chunks))
    return gen


def _write_generation(out_dir: Path, info: dict[str, Any]) -> Path:
    """Write, fsync and verify a new generation folder, then switch ``CURRENT`` to it (caller holds the lock)."""
    import faiss

    chunks, articles, lexical, params = info["chunks"], info["articles"], info["lexical"], info["params"]
    # generation numbers increase, so names sort in build order
    numbers = [int(p.name[4:]) for p in out_dir.glob("gen-*") if p.name[4:].isdigit()]
    stamp = f"{max(numbers, default=0) + 1:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".gen-{stamp}.", dir=out_dir))
    _crash_point("tmp-created")
    faiss.write_index(info["index"], str(tmp / "vectors.faiss"))
    _crash_point("vectors-written")
    write_meta(tmp / META_FILE, iter(articles), iter(chunks), grams=text_grams, times=article_times)
    _crash_point("meta-written")
    lexical.save(tmp)
    _crash_point("lexical-written")
    for name in FILES:
        with open(tmp / name, "rb+") as f:
            os.fsync(f.fileno())
    _crash_point("files-fsynced")
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": info["identity"],
        "dim": info["dim"],
        "metric": "inner_product_on_unit_vectors",
        "vector_index": info["vector_index"],
        "chunking": {**asdict(params), "unit": "model tokens", "splitter": "langchain RecursiveCharacterTextSplitter"},
        "corpus": {
            "sha256": corpus_hash(articles),
            "sources": sorted({a.source for a in articles}),
            **({"files": info["files"]} if info["files"] is not None else {}),
            "skipped": info["skipped"],
        },
        "lexical": {
            "tokenizer": info["tokenizer"],
            "normalization": "zero-width/bidi removed, NFKC, OpenCC t2s, lower case",
            "pinyin_tokens": "toneless pinyin syllable bigrams of Chinese runs (pypinyin), matched by romanised names in questions",
            "fields": "article title + chunk text",
            **lexical.params,
        },
        "counts": {"articles": len(articles), "chunks": len(chunks)},
        "files": {name: sha256_file(tmp / name) for name in FILES},
        "sizes": {name: (tmp / name).stat().st_size for name in FILES},  # the read limit of each file
        "sampled_sha256": {name: sampled_sha256(tmp / name) for name in FILES},  # the open-time check of big files
        "versions": _versions(),
        "build_seconds": round(time.perf_counter() - info["t0"], 2),
        "embed_seconds": round(info["t_embed"], 2),
        "vectors_reused": info["vectors_reused"],
    }
    manifest["manifest_sha256"] = manifest_digest(manifest)
    mpath = tmp / "manifest.json"
    with open(mpath, "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest, ensure_ascii=False, indent=2))
        f.flush()
        os.fsync(f.fileno())
    _crash_point("manifest-written")
    _fsync_dir(tmp)
    _crash_point("tmp-dir-fsynced")
    gen = out_dir / f"gen-{stamp}"
    os.replace(tmp, gen)
    _fsync_dir(out_dir)
    _crash_point("renamed")
    verify_index(gen, identity=info["identity"], full=True).meta.close()  # every loader's check, and every byte and row
    _crash_point("verified")
    _set_current(out_dir, gen.name)
    return gen


def _set_current(out_dir: Path, name: str) -> None:
    tmp = out_dir / f".CURRENT.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    _crash_point("current-tmp-written")
    os.replace(tmp, out_dir / "CURRENT")
    _crash_point("current-switched")
    _fsync_dir(out_dir)


def _clean_orphans(out_dir: Path) -> None:
    """Remove temp folders left by a build that was killed."""
    for p in out_dir.glob(".gen-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in out_dir.glob(".CURRENT.*.tmp"):
        p.unlink(missing_ok=True)


def _prune(out_dir: Path, keep: set[str]) -> None:
    """Keep the new generation and the last good one (the previous ``CURRENT``); remove the rest.

    A generation folder that was never made current (its build was killed after the
    rename) is removed here, by the next successful build.
    """
    for p in out_dir.glob("gen-*"):
        if p.is_dir() and p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


