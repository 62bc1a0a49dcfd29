"""The on-disk index: FAISS vectors, row-aligned JSONL metadata and a manifest that describes them.

Layout of an index folder::

    DIR/CURRENT            name of the live generation (replaced atomically)
    DIR/gen-<stamp>/       one complete build
        vectors.faiss      IndexIDMap2(IndexFlatIP, or HNSW above qa.ann.flat_max()): ids are chunk ids
        chunks.jsonl       one chunk per line, row i has id i
        articles.jsonl     the articles the chunks point into (bodies and offsets)
        bm25.*.npy         the lexical index (bm25s CSC score matrix, saved with allow_pickle=False)
        bm25.vocab.json    its token → column map; bm25.params.json its BM25 parameters
        manifest.json      format, model identity, dimension, chunking, tokenizer, counts, sha256 of each file

    DIR/.build.lock        flock held by the builder while it writes (builders are serialized)

A build writes a new generation folder, fsyncs it, verifies it with ``verify_index`` (the
check every loader makes), then swaps ``CURRENT``; a crash at any point leaves the
previous generation loadable (``CRASH_POINTS`` names the step boundaries tests kill at).
The manifest carries its own checksum. Disk full raises ``IndexWriteError`` and leaves
``CURRENT`` as it was. No pickle: FAISS's own format, .npy
arrays and JSON. Format 2 added the lexical files; format 1 indexes are refused with
the rebuild command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from embeddings.models import sha256_file

from .chunking import ChunkParams, chunk_articles
from .corpus import corpus_hash
from .errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from .lexical import DEFAULT_TOKENIZER, LEXICAL_FILES, TOKENIZERS, LexicalIndex
from .text import normalize
from .types import Article, Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
FILES = ("vectors.faiss", "chunks.jsonl", "articles.jsonl", *LEXICAL_FILES)
Progress = Callable[[int, int], None]
LOCK_FILE = ".build.lock"
# Step boundaries of a build, in order. ``NEWSQA_CRASH_AT=<step>`` kills the building
# process with SIGKILL at that boundary (tests/test_crash.py proves each one is safe).
CRASH_POINTS = (
    "locked", "tmp-created", "vectors-written", "chunks-written", "articles-written", "lexical-written",
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


def passage_text(article: Article, chunk_text: str) -> str:
    """What is embedded for a chunk: its article's title (and date) as context, then the text.

    The text is in its retrieval form (``qa.text.normalize``), as questions are, so a
    page in traditional characters or full-width digits meets a simplified question.
    """
    head = article.title + (f"（{article.date}）" if article.date else "")
    return normalize(f"{head}\n{chunk_text}")


def lexical_text(article: Article, chunk_text: str) -> str:
    """What a chunk is found by in the lexical index: its article's title, then its text (headlines count)."""
    return f"{article.title}\n{chunk_text}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


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
    embedder: Any,
    out_dir: Path,
    params: ChunkParams = ChunkParams(),
    progress: Progress | None = None,
    tokenizer: str = DEFAULT_TOKENIZER,
    reuse: bool = True,
) -> Path:
    """Chunk, embed and write a new index generation (vectors and BM25), then make it current.

    Args:
        articles: the corpus.
        embedder: an ``embeddings.encoder.Embedder``.
        out_dir: the index folder (created if missing).
        params: chunking parameters (in model tokens).
        progress: called with (chunks embedded, total chunks).
        tokenizer: the lexical tokenizer (``qa.lexical.TOKENIZERS``), recorded in the manifest.
        reuse: take unchanged passages' vectors from the live generation (same model and
            runtime, same embedded text) instead of embedding them again (``qa.incremental``).

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
    # BM25 (jieba, pinyin, bigrams: pure Python) is built in a thread while the embedder,
    # which releases the GIL in onnxruntime/torch, runs; it depends only on the chunks
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsqa-bm25") as pool:
        lexical_job = pool.submit(LexicalIndex.build, [lexical_text(by_id[c.article_id], c.text) for c in chunks], tokenizer)
        try:
            if reuse:
                from .incremental import embed_with_reuse

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

    from .ann import make_vector_index

    index, vector_index = make_vector_index(embedder.dim, len(chunks))
    index.add_with_ids(vecs, np.array([c.id for c in chunks], dtype=np.int64))
    info = {
        "t0": t0, "t_embed": t_embed, "params": params, "tokenizer": tokenizer,
        "lexical": lexical, "index": index, "chunks": chunks, "articles": articles, "identity": dict(embedder.identity),
        "dim": embedder.dim, "vector_index": vector_index, "vectors_reused": reuse_stats.reused if reuse_stats else 0,
    }
    with build_lock(out_dir):
        _crash_point("locked")
        _clean_orphans(out_dir)  # under the lock: never another builder's temp folder
        previous = _current_name(out_dir)
        try:
            gen = _write_generation(out_dir, info)
        except (OSError, RuntimeError) as e:  # disk full, file too large, read-only folder...
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
    _write_jsonl(tmp / "chunks.jsonl", [c.to_dict() for c in chunks])
    _crash_point("chunks-written")
    _write_jsonl(tmp / "articles.jsonl", [a.to_dict() for a in articles])
    _crash_point("articles-written")
    lexical.save(tmp)
    _crash_point("lexical-written")
    for name in ("vectors.faiss", *LEXICAL_FILES):
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
    verify_index(gen, identity=info["identity"])  # the same check every loader makes
    _crash_point("verified")
    _set_current(out_dir, gen.name)
    return gen


def _current_name(out_dir: Path) -> str | None:
    try:
        name = (out_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if name.startswith("gen-") and "/" not in name else None


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


def current_generation(index_dir: Path) -> Path:
    """The live generation folder of an index.

    Raises:
        IndexNotFoundError: when there is no index at ``index_dir``.
    """
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        if (index_dir / "manifest.json").is_file():  # a bare generation folder
            return index_dir
        raise IndexNotFoundError(f"no index at {index_dir}; build one with: newsqa index")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise IndexCorruptError(f"{pointer} is unreadable ({e})") from None
    gen = index_dir / name
    if not name.startswith("gen-") or "/" in name or not gen.is_dir():
        raise IndexCorruptError(f"{pointer} points at {gen.name}, which does not exist")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    """Read a generation's manifest, checking it has the sections loaders rely on."""
    try:
        m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{gen}: manifest.json is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise IndexCorruptError(f"{gen}: manifest.json is not valid JSON ({e})") from None
    required = {"format_version": int, "model": dict, "dim": int, "counts": dict, "files": dict, "corpus": dict}
    if not isinstance(m, dict) or any(not isinstance(m.get(k), t) for k, t in required.items()):
        raise IndexCorruptError(f"{gen}: manifest.json lacks one of {', '.join(required)}")
    return m


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without its own ``manifest_sha256`` field."""
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def verify_generation(gen: Path) -> dict[str, Any]:
    """Check a generation's files against its manifest (existence and sha256).

    Returns:
        The manifest.

    Raises:
        IndexCorruptError: naming the first file that disagrees.
    """
    manifest = read_manifest(gen)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{gen}: index format {manifest.get('format_version')} but this newsqa reads format {FORMAT_VERSION}; rebuild with: newsqa index"
        )
    if "manifest_sha256" not in manifest:
        raise IndexCorruptError(f"{gen}: manifest.json has no checksum (damaged, or built by an older newsqa); rebuild with: newsqa index")
    if manifest["manifest_sha256"] != manifest_digest(manifest):
        raise IndexCorruptError(f"{gen}: manifest.json does not match its own checksum (damaged or edited)")
    for name in FILES:
        p = gen / name
        if not p.is_file():
            raise IndexCorruptError(f"{gen}: {name} is missing")
        if sha256_file(p) != manifest["files"].get(name):
            raise IndexCorruptError(f"{gen}: {name} does not match the sha256 in manifest.json (damaged or edited)")
    return manifest


@dataclass(frozen=True)
class NewsIndex:
    """A loaded, verified index generation."""

    path: Path
    manifest: dict[str, Any]
    articles: dict[str, Article]
    chunks: tuple[Chunk, ...]
    vectors: Any  # faiss.Index
    lexical: LexicalIndex | None = None

    @property
    def tokenizer(self) -> str:
        return self.manifest.get("lexical", {}).get("tokenizer", DEFAULT_TOKENIZER)

    @property
    def size(self) -> int:
        return len(self.chunks)

    def search(self, query_vecs: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        """Top-k (chunk id, cosine) per query row; invalid ids (-1) never come back.

        Args:
            query_vecs: one query per row.
            k: how many per query.
            allowed: optional boolean mask over chunk ids; only those are searched.
        """
        import faiss

        q = self._check(query_vecs)
        k = max(1, min(int(k), self.size))
        if allowed is not None:
            ids = np.flatnonzero(allowed).astype(np.int64)
            if not len(ids):
                return [[] for _ in range(len(q))]
            sel = faiss.IDSelectorBatch(ids)
            scores, ids = self.vectors.search(q, min(k, len(ids)), params=faiss.SearchParameters(sel=sel))
        else:
            scores, ids = self.vectors.search(q, k)
        return [
            [(int(i), float(s)) for i, s in zip(row_ids, row_scores) if 0 <= i < self.size]
            for row_ids, row_scores in zip(ids, scores)
        ]

    def _check(self, query_vecs: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(query_vecs, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.manifest["dim"]:
            raise IndexMismatchError(f"query vectors have shape {q.shape}, index dimension is {self.manifest['dim']}")
        if not np.isfinite(q).all():
            raise IndexMismatchError("query vector contains NaN or infinity")
        return q

    def cosines(self, query_vec: np.ndarray, chunk_ids: Sequence[int]) -> list[float]:
        """The query's cosine with each given chunk (for hits found by the lexical side)."""
        q = self._check(query_vec[None, :])[0]
        return [float(self.vectors.reconstruct(int(i)) @ q) for i in chunk_ids]


