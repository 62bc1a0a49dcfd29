"""Vector reuse by content hash: a build takes unchanged passages' vectors from the live generation."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from qa.errors import NewsQAError
from qa.index import safe_io
from qa.index.store import current_generation, file_limit, passage_text, read_manifest
from qa.types import Article

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def text_key(text: str) -> bytes:
    """The content key of an embedded passage: sha256 of its exact embedded text."""
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class ReuseStats:
    """How many passage vectors a build took from the previous generation."""

    reused: int
    embedded: int


def previous_vectors(out_dir: Path, identity: dict[str, Any]) -> dict[bytes, np.ndarray]:
    """Vectors of the live generation at ``out_dir``, keyed by the hash of their embedded text.

    Only a generation built by the same model identity (name, weights, dimension,
    runtime and export) is used; anything else (no index, another model, a damaged index)
    gives an empty map, so the build embeds everything.
    """
    try:
        gen = current_generation(Path(out_dir))
        manifest = read_manifest(gen)
    except NewsQAError:
        return {}
    from embeddings.runtimes import export_of, runtime_of

    built = manifest.get("model", {})
    if any(built.get(k) != identity.get(k) for k in ("name", "dim", "weights_sha256")) or \
            runtime_of(built) != runtime_of(identity) or export_of(built) != export_of(identity):
        log.info("previous generation %s was built by another model, runtime or export: embedding everything", gen.name)
        return {}
    try:
        import faiss

        from qa.index.meta import META_FILE, MetaStore

        if any(safe_io.sha256(gen / name, file_limit(manifest, name)) != manifest["files"].get(name)
               for name in ("vectors.faiss", META_FILE)):
            return {}
        index = faiss.read_index(str(gen / "vectors.faiss"))
        meta = MetaStore(gen / META_FILE)
        try:
            if index.ntotal != len(meta.chunks):
                return {}
            vecs = stored_vectors(index)
            out: dict[bytes, np.ndarray] = {}
            title_of: tuple[str, Article | None] = ("", None)
            for c in meta.chunks:  # streamed in id order; an article's chunks are consecutive
                if title_of[0] != c.article_id:
                    title_of = (c.article_id, meta.articles[c.article_id])
                out[text_key(passage_text(title_of[1], c.text))] = vecs[c.id]
        finally:
            meta.close()
    except (NewsQAError, OSError, RuntimeError, ValueError, TypeError, KeyError) as e:
        log.info("previous generation %s unreadable for reuse (%s): embedding everything", gen.name, e)
        return {}
    return out


def stored_vectors(index: Any) -> np.ndarray:
    """All vectors of an ``IndexIDMap2`` (over a flat or HNSW-flat index), row i holding id i."""
    import faiss

    inner = faiss.downcast_index(index.index)
    ids = faiss.vector_to_array(index.id_map)
    out = np.zeros((index.ntotal, index.d), dtype=np.float32)
    out[ids] = inner.reconstruct_n(0, inner.ntotal)
    return out


def embed_with_reuse(texts: Sequence[str], embedder: "Embedder", out_dir: Path, progress: Progress | None = None) -> tuple[np.ndarray, ReuseStats]:
    """Embed passages, taking each unchanged one's vector from the previous generation instead of the model.

    Args:
        texts: the passages, as embedded (``qa.index.store.passage_text``).
        embedder: the build's embedder.
        out_dir: the index folder whose live generation may hold vectors to reuse.
        progress: called with (done, total) as new passages are embedded.

    Returns:
        (vectors row-aligned with ``texts``, how many were reused and embedded).
    """
    old = previous_vectors(out_dir, dict(embedder.identity))
    keys = [text_key(t) for t in texts]
    missing = [i for i, k in enumerate(keys) if k not in old]
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in old:
            out[i] = old[k]
    if missing:
        new = embedder.embed_passages([texts[i] for i in missing], progress=progress)
        if new.shape != (len(missing), embedder.dim):
            return new, ReuseStats(0, len(missing))  # the caller's shape check reports it
        out[missing] = new
    elif progress:
        progress(len(texts), len(texts))
    if old:
        log.info("reused %d of %d passage vectors from the previous generation", len(texts) - len(missing), len(texts))
    return out, ReuseStats(len(texts) - len(missing), len(missing))




@dataclass(frozen=True)
class FolderChanges:
    """How an archive folder changed since the live generation was built from it (by file content hash)."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int

    def summary(self) -> str:
        """e.g. ``2 new, 1 changed, 1 removed (2023-05-24/03.txt), 40 unchanged files``."""
        def part(n: int, word: str, names: tuple[str, ...]) -> str:
            shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
            return f"{n} {word}" + (f" ({shown})" if names else "")
        return ", ".join([part(len(self.added), "new", self.added), part(len(self.changed), "changed", self.changed),
                          part(len(self.removed), "removed", self.removed), f"{self.unchanged} unchanged files"])


def previous_files(out_dir: Path) -> dict[str, str] | None:
    """The archive files (source -> sha256) the live generation at ``out_dir`` was built from; None when unknown."""
    try:
        files = read_manifest(current_generation(Path(out_dir))).get("corpus", {}).get("files")
    except NewsQAError:
        return None
    return dict(files) if isinstance(files, dict) else None


def folder_changes(old: dict[str, str], new: dict[str, str]) -> FolderChanges:
    """Compare two builds' file maps (source -> sha256).

    Args:
        old: the live generation's files (``previous_files``).
        new: the archive's files now (``qa.ingest.corpus.Corpus.files``).

    Returns:
        Files added, changed (same name, other content) and removed, and how many are unchanged.
    """
    added = tuple(sorted(s for s in new if s not in old))
    changed = tuple(sorted(s for s in new if s in old and old[s] != new[s]))
    removed = tuple(sorted(s for s in old if s not in new))
    return FolderChanges(added, changed, removed, sum(1 for s in new if old.get(s) == new[s]))
