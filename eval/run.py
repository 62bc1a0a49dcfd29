"""Run a gold file through ``ask()`` and write per-question rows, a JSON summary and a Markdown report."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from qa import ask, get_pipeline
from qa.errors import CorpusError, NewsQAError

from . import metrics as M

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

KINDS = ("factoid", "list", "why", "paraphrase", "crosslingual", "traditional", "temporal", "unanswerable")


def default_gold_path() -> Path:
    return Path(__file__).resolve().parent / "gold.jsonl"


def load_gold(path: Path) -> list[dict[str, Any]]:
    """Read and validate a gold JSONL file.

    Raises:
        CorpusError: naming the line of the first invalid item.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CorpusError(f"cannot read gold file {path}: {e.strerror}") from None
    items, seen = [], set()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            it = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}:{i}: not valid JSON ({e.msg})") from None
        if not isinstance(it, dict) or not isinstance(it.get("question"), str):
            raise CorpusError(f"{path}:{i}: each line needs an object with a 'question' string")
        it.setdefault("id", f"q{i}")
        it.setdefault("answers", [])
        it.setdefault("evidence", "")
        it.setdefault("source", "")
        it.setdefault("answerable", bool(it["answers"]))
        it.setdefault("kind", "factoid" if it["answerable"] else "unanswerable")
        if it["id"] in seen:
            raise CorpusError(f"{path}:{i}: duplicate id {it['id']!r}")
        seen.add(it["id"])
        items.append(it)
    if not items:
        raise CorpusError(f"{path}: no questions")
    return items


