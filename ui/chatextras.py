"""The chat's extras without Gradio: answers as Markdown with sources, 👍/👎 feedback in JSONL, conversation export.

``newsqa feedback export`` turns the feedback file into gold-set candidates (the schema of eval/gold.jsonl).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from qa.errors import NewsQAError
from qa.timeq import describe_range
from qa.types import Answer

FEEDBACK_FILE = "feedback.jsonl"  # beside the index generations (index builds prune only gen-* folders)
MAX_LINE_BYTES = 256 * 1024  # one record; a longer one is refused rather than written in pieces
_MARKER = re.compile(r"\[\d+\]")


class FeedbackError(NewsQAError):
    """The feedback file cannot be written or read."""


def default_feedback_path(index_dir: Path, env: dict[str, str] | None = None) -> Path:
    """``$NEWSQA_FEEDBACK``, else ``feedback.jsonl`` in the index folder."""
    value = (os.environ if env is None else env).get("NEWSQA_FEEDBACK", "").strip()
    return Path(value).expanduser() if value else Path(index_dir) / FEEDBACK_FILE


def answer_record(a: Answer) -> dict[str, Any]:
    """What the chat keeps of one answer for feedback and export."""
    d = a.to_dict()
    return {key: d.get(key) for key in ("question", "text", "refused", "answerer", "citations", "index_generation",
                                        "rewritten_query", "date_range")}


def sources_markdown(citations: Iterable[dict[str, Any]]) -> str:
    """A numbered Sources list: title, paper and date, source file and the quote."""
    lines = []
    for c in citations:
        meta = ", ".join(x for x in (c.get("paper"), c.get("date")) if x)
        lines.append(f"- [{c['n']}] **{c['title']}**{' (' + meta + ')' if meta else ''} — {c['source']}"
                     f" chars {c['raw_start']}–{c['raw_end']}: “{c['quote']}”")
    return "\n".join(lines)


def answer_markdown(record: dict[str, Any]) -> str:
    """The answer as the chat shows it (and its copy button copies it): text, dates searched, Sources."""
    parts = [record["text"]]
    if record.get("rewritten_query"):
        parts.append(f"*（按“{record['rewritten_query']}”检索）*")
    dates = describe_range(record.get("date_range"))
    if dates:
        parts.append(f"*{dates}*")
    if record.get("citations"):
        parts.append("**Sources**\n" + sources_markdown(record["citations"]))
    return "\n\n".join(parts)


def conversation_markdown(history: Iterable[dict[str, Any]], title: str = "newsqa conversation") -> str:
    """A chat as Markdown: each question as a heading, each answer with its Sources list (as shown)."""
    out = [f"# {title}", "", f"Exported {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}", ""]
    for m in history:
        if not isinstance(m, dict):
            continue
        text = content_text(m.get("content"))
        if m.get("role") == "user":
            out += [f"## Q: {text}", ""]
        elif m.get("role") == "assistant":
            out += [text, ""]
    return "\n".join(out).rstrip() + "\n"


class FeedbackLog:
    """An append-only JSONL file of 👍/👎 ratings; each record is written whole with one ``write`` and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any], liked: bool, note: str | None = None) -> dict[str, Any]:
        """Append one rating of an answer record (``answer_record``).

        Raises:
            FeedbackError: the file cannot be written (the message names it), or the record is too large.
        """
        row = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "rating": "up" if liked else "down", **record}
        if note:
            row["note"] = note[:500]
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        if len(data) > MAX_LINE_BYTES:
            raise FeedbackError(f"feedback record is {len(data)} bytes; the limit is {MAX_LINE_BYTES}")
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    written = os.write(fd, data)  # O_APPEND: the line lands after every earlier one, whole
                    if written != len(data):
                        raise OSError(f"short write ({written} of {len(data)} bytes)")
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise FeedbackError(f"cannot write feedback to {self.path}: {e}") from None
        return row


def read_feedback(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, why it was skipped) for each line; a torn or bad line is skipped with its reason."""
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        raise FeedbackError(f"cannot read feedback file {path}: {e}") from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield n, None, f"not JSON ({e.msg})"
                continue
            if not isinstance(row, dict) or not isinstance(row.get("question"), str) or row.get("rating") not in ("up", "down"):
                yield n, None, "not a feedback record (question and rating up/down expected)"
                continue
            yield n, row, None


def gold_candidates(rows: Iterable[dict[str, Any]], include_disliked: bool = False) -> list[dict[str, Any]]:
    """Gold-set candidates (eval/gold.jsonl schema) from feedback records, one per question (the latest rating wins).

    👍 on an answer: answerable, the answer (without [n] markers) as the reference, the first
    quote as evidence. 👍 on a refusal: unanswerable. 👎 (with ``include_disliked``): the
    question with ``needs_review`` set and no reference, for a person to fill in.
    """
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest[r["question"].strip()] = r
    out = []
    for i, (q, r) in enumerate(latest.items(), 1):
        cites = r.get("citations") or []
        base = {"id": f"fb{i:04d}", "question": q}
        if r["rating"] == "up" and r.get("refused"):
            out.append({**base, "answers": [], "evidence": "", "source": "", "answerable": False, "kind": "unanswerable"})
        elif r["rating"] == "up" and cites:
            answer = _MARKER.sub("", r.get("text") or "").strip()
            out.append({**base, "answers": [answer], "evidence": cites[0].get("quote", ""), "source": cites[0].get("source", ""),
                        "answerable": True, "kind": "feedback", "index_generation": r.get("index_generation")})
        elif r["rating"] == "down" and include_disliked:
            out.append({**base, "answers": [], "evidence": "", "source": "", "answerable": True, "kind": "feedback",
                        "needs_review": True, "disliked_answer": r.get("text"), "index_generation": r.get("index_generation")})
    return out


def export_feedback(path: Path, out: Path | None = None, include_disliked: bool = False) -> tuple[int, int, list[str]]:
    """Write gold candidates from a feedback file (to ``out``, or return them for printing).

    Returns:
        (records read, candidates written, reasons for skipped lines).
    """
    rows, skipped = [], []
    for n, row, why in read_feedback(path):
        if row is None:
            skipped.append(f"{path}:{n}: {why}")
        else:
            rows.append(row)
    cands = gold_candidates(rows, include_disliked)
    text = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cands)
    if out is None:
        print(text, end="")
    else:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, out)  # whole or not at all
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise FeedbackError(f"cannot write {out}: {e}") from None
    return len(rows), len(cands), skipped


_SHOWN_EXTRAS = re.compile(r"\n\n(?:\*（按“|\*dates searched|\*newest issue|\*oldest issue|\*\*Sources\*\*).*\Z", re.S)


def plain_history(history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat turns as ``ask(history=…)`` wants them: answers without the note, dates line and Sources list."""
    out = []
    for m in history:
        text = content_text(m.get("content"))
        out.append({"role": m.get("role"), "content": _SHOWN_EXTRAS.sub("", text) if m.get("role") == "assistant" else text})
    return out


def content_text(content: Any) -> str:
    """A chat message's text: Gradio 6 sends content as a list of {"type": "text", "text": …} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, (list, tuple)):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
