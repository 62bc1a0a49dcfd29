"""Embedders: the Protocol, the sentence-transformers implementation and a hashing fake."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from embeddings.models import sha256_file

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from an embedding model."""

    @property
    def identity(self) -> dict[str, Any]:
        """Model name, dimension and weights hash, recorded in (and checked against) the index manifest."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder, loaded on first use.

    Construction reads only small JSON files, so it is cheap; ``import
    sentence_transformers`` (about 12 s here) happens in ``warm_up()``.
    """

    def __init__(self, path: Path | str, *, name: str | None = None, batch_size: int = 32) -> None:
        self.path = Path(path)
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise FileNotFoundError(f"{self.path} is not a sentence-transformers model folder")
        self.name = name or self.path.name
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._identity: dict[str, Any] | None = None
        st_cfg = self._json("config_sentence_transformers.json")
        self.prompts: dict[str, str] = st_cfg.get("prompts") or {}
        self._max_tokens = int(self._json("sentence_bert_config.json").get("max_seq_length") or 512)

    def _json(self, name: str) -> dict[str, Any]:
        p = self.path / name
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}

    @property
    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            meta = self._json("newsqa-model.json")
            weights = meta.get("weights_sha256")
            if not weights:
                files = sorted(self.path.glob("*.safetensors")) or sorted(self.path.glob("*.bin"))
                weights = hashlib.sha256("".join(sha256_file(f) for f in files).encode()).hexdigest()
            self._identity = {"name": self.name, "dim": self.dim, "weights_sha256": weights}
        return self._identity

    @property
    def dim(self) -> int:
        pooling = self._json("1_Pooling/config.json")
        if "word_embedding_dimension" in pooling:
            return int(pooling["word_embedding_dimension"])
        return int(self._json("config.json")["hidden_size"])

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def tokenizer(self) -> Any:
        """The model's fast tokenizer (``tokenizers.Tokenizer``, no torch), loaded once per embedder.

        Loading ``tokenizer.json`` costs about half a second for this model's vocabulary,
        so chunking and the ONNX runtime share this one copy. It has no truncation or
        padding set.
        """
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    from tokenizers import Tokenizer

                    self._tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens (uses the fast tokenizer only, no torch)."""
        return len(self.tokenizer().encode(text, add_special_tokens=False).ids)

    def warm_up(self) -> None:
        """Load the model (imports torch and sentence-transformers)."""
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights are local; never reach for a hub
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar in a user's terminal
                log.info("loading embedding model from %s", self.path)
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        self.warm_up()
        vecs = self._model.encode(  # type: ignore[union-attr]
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            normalize_embeddings=True,  # unit vectors: inner product = cosine
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed passages in batches, reporting progress after each batch."""
        prompt = self.prompts.get("passage", "")
        out = []
        step = self.batch_size * 4
        for i in range(0, len(texts), step):
            out.append(self._encode(texts[i : i + step], prompt))
            if progress:
                progress(min(i + step, len(texts)), len(texts))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts.get("query", ""))


class Bf16SentenceTransformerEmbedder(SentenceTransformerEmbedder):
    """The same model under ``torch.autocast(bfloat16)`` on the CPU (AMX/AVX-512 BF16 kernels where the CPU has them).

    Fast only on CPUs with BF16 instructions (figures in bench/RESULTS.md). The identity
    adds ``runtime: torch-bf16``.
    """

    runtime = "torch-bf16"

    @property
    def identity(self) -> dict[str, Any]:
        return {**super().identity, "runtime": self.runtime}

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        self.warm_up()
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            vecs = super()._encode(texts, prompt)
        n = np.linalg.norm(vecs, axis=1, keepdims=True)  # renormalize after bf16 pooling
        return np.ascontiguousarray(vecs / np.maximum(n, 1e-12), dtype=np.float32)


class HashingEmbedder:
    """Deterministic bag-of-character-n-grams embedder for tests (not a product default).

    Buckets come from blake2b, never Python's per-process ``hash()``, so vectors are
    identical across runs and machines.
    """

    def __init__(self, dim: int = 256, name: str = "hashing-test") -> None:
        self._dim = dim
        self.name = name

    @property
    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self._dim, "weights_sha256": f"hashing-{self._dim}"}

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return 512

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        t = re.sub(r"\s+", "", text.lower())
        grams = [t[i : i + n] for n in (1, 2) for i in range(len(t) - n + 1)]
        for g in grams:
            d = hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest()
            idx = int.from_bytes(d[:4], "little") % self._dim
            v[idx] += 1.0 if d[4] & 1 else -1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)
        if progress:
            progress(len(texts), len(texts))
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)
