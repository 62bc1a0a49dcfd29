"""The on-disk index: FAISS vectors, row-aligned JSONL metadata and a manifest that describes them.

Layout of an index folder::

    DIR/CURRENT            name of the live generation (replaced atomically)
    DIR/gen-<stamp>/       one complete build
        vectors.faiss      IndexIDMap2(IndexFlatIP, or HNSW above qa.index.ann.flat_max()): ids are chunk ids
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

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.index import safe_io
from qa.lexical.bm25 import DEFAULT_TOKENIZER, LEXICAL_FILES, TOKENIZERS, LexicalIndex
from qa.text import normalize
from qa.types import Article, Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
FILES = ("vectors.faiss", "chunks.jsonl", "articles.jsonl", *LEXICAL_FILES)
# what a generation folder may be called: the builder writes gen-NNNNNN; no dots, no slashes
GEN_NAME = re.compile(r"gen-[0-9A-Za-z_-]{1,64}")


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


def _read_current(pointer: Path) -> str:
    """The stripped content of a ``CURRENT`` file (bounded, regular file only)."""
    return safe_io.read_text(pointer, safe_io.CURRENT_MAX).strip()


def current_name(out_dir: Path) -> str | None:
    """The generation ``CURRENT`` names, or None when it is missing, unreadable or not a generation name."""
    try:
        name = _read_current(out_dir / "CURRENT")
    except (OSError, IndexCorruptError):
        return None
    return name if GEN_NAME.fullmatch(name) else None


def current_generation(index_dir: Path) -> Path:
    """The live generation folder of an index.

    Raises:
        IndexNotFoundError: when there is no index at ``index_dir``.
        IndexCorruptError: when ``CURRENT`` is missing beside generation folders, unreadable,
            not a generation name, or names a folder that does not exist.
    """
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    if not pointer.exists() and not pointer.is_symlink():
        if os.path.lexists(index_dir / "manifest.json"):  # a bare generation folder
            return index_dir
        gens = sorted(p.name for p in index_dir.glob("gen-*") if p.is_dir() and GEN_NAME.fullmatch(p.name))
        if gens:
            raise IndexCorruptError(
                f"{pointer} is missing but {len(gens)} generation folder(s) exist (latest {gens[-1]}); "
                f"point it at one with: echo {gens[-1]} > {pointer}, or rebuild with: newsqa index"
            )
        raise IndexNotFoundError(f"no index at {index_dir}; build one with: newsqa index")
    try:
        name = _read_current(pointer)
    except FileNotFoundError as e:
        raise IndexCorruptError(f"{pointer} is unreadable ({e})") from None
    if not GEN_NAME.fullmatch(name):
        raise IndexCorruptError(
            f"{pointer} holds {name[:80]!r}, which is not a valid generation name (gen-NNNNNN); rebuild with: newsqa index"
        )
    gen = index_dir / name
    if not gen.is_dir():
        raise IndexCorruptError(f"{pointer} points at {name}, which does not exist")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    """Read a generation's manifest, checking it has the sections loaders rely on."""
    try:
        m = json.loads(safe_io.read_text(gen / "manifest.json", safe_io.MANIFEST_MAX))
    except FileNotFoundError:
        raise IndexCorruptError(f"{gen}: manifest.json is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise IndexCorruptError(f"{gen}: manifest.json is not valid JSON ({e})") from None
    required = {"format_version": int, "model": dict, "dim": int, "counts": dict, "files": dict, "corpus": dict}
    if not isinstance(m, dict) or any(not isinstance(m.get(k), t) for k, t in required.items()):
        raise IndexCorruptError(f"{gen}: manifest.json lacks one of {', '.join(required)}")
    return m


def file_limit(manifest: dict[str, Any], name: str) -> int:
    """The most bytes an index file may have: its size recorded in the manifest, else a fixed cap."""
    size = manifest.get("sizes", {}).get(name) if isinstance(manifest.get("sizes"), dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else safe_io.FILE_MAX


def read_rows(gen: Path, name: str, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON rows of a generation's JSONL file, read within its size limit.

    Raises:
        IndexCorruptError: for a missing, non-regular, oversized or undecodable file.
        ValueError: for a line that is not JSON.
    """
    try:
        text = safe_io.read_text(gen / name, file_limit(manifest, name))
    except FileNotFoundError:
        raise IndexCorruptError(f"{gen}: {name} is missing") from None
    return [json.loads(line) for line in text.splitlines()]


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
        try:
            digest = safe_io.sha256(gen / name, file_limit(manifest, name))
        except FileNotFoundError:
            raise IndexCorruptError(f"{gen}: {name} is missing") from None
        if digest != manifest["files"].get(name):
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
        chunks = tuple(Chunk(**row) for row in read_rows(gen, "chunks.jsonl", manifest))
        arts = [Article.from_dict(row) for row in read_rows(gen, "articles.jsonl", manifest)]
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
