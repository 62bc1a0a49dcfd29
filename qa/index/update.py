"""Incremental index updates (add files, remove articles) without re-embedding the archive."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence


from qa.errors import IndexNotFoundError, InputError
from qa.index.build import Progress, build_index
from qa.index.meta import META_FILE, MetaStore
from qa.index.store import current_generation, read_manifest, verify_generation
from qa.ingest.chunking import ChunkParams
from qa.types import Article

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

def current_articles(index_dir: Path) -> list[Article]:
    """The articles of an index's live generation, in index order.

    Raises:
        IndexNotFoundError: when there is no index to update.
    """
    gen = current_generation(Path(index_dir))
    verify_generation(gen)
    meta = MetaStore(gen / META_FILE)
    try:
        return list(meta.articles.values())
    finally:
        meta.close()


def updated_articles(old: Sequence[Article], add: Sequence[Article] = (), remove: Sequence[str] = ()) -> list[Article]:
    """The article list after an update: ``remove`` ids dropped, ``add`` appended (an added id replaces the old article in place).

    Raises:
        InputError: when an id to remove is not in the index, or nothing would be left.
    """
    ids = {a.id for a in old}
    unknown = [r for r in remove if r not in ids]
    if unknown:
        raise InputError(f"no article {', '.join(unknown[:5])} in the index")
    gone = set(remove)
    by_new = {a.id: a for a in add}
    kept = [by_new.pop(a.id, a) for a in old if a.id not in gone]
    result = kept + [a for a in add if a.id in by_new]
    if not result:
        raise InputError("the update would leave the index empty")
    return result


def update_index(index_dir: Path, embedder: "Embedder", add: Sequence[Article] = (), remove: Sequence[str] = (),
                 progress: Progress | None = None, **build_kwargs: Any) -> Path:
    """Add and remove articles, embedding only the new passages, and write a new generation.

    The result is what a full build over the updated article list gives: the same
    chunks, ids, vectors and BM25 index, because it is that build with every
    unchanged passage's vector taken from the live generation. Chunking parameters
    and the lexical tokenizer are the live generation's.

    Raises:
        IndexNotFoundError: when there is no index to update (build one with ``newsqa index``).
        InputError: for an unknown article id or an update that leaves nothing.
    """

    index_dir = Path(index_dir)
    try:
        manifest = read_manifest(current_generation(index_dir))
    except IndexNotFoundError:
        raise IndexNotFoundError(f"no index at {index_dir} to update; build one first with: newsqa index") from None
    articles = updated_articles(current_articles(index_dir), add, remove)
    ch = manifest.get("chunking", {})
    default = ChunkParams()
    params = ChunkParams(int(ch.get("chunk_size", default.chunk_size)), int(ch.get("chunk_overlap", default.chunk_overlap)))
    tok = manifest.get("lexical", {}).get("tokenizer")
    kwargs = {"params": params, **({"tokenizer": tok} if tok else {}), **build_kwargs}
    return build_index(articles, embedder, index_dir, progress=progress, **kwargs)
