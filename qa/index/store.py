"""The on-disk index: FAISS vectors, SQLite metadata read on demand, and a manifest that describes them.

Layout of an index folder::

    DIR/CURRENT            name of the live generation (replaced atomically)
    DIR/gen-<stamp>/       one complete build
        vectors.faiss      IndexIDMap2(IndexFlatIP, or HNSW above qa.index.ann.flat_max()): ids are chunk ids;
                           memory-mapped when opened (FAISS's IO_FLAG_MMAP_IFC)
        meta.sqlite        articles (bodies), chunks (article and offsets; id = vector id) and
                           the answerer's gram counts (``qa.index.meta``), read on demand
        bm25.*.npy         the lexical index (bm25s CSC score matrix, saved with allow_pickle=False)
        bm25.vocab.sqlite  its token → column map (read per token); bm25.params.json its BM25 parameters
        manifest.json      format, model identity, dimension, chunking, tokenizer, counts,
                           sha256, size and sampled sha256 of each file

    DIR/.build.lock        flock held by the builder while it writes (builders are serialized)

A build writes a new generation folder, fsyncs it, verifies it fully with ``verify_index``
(every byte of every file against its sha256, every chunk row against its article), then
swaps ``CURRENT``; a crash at any point leaves the previous generation loadable
(``CRASH_POINTS`` names the step boundaries tests kill at). The manifest carries its own
checksum. Disk full raises ``IndexWriteError`` and leaves ``CURRENT`` as it was. No pickle:
FAISS's own format, SQLite, .npy arrays and JSON.

Opening checks less, so a million-chunk index opens in about a second: files up to
``FULL_HASH_MAX`` bytes (the manifest, small indexes' files) are hashed whole; bigger ones
(vectors, metadata, BM25 matrix of a large archive) by their size and the sha256 of
``SAMPLES`` blocks spread over the file (``sampled_sha256``). Hashing multi-GB files on
every open would cost seconds each time, while the damage that happens to files at rest
(truncation, a lost or zeroed tail, a copy cut short, a file swapped in from another
build) changes the size or the sampled blocks. A flipped byte between samples is found by
``newsqa info --verify`` (the full check, also made by every build before it switches),
and SQLite pages that do not parse raise ``IndexCorruptError`` when read.

Format 3 replaced format 2's ``articles.jsonl`` and ``chunks.jsonl`` (loaded whole) with
``meta.sqlite``; format 1 and 2 indexes are refused with the rebuild command.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.index import safe_io
from qa.index.meta import META_FILE, MetaStore
from qa.lexical.bm25 import DEFAULT_TOKENIZER, LEXICAL_FILES, TOKENIZERS, LexicalIndex
from qa.text import normalize
from qa.types import Article, Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
FILES = ("vectors.faiss", META_FILE, *LEXICAL_FILES)
# what a generation folder may be called: the builder writes gen-NNNNNN; no dots, no slashes
GEN_NAME = re.compile(r"gen-[0-9A-Za-z_-]{1,64}")
FULL_HASH_MAX = 64 << 20  # files up to this size are hashed whole on every open
SAMPLES = 64  # blocks hashed in a bigger file on open
_BLOCK = 64 << 10


def sampled_sha256(path: Path) -> str:
    """sha256 of a file's size and ``SAMPLES`` blocks of it at evenly spaced offsets (first and last included)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        last = max(size - _BLOCK, 0)
        for i in range(SAMPLES):
            f.seek(last * i // (SAMPLES - 1))
            h.update(f.read(_BLOCK))
    return h.hexdigest()


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


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without its own ``manifest_sha256`` field."""
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def verify_generation(gen: Path, full: bool = True) -> dict[str, Any]:
    """Check a generation's files against its manifest.

    Args:
        gen: the generation folder.
        full: hash every file whole; otherwise files above ``FULL_HASH_MAX`` bytes are checked by
            size and sampled sha256 (the open-time check; see the module docstring).

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
    # sizes and sampled hashes are absent only from a hand-edited manifest: then every file is hashed whole
    sizes = manifest["sizes"] if isinstance(manifest.get("sizes"), dict) else {}
    sampled = manifest["sampled_sha256"] if isinstance(manifest.get("sampled_sha256"), dict) else {}
    for name in FILES:
        p = gen / name
        limit = file_limit(manifest, name)
        try:
            size = safe_io.check_file(p, limit)  # a regular file, no symlink, within its recorded size
        except FileNotFoundError:
            raise IndexCorruptError(f"{gen}: {name} is missing") from None
        if name in sizes and size != sizes[name]:
            raise IndexCorruptError(f"{gen}: {name} has {size} bytes, manifest.json says {sizes[name]} (damaged or edited)")
        if full or size <= FULL_HASH_MAX or name not in sampled:
            ok = safe_io.sha256(p, limit) == manifest["files"].get(name)
        else:
            ok = sampled_sha256(p) == sampled[name]
        if not ok:
            raise IndexCorruptError(f"{gen}: {name} does not match the sha256 in manifest.json (damaged or edited)")
    return manifest


@dataclass(frozen=True)
class NewsIndex:
    """A loaded, verified index generation; ``articles`` and ``chunks`` read ``meta.sqlite`` on demand."""

    path: Path
    manifest: dict[str, Any]
    articles: Mapping[str, Article]
    chunks: Sequence[Chunk]
    vectors: Any  # faiss.Index
    lexical: LexicalIndex | None = None
    meta: MetaStore | None = None

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



def verify_index(index_dir: Path, identity: dict[str, Any] | None = None, full: bool = False) -> NewsIndex:
    """The one index check, used by the builder before switching, by every loader and by the tests.

    Resolves ``CURRENT`` (or takes a generation folder), checks every file against the
    manifest and the manifest's format, refuses another model or dimension when
    ``identity`` is given, then opens the files and checks they agree with each other
    (counts, dimensions; with ``full``, every chunk row against its article).

    Args:
        index_dir: the index folder (or a generation folder).
        identity: the query model's identity; when given, a mismatch is refused naming both.
        full: hash every file whole and check every metadata row (the build's check before it
            switches, and ``newsqa info --verify``); otherwise the open-time check (module docstring).

    Returns:
        The loaded index.

    Raises:
        IndexNotFoundError, IndexCorruptError, IndexMismatchError.
    """
    import faiss

    gen = current_generation(Path(index_dir))
    manifest = verify_generation(gen, full=full)
    if identity is not None:
        check_model(manifest, identity, Path(index_dir))
    meta = MetaStore(gen / META_FILE)
    try:
        # mapped, not copied: opening costs no read of the vectors, and their pages are the page cache's
        vectors = faiss.read_index(str(gen / "vectors.faiss"), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        n_chunks, n_articles = len(meta.chunks), len(meta.articles)
        lex_meta = manifest.get("lexical")
        if not isinstance(lex_meta, dict) or lex_meta.get("tokenizer") not in TOKENIZERS:
            raise IndexCorruptError(f"{gen}: manifest.json has no valid lexical section; rebuild with: newsqa index")
        lexical = LexicalIndex.load(gen, lex_meta["tokenizer"], n_chunks, pinyin=bool(lex_meta.get("pinyin", False)))
        counts = manifest.get("counts", {})
        if not (vectors.ntotal == n_chunks == counts.get("chunks")) or n_articles != counts.get("articles"):
            raise IndexCorruptError(
                f"{gen}: files disagree: {vectors.ntotal} vectors, {n_chunks} chunks, {n_articles} articles; "
                f"manifest says {counts.get('chunks')} chunks, {counts.get('articles')} articles"
            )
        if int(lexical.bm25.scores["num_docs"]) != n_chunks:
            raise IndexCorruptError(f"{gen}: the lexical index has {lexical.bm25.scores['num_docs']} rows, there are {n_chunks} chunks")
        if vectors.d != manifest.get("dim"):
            raise IndexCorruptError(f"{gen}: vectors have dimension {vectors.d}, manifest says {manifest.get('dim')}")
        if full:
            meta.check()
    except (RuntimeError, ValueError, TypeError, KeyError, OSError) as e:
        meta.close()
        raise IndexCorruptError(f"{gen}: cannot read index files ({e})") from None
    except BaseException:
        meta.close()
        raise
    return NewsIndex(gen, manifest, meta.articles, meta.chunks, vectors, lexical, meta)
