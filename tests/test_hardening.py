"""Hostile input to the index and the corpus: special files, oversized files, bad JSONL types, runaway articles.

Every blocking read is run in a subprocess or thread with a timeout, so a regression hangs nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embeddings.encoder import HashingEmbedder
from qa.errors import CorpusError, IndexCorruptError, NewsQAError
from qa.index import safe_io
from qa.index.build import build_index
from qa.index.store import current_generation, verify_index
from qa.ingest.corpus import load_articles

from conftest import SMALL_PARAMS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def index_copy(small_index, tmp_path) -> Path:
    out = tmp_path / "idx"
    shutil.copytree(small_index, out)
    return out


def _ask_in_subprocess(index: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``newsqa ask`` against ``index`` in a child process, memory-capped, killed after ``timeout`` s."""
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30));"
        "from newsqa.cli import main; sys.exit(main(['ask', '--index', sys.argv[1], '刘坂村共有村民多少户？']))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSQA_GENERATOR": "none"}
    return subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, timeout=timeout, env=env)


# --------------------------------------------------------------------------- #
# index files that are not regular files

@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
@pytest.mark.parametrize("name", ["manifest.json", "CURRENT", "meta.sqlite", "vectors.faiss"])
def test_special_index_files_give_an_error_never_a_hang(index_copy, kind, name):
    gen = current_generation(index_copy)
    target = index_copy / "CURRENT" if name == "CURRENT" else gen / name
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    with pytest.raises(IndexCorruptError, match="symbolic link|FIFO|regular file"):
        verify_index(index_copy)


def test_manifest_symlinked_to_dev_zero_gives_one_line_from_the_cli(index_copy):
    m = current_generation(index_copy) / "manifest.json"
    m.unlink()
    m.symlink_to("/dev/zero")
    r = _ask_in_subprocess(index_copy)  # raises TimeoutExpired on a hang; the rlimit turns an OOM into a failure
    assert r.returncode != 0
    err = r.stderr.strip()
    assert "symbolic link" in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_manifest_fifo_gives_one_line_from_the_cli(index_copy):
    m = current_generation(index_copy) / "manifest.json"
    m.unlink()
    os.mkfifo(m)
    r = _ask_in_subprocess(index_copy)
    assert r.returncode != 0 and "FIFO" in r.stderr and "Traceback" not in r.stderr


def test_oversized_files_are_refused_by_size(index_copy, tmp_path):
    gen = current_generation(index_copy)
    # a file larger than the size the manifest recorded is refused before it is hashed or parsed
    with open(gen / "meta.sqlite", "ab") as f:
        f.write(b" " * 1000)
    with pytest.raises(IndexCorruptError, match="meta.sqlite has .* bytes, more than"):
        verify_index(index_copy)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    with pytest.raises(IndexCorruptError, match="100 bytes"):
        safe_io.read_bytes(big, 99)
    assert safe_io.read_bytes(big, 100) == b"x" * 100


def test_an_index_built_before_sizes_were_recorded_still_loads(index_copy):
    from qa.index.store import manifest_digest

    mpath = current_generation(index_copy) / "manifest.json"
    m = json.loads(mpath.read_text(encoding="utf-8"))
    del m["sizes"]
    m["manifest_sha256"] = manifest_digest(m)
    mpath.write_text(json.dumps(m), encoding="utf-8")
    assert verify_index(index_copy).size > 0  # fixed caps instead, without allocating them


def test_manifest_records_the_size_of_every_file(small_index):
    gen = current_generation(small_index)
    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert m["sizes"] == {name: (gen / name).stat().st_size for name in m["files"]}


# --------------------------------------------------------------------------- #
# CURRENT: missing beside a generation, or not a generation name

def test_current_deleted_says_a_generation_exists(index_copy):
    gen = current_generation(index_copy).name
    (index_copy / "CURRENT").unlink()
    with pytest.raises(IndexCorruptError) as e:
        verify_index(index_copy)
    assert "CURRENT is missing" in str(e.value) and gen in str(e.value) and "no index" not in str(e.value)


