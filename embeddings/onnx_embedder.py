"""ONNX int8 runtime for the sentence-transformers embedder: export once, run with onnxruntime (no torch at query time)."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from embeddings.encoder import Progress, SentenceTransformerEmbedder
from embeddings.models import sha256_file

log = logging.getLogger(__name__)

from embeddings.runtime_names import RUNTIME_ONNX_INT8

OPSET = 17
# The export's version, recorded in the index manifest (``model.export``): vectors from two
# exports differ slightly, so an index is queried only by the export that built it.
# v1 (SDPA attention, no version recorded: embeddings.runtimes.LEGACY_ONNX_EXPORT): per-channel
#     int8 weights on MatMul only.
# v2: the same quantization of a graph exported with eager attention (plain
#     MatMul/Softmax, which onnxruntime fuses), in its own folder so a v1 copy stays usable.
SCHEME = "qint8-matmul-per-channel-eager-v2"
EXPORT_DIR = "onnx-int8-v2"  # inside the model folder; verify_model() checks only the files it installed
EXPORT_META = "meta.json"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export_int8(model_dir: Path, weights_sha256: str, force: bool = False) -> Path:
    """Export a sentence-transformers (BERT-like, mean pooling, normalized) folder to ONNX and quantize it to int8.

    The graph includes mean pooling and L2 normalization, so its output is the same
    unit vector ``SentenceTransformer.encode(normalize_embeddings=True)`` returns, up
    to quantization error. Done once per weights hash; the result is cached in
    ``<model_dir>/onnx-int8-v2/`` with a meta file naming the source weights and the
    export version (``SCHEME``).

    Args:
        model_dir: the sentence-transformers folder.
        weights_sha256: the source weights' hash (recorded; a different hash re-exports).
        force: export even when a matching copy exists.

    Returns:
        The int8 ``.onnx`` file.
    """
    out = Path(model_dir) / EXPORT_DIR
    target = out / "model.int8.onnx"
    meta = _read_export_meta(out)
    if not force and meta.get("source_weights_sha256") == weights_sha256 and meta.get("scheme") == SCHEME and target.is_file() \
            and sha256_file(target) == meta.get("onnx_sha256"):
        return target
    import torch  # export only: the query path never imports torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    log.info("exporting %s to ONNX int8 (once; about 20 s)", model_dir)
    out.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the unused pooler's "MISSING" load report
    hf_logging.disable_progress_bar()
    # eager attention exports as plain MatMul/Softmax nodes, which onnxruntime fuses
    # (FusedMatMul); the SDPA default exports a longer chain: 26-28 against 38-40 passages/s here
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()

    class _Pooled(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            h = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, dim=-1)

    fp32 = out / f"model.fp32.{os.getpid()}.onnx"
    tmp8 = out / f"model.int8.{os.getpid()}.onnx"
    ids = torch.ones(2, 16, dtype=torch.long)
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Pooled(model), (ids, ids.clone()), str(fp32),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    logging.getLogger("root").setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" note
    try:
        quantize_dynamic(str(fp32), str(tmp8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    finally:
        fp32.unlink(missing_ok=True)
    os.replace(tmp8, target)
    import onnxruntime

    meta = {
        "runtime": RUNTIME_ONNX_INT8,
        "source_weights_sha256": weights_sha256,
        "onnx_sha256": sha256_file(target),
        "opset": OPSET,
        "scheme": SCHEME,
        "attention": "eager",
        "quantization": "onnxruntime.quantization.quantize_dynamic: QInt8 per-channel weights on MatMul, dynamic activations",
        "pooling": "mean over attention mask, then L2 normalize (inside the graph)",
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
    }
    _atomic_write(out / EXPORT_META, json.dumps(meta, indent=2))
    return target


def _read_export_meta(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / EXPORT_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class OnnxEmbedder(SentenceTransformerEmbedder):
    """The same model folder, run as an int8 ONNX graph by onnxruntime.

    Passages are sorted by token length and batched (``batch_size``, default 8) so
    padding stays small. One tokenizer serves chunking and embedding (loaded once). The
    identity adds ``runtime: onnx-int8`` and ``export`` (the export version); an index
    records both, and query vectors must come from the same runtime and export as the
    index's vectors.
    """

    runtime = RUNTIME_ONNX_INT8
    export = SCHEME

    def __init__(self, path: Path | str, *, name: str | None = None, batch_size: int = 8, threads: int | None = None) -> None:
        super().__init__(path, name=name, batch_size=batch_size)
        self.threads = threads or os.cpu_count() or 1
        self._session = None
        self._onnx_lock = threading.Lock()
        self._counts: dict[str, int] = {}

    @property
    def identity(self) -> dict[str, Any]:
        return {**super().identity, "runtime": self.runtime, "export": self.export}

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``, memoized: the splitter measures the same pieces again as it merges them (10x fewer calls)."""
        n = self._counts.get(text)
        if n is None:
            if len(self._counts) > 200_000:
                self._counts.clear()
            n = self._counts[text] = super().count_tokens(text)
        return n

    def warm_up(self) -> None:
        """Export (first time only), open the onnxruntime session and load the tokenizer."""
        with self._onnx_lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            onnx_path = export_int8(self.path, self.identity["weights_sha256"])
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self.tokenizer()  # loaded here, so a build's chunking finds it ready
            self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])

    def _run(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)  # pad id 1 for XLM-R, but masked out anyway
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        (vecs,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})  # type: ignore[union-attr]
        return vecs

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Model input ids of each text (special tokens added), cut to ``max_tokens`` keeping the closing token.

        The shared tokenizer has no truncation set (``count_tokens`` needs full lengths),
        so the cut is made here, as ``enable_truncation(max_tokens)`` would make it.
        """
        encs = self.tokenizer().encode_batch(list(texts))
        out = []
        for e in encs:
            ids = e.ids
            if len(ids) > self.max_tokens:
                ids = ids[: self.max_tokens - 1] + ids[-1:]
            out.append(ids)
        return out

    def _encode_sorted(self, texts: Sequence[str], prompt: str, progress: Progress | None = None) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = self.token_ids([prompt + t for t in texts])
        order = np.argsort([len(r) for r in rows], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(order), self.batch_size):
            batch = order[i : i + self.batch_size]
            out[batch] = self._run([rows[j] for j in batch])
            if progress:
                progress(min(i + self.batch_size, len(texts)), len(texts))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed passages, longest-similar together (sorted by token length) to cut padding."""
        return self._encode_sorted(list(texts), self.prompts.get("passage", ""), progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode_sorted(list(texts), self.prompts.get("query", ""))
