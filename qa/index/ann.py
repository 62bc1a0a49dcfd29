"""Vector index type by size: exact flat inner product below a threshold, HNSW (flat storage, so exact reconstruct) above."""

from __future__ import annotations

import os
from typing import Any

from qa.settings import env_int

# exact search costs about 10 ms per query at 100k vectors of dim 384 on one core here
# (87 ms at 1M); HNSW32 stays under 1 ms. Below this size exact search is cheap enough.
DEFAULT_FLAT_MAX = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200  # a better graph: recall holds at a small efSearch (bench/RESULTS.md)
HNSW_EF_SEARCH = 128  # the recall/latency trade-off behind it: bench/RESULTS.md (bench/scale.py)
KINDS = ("flat", "hnsw")


def flat_max() -> int:
    """``$NEWSQA_FLAT_MAX`` or 100000: the largest index built as exact flat search."""
    return env_int("NEWSQA_FLAT_MAX", DEFAULT_FLAT_MAX)


def choose_kind(n: int, kind: str | None = None) -> str:
    """"flat" up to ``flat_max()`` vectors, else "hnsw"; ``kind`` (or ``$NEWSQA_VECTOR_INDEX``) forces one.

    Raises:
        ValueError: for an unknown kind.
    """
    kind = kind or (os.environ.get("NEWSQA_VECTOR_INDEX") or "").strip().lower() or None
    if kind is None:
        return "flat" if n <= flat_max() else "hnsw"
    if kind not in KINDS:
        raise ValueError(f"vector index kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def make_vector_index(dim: int, n: int, kind: str | None = None) -> tuple[Any, dict[str, Any]]:
    """An empty ``IndexIDMap2`` for ``n`` unit vectors of ``dim`` (inner product = cosine), and its description.

    Returns:
        (faiss index, {"kind", and for HNSW "M", "ef_construction", "ef_search"}) for the manifest.
    """
    import faiss

    kind = choose_kind(n, kind)
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), {"kind": "flat"}
    inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    inner.hnsw.efSearch = HNSW_EF_SEARCH  # saved in the index file
    return faiss.IndexIDMap2(inner), {"kind": "hnsw", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH}