@pytest.mark.parametrize("name", ["../../etc", "gen-1/../../etc", "/etc", "..", "gen-../x"])
def test_current_with_a_path_is_an_invalid_generation_name(index_copy, name):
    (index_copy / "CURRENT").write_text(name + "\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="not a valid generation name") as e:
        verify_index(index_copy)
    assert "points at" not in str(e.value)


# --------------------------------------------------------------------------- #
# corpus guards

def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "a1", "title": "标题", "date": "2023-03-01", "source": "x.txt", "paper": "衢州日报", "text": "刘坂村共有村民三百户。"}


@pytest.mark.parametrize("field", ["paper", "title", "date", "id", "source", "text"])
@pytest.mark.parametrize("value", [123, {"x": 1}, ["a"], True])
def test_jsonl_field_of_the_wrong_type_names_file_and_line(tmp_path, field, value):
    f = _jsonl(tmp_path / "arch.jsonl", [GOOD, {**GOOD, "id": "a2", field: value}])
    with pytest.raises(CorpusError, match=rf"arch\.jsonl:2: field '{field}' must be a (non-empty )?string"):
        load_articles([f])


def test_jsonl_null_optional_fields_are_fine(tmp_path):
    f = _jsonl(tmp_path / "arch.jsonl", [{**GOOD, "paper": None, "date": None, "title": None}])
    (a,) = load_articles([f])
    assert a.paper == "x.txt" and a.date is None


def test_runaway_article_is_skipped_with_a_warning(tmp_path, caplog):
    huge = {**GOOD, "id": "huge", "text": "很长的一行。" * 40_000}  # 240,000 characters
    f = _jsonl(tmp_path / "arch.jsonl", [GOOD, huge])
    with caplog.at_level(logging.WARNING):
        arts = load_articles([f])
    assert [a.id for a in arts] == ["a1"]
    assert "arch.jsonl" in caplog.text and "240000 characters" in caplog.text and "NEWSQA_MAX_ARTICLE_CHARS" in caplog.text
    assert [a.id for a in load_articles([f], max_article_chars=0)] == ["a1", "huge"]


def test_build_reports_its_chunk_count_before_embedding(seed_articles, tmp_path):
    seen: list[tuple[str, int, int]] = []

    class Watching(HashingEmbedder):
        def embed_passages(self, texts, progress=None):
            seen.append(("embed", len(texts), 0))
            return super().embed_passages(texts, progress=progress)

    build_index(seed_articles[:3], Watching(dim=256), tmp_path / "i", SMALL_PARAMS,
                on_plan=lambda a, c: seen.append(("plan", a, c)))
    assert seen[0][0] == "plan" and seen[0][1] == 3 and seen[1] == ("embed", seen[0][2], 0)


def test_bad_paper_type_never_reaches_an_index(tmp_path):
    f = _jsonl(tmp_path / "arch.jsonl", [{**GOOD, "paper": 123}])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "newsqa", "index", str(f), "--index", str(tmp_path / "i")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and "arch.jsonl:1: field 'paper' must be a string" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "i" / "CURRENT").exists()


def test_error_family():
    assert issubclass(IndexCorruptError, NewsQAError)


# --------------------------------------------------------------------------- #
# small fixes: the input layer checks index=, the CLI keeps a citation on its lines

@pytest.mark.parametrize("bad", [123, 1.5, ["idx"], b"idx", "", "a\0b"])
def test_ask_with_a_bad_index_argument_is_an_input_error(bad):
    from qa import InputError, ask

    with pytest.raises(InputError, match="index must be"):
        ask("刘坂村共有村民多少户？", index=bad)


def test_citation_line_survives_a_newline_in_the_file_name(capsys):
    from types import SimpleNamespace

    from newsqa.cli import _print_answer

    c = SimpleNamespace(n=1, title="标题\n伪造行", paper=None, date="2023-03-01", source="evil\n[2] fake.txt\u202e",
                        raw_start=3, raw_end=9, quote="第一段\n第二段")
    _print_answer(SimpleNamespace(text="答案[1]", citations=[c], hits=[], date_range=None))
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "[1] 标题\\n伪造行 (2023-03-01)"
    assert lines[3] == "    evil\\n[2] fake.txt\\u202e chars 3-9: 「第一段 第二段」"
    assert len(lines) == 4
