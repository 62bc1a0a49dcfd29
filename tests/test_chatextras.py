"""The chat's feedback log, Markdown answers and export, and `newsqa feedback export` (no Gradio needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ui.chatextras import (FeedbackError, FeedbackLog, answer_markdown, answer_record, conversation_markdown,
                           default_feedback_path, export_feedback, gold_candidates, plain_history)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def record(small_index, hashing_embedder):
    from qa import ask

    return answer_record(ask("刘坂村共有村民多少户？", index=small_index, embedder=hashing_embedder))


def test_answer_markdown_has_text_and_sources(record):
    md = answer_markdown(record)
    assert md.startswith(record["text"]) and "**Sources**" in md
    c = record["citations"][0]
    assert c["quote"] in md and c["source"] in md and record["index_generation"]


def test_plain_history_drops_what_the_chat_adds(record):
    shown = [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer_markdown(record)}]
    assert plain_history(shown)[1]["content"] == record["text"]


def test_feedback_lines_are_whole_under_concurrent_writers(tmp_path, record):
    log = FeedbackLog(tmp_path / "sub" / "feedback.jsonl")
    threads = [threading.Thread(target=lambda i=i: log.add(record, i % 2 == 0)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(line) for line in (tmp_path / "sub" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 20 and {r["rating"] for r in rows} == {"up", "down"}
    assert all(r["question"] == record["question"] and r["citations"] and r["index_generation"] for r in rows)


def test_unwritable_feedback_file_is_a_clear_error(tmp_path, record):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FeedbackError, match="cannot write feedback"):
        FeedbackLog(blocker / "feedback.jsonl").add(record, True)


def test_default_path_is_beside_the_index_or_from_the_environment(tmp_path):
    assert default_feedback_path(tmp_path, env={}) == tmp_path / "feedback.jsonl"
    assert default_feedback_path(tmp_path, env={"NEWSQA_FEEDBACK": str(tmp_path / "x.jsonl")}) == tmp_path / "x.jsonl"


def test_gold_candidates_follow_the_gold_schema(record):
    refused = {**record, "question": "股价？", "text": "资料中没有相关信息。", "refused": True, "citations": []}
    rows = [{**record, "rating": "down"}, {**record, "rating": "up"}, {**refused, "rating": "up"},
            {**record, "question": "别的问题？", "rating": "down"}]
    cands = gold_candidates(rows)
    assert [c["question"] for c in cands] == [record["question"], "股价？"]  # the latest rating of a question wins
    good, unans = cands
    assert good["answerable"] and good["answers"] == [record["text"].replace("[1]", "").strip()]
    assert good["evidence"] == record["citations"][0]["quote"] and good["source"] == record["citations"][0]["source"]
    assert unans == {"id": "fb0002", "question": "股价？", "answers": [], "evidence": "", "source": "",
                     "answerable": False, "kind": "unanswerable"}
    with_down = gold_candidates(rows, include_disliked=True)
    assert with_down[-1]["needs_review"] and with_down[-1]["answers"] == []
    keys = {"id", "question", "answers", "evidence", "source", "answerable", "kind"}
    assert all(keys <= set(c) for c in with_down)


def test_conversation_markdown(record):
    md = conversation_markdown([{"role": "user", "content": "刘坂村共有村民多少户？"},
                                {"role": "assistant", "content": answer_markdown(record)}])
    assert md.startswith("# newsqa conversation") and "## Q: 刘坂村共有村民多少户？" in md and "**Sources**" in md


def test_cli_feedback_export_skips_bad_lines(tmp_path, record):
    fb = tmp_path / "feedback.jsonl"
    FeedbackLog(fb).add(record, True)
    with open(fb, "a", encoding="utf-8") as f:
        f.write('{"torn": \n')
    out = tmp_path / "cands.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "newsqa", "feedback", "export", "--file", str(fb), "--out", str(out)],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and "1 gold candidates" in r.stderr
    cands = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert cands[0]["question"] == record["question"] and cands[0]["answerable"]
    missing = subprocess.run([sys.executable, "-m", "newsqa", "feedback", "export", "--file", str(tmp_path / "none.jsonl")],
                             capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert missing.returncode == 2 and "no feedback file" in missing.stderr and "Traceback" not in missing.stderr


def test_export_is_read_from_a_file_only(tmp_path, record):
    fb = tmp_path / "feedback.jsonl"
    FeedbackLog(fb).add(record, True)
    read, written, skipped = export_feedback(fb, tmp_path / "out.jsonl")
    assert (read, written, skipped) == (1, 1, [])


def test_gradio_message_parts_are_read_as_text(record):
    shown = [{"role": "user", "content": [{"type": "text", "text": "刘坂村共有村民多少户？"}]},
             {"role": "assistant", "content": [{"type": "text", "text": answer_markdown(record)}]}]
    assert plain_history(shown) == [{"role": "user", "content": "刘坂村共有村民多少户？"},
                                    {"role": "assistant", "content": record["text"]}]
    assert "## Q: 刘坂村共有村民多少户？" in conversation_markdown(shown)
