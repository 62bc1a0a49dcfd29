"""Embedding runtimes (onnx-int8, torch-fp32): which one is the default and how to make an embedder for one."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from embeddings.runtime_names import (  # noqa: F401 - re-exported names
    LEGACY_ONNX_EXPORT,
    RUNTIME_ONNX_INT8,
    RUNTIME_TORCH_BF16,
    RUNTIME_TORCH_FP32,
    RUNTIMES,
)


def runtime_of(identity: dict[str, Any]) -> str:
    """The runtime an identity (or a manifest's ``model`` section) names; older indexes have none: torch-fp32."""
    return str(identity.get("runtime") or RUNTIME_TORCH_FP32)


def export_of(identity: dict[str, Any]) -> str | None:
    """The model export an identity (or a manifest's ``model`` section) names.

    Only onnx-int8 runs an export; its indexes from before the version was recorded
    come from ``LEGACY_ONNX_EXPORT``. Other runtimes run the weights as they are: None.
    """
    if runtime_of(identity) != RUNTIME_ONNX_INT8:
        return None
    return str(identity.get("export") or LEGACY_ONNX_EXPORT)


def default_runtime() -> str:
    """``$NEWSQA_EMBED_RUNTIME``, else onnx-int8 when onnxruntime is installed, else torch-fp32.

    Raises:
        ValueError: for an unknown runtime name in the environment.
    """
    env = (os.environ.get("NEWSQA_EMBED_RUNTIME") or "").strip().lower()
    if env:
        if env not in RUNTIMES:
            raise ValueError(f"NEWSQA_EMBED_RUNTIME must be one of {', '.join(RUNTIMES)}, got {env!r}")
        return env
    try:
        has_ort = importlib.util.find_spec("onnxruntime") is not None
    except ValueError:
        has_ort = False
    return RUNTIME_ONNX_INT8 if has_ort else RUNTIME_TORCH_FP32


def make_embedder(path: Path | str, name: str | None, runtime: str | None = None) -> Any:
    """An embedder for a sentence-transformers folder on the given runtime (default: ``default_runtime()``).

    Raises:
        ValueError: for an unknown runtime.
    """
    runtime = runtime or default_runtime()
    if runtime == RUNTIME_ONNX_INT8:
        from embeddings.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(path, name=name)
    if runtime == RUNTIME_TORCH_FP32:
        from embeddings.encoder import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(path, name=name)
    if runtime == RUNTIME_TORCH_BF16:
        from embeddings.encoder import Bf16SentenceTransformerEmbedder

        return Bf16SentenceTransformerEmbedder(path, name=name)
    raise ValueError(f"embedding runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
