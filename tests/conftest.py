"""Shared fixtures: the seed corpus, a deterministic fake embedder and a small index built from both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Unit tests answer extractively unless a test passes generator= explicitly, so an
# installed LLM never makes them slow; the generative tests opt in.
os.environ["NEWSQA_GENERATOR"] = "none"

from embeddings.encoder import HashingEmbedder
from qa.api import clear_cache
from qa.ingest.chunking import ChunkParams
from qa.ingest.corpus import load_articles
from qa.index.build import build_index

SEED_DIR = Path(__file__).parent.parent / "corpus" / "raw"
# HashingEmbedder counts characters as tokens, so these sizes are in characters.
SMALL_PARAMS = ChunkParams(chunk_size=120, chunk_overlap=20)


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    assert SEED_DIR.is_dir(), f"seed corpus missing at {SEED_DIR}"
    return SEED_DIR


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=256)


@pytest.fixture(scope="session")
def seed_articles(seed_dir):
    return load_articles([seed_dir])


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, seed_articles) -> Path:
    """An index folder built once per session from the seed corpus with HashingEmbedder(dim=256).

    Tests must not modify it; copy it first (see ``index_copy`` in test_index.py).
    """
    out = tmp_path_factory.mktemp("small_index")
    build_index(seed_articles, HashingEmbedder(dim=256), out, SMALL_PARAMS)
    return out


class ScriptedGenerator:
    """A generator that streams one fixed reply and counts its calls (a deterministic stand-in for the LLM)."""

    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply, self.calls = reply, 0

    def stream(self, messages, *, max_tokens=160, temperature=0.0):
        self.calls += 1
        yield self.reply


@pytest.fixture(autouse=True)
def _clear_pipeline_cache():
    yield
    clear_cache()


@pytest.fixture(scope="session")
def real_embedder():
    """The installed multilingual-e5-small (setup.sh runs `newsqa models install`)."""
    from embeddings.models import ModelError
    from qa.api import load_embedder
    from qa.errors import ModelNotInstalledError

    try:
        emb = load_embedder(None)
    except (ModelNotInstalledError, ModelError) as e:  # pragma: no cover - setup problem, not a pass
        pytest.fail(f"default model not installed: {e}")
    emb.warm_up()
    return emb


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, real_embedder):
    out = tmp_path_factory.mktemp("real-index")
    build_index(load_articles([SEED_DIR]), real_embedder, out)
    return out