def score_item(item: dict[str, Any], answer: dict[str, Any] | None, error: str | None, seconds: float) -> dict[str, Any]:
    """One row of the report: what was asked, what came back, and each metric."""
    row: dict[str, Any] = {
        "id": item["id"], "kind": item["kind"], "answerable": item["answerable"], "question": item["question"],
        "references": item["answers"], "seconds": round(seconds, 4), "error": error,
    }
    if answer is None:
        return row
    passages = [h["text"] for h in answer["hits"]]
    rank = M.first_hit_rank(passages, item["evidence"]) if item["answerable"] else None
    cites = answer["citations"]
    good = [
        any(M.citation_supports(c["quote"], c["source"], ev, item.get("source", ""))
            for ev in [item["evidence"], *item.get("also_evidence", [])])
        for c in cites
    ] if item["answerable"] else []
    row.update(
        answer=answer["text"], refused=answer["refused"], answerer=answer.get("answerer"),
        hit_rank=rank,
        correct=bool(item["answerable"] and not answer["refused"] and M.answer_correct(answer["text"], item["answers"])),
        f1=round(M.max_f1(answer["text"], item["answers"]), 4) if item["answerable"] and not answer["refused"] else 0.0,
        em=bool(item["answerable"] and M.exact_match(answer["text"], item["answers"])),
        citations=[{"n": c["n"], "source": c["source"], "quote": c["quote"], "supports": ok} for c, ok in zip(cites, good or [None] * len(cites))],
        top_score=answer["hits"][0]["score"] if answer["hits"] else None,
        ttft=(answer.get("timings_ms") or {}).get("ttft", (answer.get("timings_ms") or {}).get("total", 0.0)) / 1000,
        supported_sentences=answer.get("supported_sentences"),
    )
    return row


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate metrics over rows, overall and per kind."""
    def agg(rs: list[dict[str, Any]]) -> dict[str, Any]:
        ok = [r for r in rs if r.get("error") is None]
        ans = [r for r in ok if r["answerable"]]
        una = [r for r in ok if not r["answerable"]]
        refused = [r for r in ok if r["refused"]]
        answered = [r for r in ans if not r["refused"]]
        cites = [c for r in answered for c in r["citations"]]
        secs = [r["seconds"] for r in ok]
        return {
            "questions": len(rs), "errors": len(rs) - len(ok), "answerable": len(ans), "unanswerable": len(una),
            "hit@1": M.ratio(sum(1 for r in ans if r["hit_rank"] == 1), len(ans)),
            "hit@5": M.ratio(sum(1 for r in ans if r["hit_rank"] and r["hit_rank"] <= 5), len(ans)),
            "mrr": M.ratio(sum(1 / r["hit_rank"] for r in ans if r["hit_rank"]), len(ans)),
            "accuracy": M.ratio(sum(r["correct"] for r in ans), len(ans)),
            "char_f1": M.ratio(sum(r["f1"] for r in ans), len(ans)),
            "citation_precision": M.ratio(sum(1 for c in cites if c["supports"]), len(cites)),
            "citation_recall": M.ratio(sum(1 for r in answered if any(c["supports"] for c in r["citations"])), len(ans)),
            "refusal_precision": M.ratio(sum(1 for r in refused if not r["answerable"]), len(refused)),
            "refusal_recall": M.ratio(sum(1 for r in una if r["refused"]), len(una)),
            "latency_p50_ms": round(M.percentile(secs, 50) * 1000, 1),
            "latency_p95_ms": round(M.percentile(secs, 95) * 1000, 1),
            "ttft_p50_ms": round(M.percentile([r["ttft"] for r in ok if r.get("ttft") is not None], 50) * 1000, 1),
        }

    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    return {"overall": agg(rows), "by_kind": {k: agg(v) for k, v in sorted(by_kind.items())}}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def render_report(summary: dict[str, Any], rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    cols = ["questions", "hit@1", "hit@5", "mrr", "accuracy", "char_f1", "citation_precision",
            "citation_recall", "refusal_precision", "refusal_recall", "latency_p50_ms", "latency_p95_ms"]
    lines = [
        "# newsqa evaluation",
        "",
        f"- command: `{meta['command']}`",
        f"- gold: `{meta['gold']}` ({meta['questions']} questions)",
        f"- index: `{meta['index']}` (model {meta['model']}, {meta['chunks']} chunks, corpus sha256 {meta['corpus_sha256'][:12]})",
        f"- answerer: {meta['answerer']}, k={meta['k']}, machine: {meta['machine']}",
        "",
        "| slice | " + " | ".join(cols) + " |",
        "|---" * (len(cols) + 1) + "|",
        "| **all** | " + " | ".join(_fmt(summary["overall"][c]) for c in cols) + " |",
    ]
    for kind, s in summary["by_kind"].items():
        lines.append(f"| {kind} | " + " | ".join(_fmt(s[c]) for c in cols) + " |")
    lines += ["", "Retrieval and answer metrics are over answerable questions; refusal metrics treat \"refused\" as the positive class.", "",
              "## Per question", "", "| id | kind | hit rank | correct | refused | answer |", "|---|---|---|---|---|---|"]
    for r in rows:
        ans = (r.get("answer") or r.get("error") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r['id']} | {r['kind']} | {_fmt(r.get('hit_rank'))} | {'✓' if r.get('correct') else ''} | "
                     f"{'yes' if r.get('refused') else ''} | {ans[:80]} |")
    return "\n".join(lines) + "\n"


def run_eval(
    gold_path: Path,
    *,
    out_dir: Path | None = None,
    index: Path | None = None,
    model: str | None = None,
    k: int = 5,
    answerer: str = "auto",
    limit: int | None = None,
    command: str = "",
    progress: Callable[[int, int], None] | None = None,
    embedder: "Embedder | None" = None,
    retriever: str | None = None,
    paper: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    settings: Any = None,
) -> tuple[dict[str, Any], Path]:
    """Ask every gold question and write rows.jsonl, summary.json and report.md.

    Args:
        gold_path: a gold JSONL file in the documented schema.
        out_dir: where to write (default ``eval/runs/<timestamp>``).
        index, model, k, answerer: passed to ``ask()``.
        limit: only the first N questions.
        command: the command line, recorded for reproduction.
        progress: called with (done, total).
        embedder: an embedder object (tests).
        retriever, paper, date_from, date_to: passed to every ``ask()``.
        settings: a ``qa.settings.Settings`` for every ``ask()`` (ablations; default from the environment).

    Returns:
        (summary, output folder).
    """
    options = dict(retriever=retriever, paper=paper, date_from=date_from, date_to=date_to, settings=settings)
    items = load_gold(gold_path)[: limit or None]
    pipe = get_pipeline(index, model, embedder, settings)  # load once, outside the timed loop
    ask(items[0]["question"], k=k, index=index, model=model, answerer=answerer, embedder=embedder, **options)  # warm-up
    rows = []
    for i, it in enumerate(items, 1):
        t0 = time.perf_counter()
        try:
            a = ask(it["question"], k=k, index=index, model=model, answerer=answerer, embedder=embedder, **options).to_dict()
            err = None
        except NewsQAError as e:
            a, err = None, f"{type(e).__name__}: {e}"
        rows.append(score_item(it, a, err, time.perf_counter() - t0))
        if progress:
            progress(i, len(items))
    summary = summarize(rows)
    manifest = pipe.index.manifest
    meta = {
        "command": command or f"newsqa eval --gold {gold_path}",
        "gold": str(gold_path), "questions": len(items), "index": str(pipe.index.path),
        "model": manifest["model"]["name"], "chunks": manifest["counts"]["chunks"],
        "corpus_sha256": manifest["corpus"]["sha256"], "answerer": answerer, "k": k,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "retrieval": {"fusion": pipe.retriever.settings.fusion},
        "generation": dataclasses.asdict(pipe.settings.generation),
        **({"options": {k_: (dataclasses.asdict(v) if k_ == "settings" else v) for k_, v in options.items() if v}} if any(options.values()) else {}),
    }
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent / "runs" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "rows.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write(out / "summary.json", json.dumps({"meta": meta, **summary}, ensure_ascii=False, indent=2))
    atomic_write(out / "report.md", render_report(summary, rows, meta))
    return summary, out


def atomic_write(path: Path, text: str) -> None:
    """Write a report file whole or not at all (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


COMPARE_COLS = ["accuracy", "char_f1", "citation_precision", "citation_recall", "refusal_precision",
                "refusal_recall", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "hit@5"]


def render_side_by_side(summaries: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    """One Markdown table with a row per answerer (overall) and per answerer × kind."""
    lines = ["# newsqa evaluation: answerers side by side", "", f"- command: `{meta['command']}`",
             f"- gold: `{meta['gold']}`; index: `{meta['index']}`; machine: {meta['machine']}",
             f"- retrieval: {meta.get('retrieval')}; generation: {meta.get('generation')}", "",
             "| answerer | slice | " + " | ".join(COMPARE_COLS) + " |", "|---" * (len(COMPARE_COLS) + 2) + "|"]
    for name, summ in summaries.items():
        lines.append(f"| {name} | **all** | " + " | ".join(_fmt(summ["overall"][c]) for c in COMPARE_COLS) + " |")
    for name, summ in summaries.items():
        for kind, sk in summ["by_kind"].items():
            lines.append(f"| {name} | {kind} | " + " | ".join(_fmt(sk[c]) for c in COMPARE_COLS) + " |")
    return "\n".join(lines) + "\n"


def run_eval_modes(gold_path: Path, answerers: list[str], *, out_dir: Path | None = None, **kw: Any) -> Path:
    """Run ``run_eval`` once per answerer into sub-folders and write ``compare.md`` beside them."""
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent / "runs" / time.strftime("%Y%m%d-%H%M%S")
    summaries, meta = {}, None
    for name in answerers:
        summ, sub = run_eval(gold_path, out_dir=out / name, answerer=name, **kw)
        summaries[name] = summ
        meta = json.loads((sub / "summary.json").read_text(encoding="utf-8"))["meta"]
    atomic_write(out / "compare.md", render_side_by_side(summaries, meta))
    return out
