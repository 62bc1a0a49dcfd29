"""One table from several ``newsqa eval --squad`` runs (their summary.json), for eval/OUTSIDE.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from eval.squad import summarize

COLS = [("char_f1", "char F1"), ("em", "EM"), ("contains", "contains"), ("cited_own", "own ¶ cited"),
        ("hit@1", "hit@1"), ("false_refusals", "false refusals"), ("refused_own_top1", "refused, own ¶ top-1"), ("refusal_recall", "refusal recall"),
        ("refusal_precision", "refusal precision"), ("ttft_p50_ms", "TTFT p50 ms"), ("latency_p50_ms", "total p50 ms"),
        ("latency_p90_ms", "total p90 ms")]


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.0f}" if v >= 10 else f"{v:.3f}"
    return str(v)


def table(run_dirs: Sequence[Path], labels: Sequence[str] | None = None) -> str:
    """A markdown table, one line per run, then the runs' exact commands.

    Args:
        run_dirs: folders written by ``eval.squad.run_squad``.
        labels: a label per run (default: the folder name).
    """
    lines = ["| run | set | answerer | questions (ans / unans) | " + " | ".join(c[1] for c in COLS) + " |",
             "|---" * (4 + len(COLS)) + "|"]
    cmds = []
    for i, d in enumerate(run_dirs):
        s = json.loads((Path(d) / "summary.json").read_text(encoding="utf-8"))
        meta = s["meta"]
        rows = [json.loads(l) for l in (Path(d) / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
        o = summarize(rows)  # the current definitions, also for runs written before a figure was added
        label = labels[i] if labels else Path(d).name
        lines.append(f"| {label} | {Path(meta['file']).stem} | {meta['answerer']} | "
                     f"{o['questions']} ({o.get('answerable', o['questions'])} / {o.get('unanswerable', 0)}) | "
                     + " | ".join(_fmt(o.get(c)) for c, _ in COLS) + " |")
        cmds.append(f"- {label}: `{meta['command']}`")
    return "\n".join(lines + [""] + cmds) + "\n"


if __name__ == "__main__":
    print(table([Path(a) for a in sys.argv[1:]]))  # python -m eval.outside RUN_DIR…