def check_model(manifest: dict[str, Any], identity: dict[str, Any], where: Path) -> None:
    """Refuse an index built with another model or dimension, naming both sides."""
    built = manifest.get("model", {})
    if built.get("dim") != identity.get("dim") or manifest.get("dim") != identity.get("dim"):
        raise IndexMismatchError(
            f"index at {where} has dimension {manifest.get('dim')} (model {built.get('name')}) "
            f"but the query model {identity.get('name')} has dimension {identity.get('dim')}; "
            "rebuild with: newsqa index"
        )
    if built.get("name") != identity.get("name") or built.get("weights_sha256") != identity.get("weights_sha256"):
        raise IndexMismatchError(
            f"index at {where} was built with model {built.get('name')} (weights {str(built.get('weights_sha256'))[:12]}) "
            f"but the query model is {identity.get('name')} (weights {str(identity.get('weights_sha256'))[:12]}); "
            "use the same --model or rebuild with: newsqa index"
        )
    # query and index vectors must come from one runtime (int8 and fp32 vectors differ slightly)
    from embeddings.runtimes import export_of, runtime_of

    built_rt, query_rt = runtime_of(built), runtime_of(identity)
    if built_rt != query_rt:
        raise IndexMismatchError(
            f"index at {where} holds {built_rt} vectors but the query embedder runs {query_rt}; "
            f"set NEWSQA_EMBED_RUNTIME={built_rt} or rebuild with: newsqa index"
        )
    # ... and from one export of the model (two int8 exports' vectors differ slightly too)
    built_ex, query_ex = export_of(built), export_of(identity)
    if built_ex != query_ex:
        raise IndexMismatchError(
            f"index at {where} holds {built_rt} vectors from model export {built_ex} but this newsqa "
            f"embeds questions with export {query_ex}; rebuild the index with: newsqa index"
        )


