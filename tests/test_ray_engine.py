"""The Ray engine: a local Ray cluster on loopback embeds with map_batches over actors and writes the same index."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from embeddings.encoder import HashingEmbedder
from qa.ingest.chunking import ChunkParams
from qa.index.build import build_index
from qa.index.store import current_generation

PARAMS = ChunkParams(chunk_size=120, chunk_overlap=20)


def test_importing_the_engine_does_not_import_ray():
    code = "import qa.index.ray_engine, newsqa.cli, sys; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ}).returncode == 0


def test_ray_build_is_identical_to_the_single_process_build(tmp_path, seed_articles, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # read when ray is imported: without it a local Ray listens on every interface
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = pytest.importorskip("ray")
    from qa.index.ray_engine import RayEmbedder, init_ray

    init_ray(num_cpus=2)
    try:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        emb = RayEmbedder(HashingEmbedder(dim=256), actors=2, batch_size=16)
        build_index(seed_articles, emb, tmp_path / "ray", PARAMS, reuse=False)
    finally:
        ray.shutdown()
    build_index(seed_articles, HashingEmbedder(dim=256), tmp_path / "local", PARAMS)
    ma, mb = (json.loads((current_generation(tmp_path / d) / "manifest.json").read_text()) for d in ("ray", "local"))
    assert ma["files"] == mb["files"]  # same vectors, chunks, articles and BM25, byte for byte
    assert ma["model"] == mb["model"] and ma["counts"] == mb["counts"]


def test_engine_refuses_an_embedder_it_cannot_ship():
    from qa.index.ray_engine import RayEmbedder

    with pytest.raises(TypeError, match="cannot ship"):
        RayEmbedder(object())
