"""The newsqa command line, called in-process; model loading is replaced by HashingEmbedder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import qa.pipeline
from embeddings.encoder import HashingEmbedder
from newsqa.cli import main

HEAVY = ("sentence_transformers", "torch", "gradio")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch):
    # main() sets these with setdefault; keep them from leaking into other tests
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def fake_model(monkeypatch):
    calls = []

    def load(model=None, runtime=None):
        calls.append(model)
        return HashingEmbedder(dim=256)

    monkeypatch.setattr(qa.pipeline, "load_embedder", load)
    return calls


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("index", "ask", "eval", "info", "models"):
        assert cmd in out


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out.lower()


def test_import_and_help_do_not_load_heavy_modules():
    code = (
        "import sys, qa, newsqa.cli\n"
        "try:\n"
        "    newsqa.cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout, r.stdout[-300:]


def test_ask_empty_question_is_a_one_line_error(capsys, fake_model):
    assert main(["ask", ""]) == 2
    cap = capsys.readouterr()
    lines = [l for l in cap.err.splitlines() if l.strip()]
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("newsqa: error:")
    assert "Traceback" not in cap.err + cap.out
    assert fake_model == []  # rejected before any model is loaded


def test_ask_too_long_question(capsys, fake_model):
    assert main(["ask", "村" * 501]) == 2
    assert "500" in capsys.readouterr().err


def test_ask_without_index_points_to_newsqa_index(tmp_path, capsys, fake_model):
    assert main(["ask", "刘坂村共有村民多少户？", "--index", str(tmp_path / "missing")]) == 2
    cap = capsys.readouterr()
    assert "newsqa index" in cap.err
    assert "Traceback" not in cap.err
    assert len([l for l in cap.err.splitlines() if l.strip()]) == 1


def test_bad_chunk_sizes_are_an_error(tmp_path, seed_dir, capsys, fake_model):
    rc = main(["index", str(seed_dir), "--index", str(tmp_path / "i"), "--chunk-size", "100", "--chunk-overlap", "100"])
    assert rc == 2
    assert "chunk_overlap" in capsys.readouterr().err
    assert not (tmp_path / "i" / "CURRENT").exists()


def test_index_then_ask_json(tmp_path, seed_dir, capsys, fake_model):
    idx = tmp_path / "idx"
    rc = main(["index", str(seed_dir), "--index", str(idx), "--chunk-size", "120", "--chunk-overlap", "20"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "index ready" in out and "29 articles" in out
    assert (idx / "CURRENT").is_file()

    assert main(["ask", "刘坂村共有村民多少户？", "--index", str(idx), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"question", "text", "refused", "citations", "hits"} <= set(d)
    assert d["refused"] is False
    assert d["citations"] and {"n", "article_id", "title", "date", "source", "quote", "start", "end"} <= set(d["citations"][0])
    assert d["citations"][0]["source"] == "000_7ff5f06dc4846084.txt"


def test_ask_plain_text_prints_citation_with_raw_offsets(tmp_path, seed_dir, capsys, fake_model):
    idx = tmp_path / "idx"
    assert main(["index", str(seed_dir), "--index", str(idx), "--chunk-size", "120", "--chunk-overlap", "20"]) == 0
    capsys.readouterr()
    assert main(["ask", "安仁水库总库容多少", "--index", str(idx)]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out
    assert "002_a1394b6d0e0c442f.txt chars " in out

    assert main(["info", "--index", str(idx)]) == 0
    info = capsys.readouterr().out
    assert "hashing-test" in info and "今日柯城" in info and "2022-05-25" in info


def _gold(tmp_path):
    g = tmp_path / "gold.jsonl"
    g.write_text(
        json.dumps({"id": "a1", "question": "安仁水库总库容多少?", "answers": ["109万方"], "evidence": "总库容109万方"},
                   ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return g


def test_eval_writes_report(tmp_path, seed_dir, capsys, fake_model):
    idx = tmp_path / "idx"
    assert main(["index", str(seed_dir), "--index", str(idx), "--chunk-size", "120", "--chunk-overlap", "20"]) == 0
    out = tmp_path / "run"
    assert main(["eval", "--gold", str(_gold(tmp_path)), "--out", str(out), "--index", str(idx)]) == 0
    assert "# newsqa evaluation" in capsys.readouterr().out
    assert (out / "rows.jsonl").is_file() and (out / "summary.json").is_file()


def test_eval_report_records_the_given_command(tmp_path, seed_dir, capsys, fake_model, monkeypatch):
    idx = tmp_path / "idx"
    assert main(["index", str(seed_dir), "--index", str(idx), "--chunk-size", "120", "--chunk-overlap", "20"]) == 0
    monkeypatch.setattr(sys, "argv", ["host-program", "--unrelated"])
    out = tmp_path / "run"
    gold = _gold(tmp_path)
    assert main(["eval", "--gold", str(gold), "--out", str(out), "--index", str(idx)]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"--gold {gold}" in report