def load_index(index_dir: Path, identity: dict[str, Any] | None = None) -> NewsIndex:
    """Load the current generation of an index; the same checks as ``verify_index``.

    Raises:
        IndexNotFoundError, IndexCorruptError, IndexMismatchError.
    """
    return verify_index(index_dir, identity)


def verify_index(index_dir: Path, identity: dict[str, Any] | None = None) -> NewsIndex:
    """The one index check, used by the builder before switching, by every loader and by the tests.

    Resolves ``CURRENT`` (or takes a generation folder), checks every file against the
    manifest's sha256 and the manifest's format, refuses another model or dimension when
    ``identity`` is given, then reads the files and checks they agree with each other
    (counts, dimensions, row alignment, article references).

    Args:
        index_dir: the index folder (or a generation folder).
        identity: the query model's identity; when given, a mismatch is refused naming both.

    Returns:
        The loaded index.

    Raises:
        IndexNotFoundError, IndexCorruptError, IndexMismatchError.
    """
    import faiss

    gen = current_generation(Path(index_dir))
    manifest = verify_generation(gen)
    if identity is not None:
        check_model(manifest, identity, Path(index_dir))
    try:
        vectors = faiss.read_index(str(gen / "vectors.faiss"))
        chunks = tuple(Chunk(**json.loads(l)) for l in (gen / "chunks.jsonl").read_text(encoding="utf-8").splitlines())
        arts = [Article.from_dict(json.loads(l)) for l in (gen / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
        lex_meta = manifest.get("lexical")
        if not isinstance(lex_meta, dict) or lex_meta.get("tokenizer") not in TOKENIZERS:
            raise IndexCorruptError(f"{gen}: manifest.json has no valid lexical section; rebuild with: newsqa index")
        lexical = LexicalIndex.load(gen, lex_meta["tokenizer"], len(chunks), pinyin=bool(lex_meta.get("pinyin", False)))
    except (RuntimeError, ValueError, TypeError, KeyError, OSError) as e:
        raise IndexCorruptError(f"{gen}: cannot read index files ({e})") from None
    counts = manifest.get("counts", {})
    if not (vectors.ntotal == len(chunks) == counts.get("chunks")) or len(arts) != counts.get("articles"):
        raise IndexCorruptError(
            f"{gen}: files disagree: {vectors.ntotal} vectors, {len(chunks)} chunks, {len(arts)} articles; "
            f"manifest says {counts.get('chunks')} chunks, {counts.get('articles')} articles"
        )
    if int(lexical.bm25.scores["num_docs"]) != len(chunks):
        raise IndexCorruptError(f"{gen}: the lexical index has {lexical.bm25.scores['num_docs']} rows, there are {len(chunks)} chunks")
    if vectors.d != manifest.get("dim"):
        raise IndexCorruptError(f"{gen}: vectors have dimension {vectors.d}, manifest says {manifest.get('dim')}")
    if any(c.id != i for i, c in enumerate(chunks)):
        raise IndexCorruptError(f"{gen}: chunks.jsonl rows are not aligned with their ids")
    articles = {a.id: a for a in arts}
    missing = {c.article_id for c in chunks} - articles.keys()
    if missing:
        raise IndexCorruptError(f"{gen}: chunks point at unknown articles {sorted(missing)[:3]}")
    return NewsIndex(gen, manifest, articles, chunks, vectors, lexical)
