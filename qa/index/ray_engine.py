"""Batch embedding on Ray: Ray Data ``map_batches`` over an actor pool, behind the ordinary embedder interface (ray imported lazily).

``newsqa index --engine ray`` wraps the chosen embedder in ``RayEmbedder``; the build is
otherwise the single-process one, so the index format is the same. Locally a Ray
instance is started on loopback; with ``RAY_ADDRESS`` set (e.g. ``ray://head:10001`` or
``auto`` on a cluster node) it joins that cluster instead, and each worker loads the
model from the same path (install it on every node with ``newsqa models install``).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)


def embedder_spec(embedder: Any) -> tuple[str, dict[str, Any]]:
    """A small picklable description from which a Ray worker rebuilds the embedder.

    Raises:
        TypeError: for an embedder kind the workers cannot rebuild.
    """
    from embeddings.encoder import HashingEmbedder, SentenceTransformerEmbedder

    if isinstance(embedder, HashingEmbedder):
        return "hashing", {"dim": embedder.dim, "name": embedder.name}
    if isinstance(embedder, SentenceTransformerEmbedder):  # OnnxEmbedder included
        from embeddings.runtimes import runtime_of

        return "model", {"path": str(embedder.path), "name": embedder.name, "runtime": runtime_of(embedder.identity)}
    raise TypeError(f"the Ray engine cannot ship a {type(embedder).__name__} to its workers")


def embedder_from_spec(kind: str, kwargs: dict[str, Any]) -> Any:
    """Rebuild an embedder from ``embedder_spec``'s description (runs on a Ray worker)."""
    if kind == "hashing":
        from embeddings.encoder import HashingEmbedder

        return HashingEmbedder(**kwargs)
    from embeddings.runtimes import make_embedder

    return make_embedder(kwargs["path"], kwargs["name"], kwargs["runtime"])


class _EmbedActor:
    """One model per actor, loaded once, embedding the batches Ray Data hands it."""

    def __init__(self, kind: str, kwargs: dict[str, Any]) -> None:
        self.embedder = embedder_from_spec(kind, kwargs)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vecs = self.embedder.embed_passages(list(batch["text"]))
        return {"row": batch["row"], "vector": [v for v in vecs]}


def import_ray() -> Any:
    """Import ray, first setting ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (read at import) so a local Ray binds loopback only."""
    if not os.environ.get("RAY_ADDRESS"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    return ray


def init_ray(num_cpus: int | None = None) -> None:
    """Join ``$RAY_ADDRESS`` if set, else start a local Ray bound to 127.0.0.1 (no dashboard)."""
    ray = import_ray()
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)


class RayEmbedder:
    """An embedder whose ``embed_passages`` runs on Ray; queries and identity are the wrapped embedder's.

    Args:
        inner: the embedder the workers rebuild (same model, same runtime, so the same vectors).
        actors: size of the actor pool (default: the cluster's CPUs, at least 1).
        batch_size: passages per batch sent to an actor.
        cpus_per_actor: CPUs each actor reserves.
    """

    def __init__(self, inner: Any, actors: int | None = None, batch_size: int = 64, cpus_per_actor: float = 1.0) -> None:
        self.inner = inner
        self.spec = embedder_spec(inner)
        self.actors = actors
        self.batch_size = batch_size
        self.cpus_per_actor = cpus_per_actor

    @property
    def identity(self) -> dict[str, Any]:
        return self.inner.identity

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        """Embed passages with Ray Data ``map_batches`` over an actor pool; rows come back in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ray = import_ray()
        init_ray()
        actors = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_actor))
        ds = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
        ds = ds.map_batches(
            _EmbedActor, fn_constructor_args=self.spec, batch_size=self.batch_size,
            concurrency=actors, num_cpus=self.cpus_per_actor, batch_format="numpy",
        )
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        done = 0
        for batch in ds.iter_batches(batch_size=self.batch_size, batch_format="numpy"):
            rows = np.asarray(batch["row"], dtype=np.int64)
            out[rows] = np.stack(batch["vector"]).astype(np.float32)
            done += len(rows)
            if progress:
                progress(done, len(texts))
        if done != len(texts):
            from qa.errors import IndexMismatchError

            raise IndexMismatchError(f"Ray returned {done} vectors for {len(texts)} passages")
        return out
