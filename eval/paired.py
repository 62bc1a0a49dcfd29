"""Paired comparison: ask the questions of a recorded SQuAD run again under today's code and settings, and compare on the same questions.

Small samples differ by a few questions; asking the same ones again (the same index, the
same left-out documents) measures a change rather than the sampling. Settings come from
the environment as usual (``NEWSQA_CONTEXT_SENTENCES=4 NEWSQA_CONTEXT_CHARS=300 …``).

    python -m eval.paired eval/outside/cal-gen-cmrc /work/shared/external/cmrc2018/cmrc2018_dev_squad.json --first 200 --out eval/runs/paired-cmrc
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

KEYS = ("char_f1", "em", "contains", "cited_own", "false_refusals", "refusal_recall", "refused_own_top1", "ttft_p50_ms", "latency_p50_ms")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a recorded run (rows.jsonl, summary.json)")
    ap.add_argument("squad", type=Path)
    ap.add_argument("--first", type=int, default=None, help="only the run's first N questions")
    ap.add_argument("--skip", type=int, default=0, help="leave out the run's first K questions (before --first)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    from eval.squad import run_squad, summarize

    meta = json.loads((a.run / "summary.json").read_text(encoding="utf-8"))["meta"]
    old = [json.loads(x) for x in (a.run / "rows.jsonl").read_text(encoding="utf-8").splitlines()][a.skip:][: a.first]
    ids = {r["id"] for r in old}
    summary, out = run_squad(a.squad, out_dir=a.out, answerer=meta["answerer"], unanswerable_share=meta["unanswerable_share"],
                             seed=meta["seed"] or 2018, ids=ids, command=f"python -m eval.paired {' '.join(sys.argv[1:])}")
    before = summarize(old)
    lines = [f"command: `python -m eval.paired {' '.join(sys.argv[1:])}`", "",
             f"{len(ids)} questions of {a.run} asked again ({summary['answerable']} answerable / {summary['unanswerable']} left out)", "",
             "| | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for name, s in (("recorded", before), ("now", summary)):
        lines.append(f"| {name} | " + " | ".join(_fmt(s.get(k)) for k in KEYS) + " |")
    new_rows = {r["id"]: r for r in (json.loads(x) for x in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines())}
    changed = [(r, new_rows[r["id"]]) for r in old if r["id"] in new_rows
               and (r["refused"], round(r.get("f1") or 0, 3)) != (new_rows[r["id"]]["refused"], round(new_rows[r["id"]].get("f1") or 0, 3))]
    lines += ["", f"{len(changed)} questions changed outcome:", ""]
    for r, n in changed:
        lines.append(f"- {r['id']} ({'answerable' if r['answerable'] else 'left out'}): {r['answer'][:40]!r} (F1 {r.get('f1') or 0:.2f})"
                     f" → {n['answer'][:40]!r} (F1 {n.get('f1') or 0:.2f})")
    (out / "paired.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:7]))
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    raise SystemExit(main())
