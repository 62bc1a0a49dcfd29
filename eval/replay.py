"""Replay the generative answer's refusal settings on recorded rows: the pre-check bar and the refusal override.

Rows of ``newsqa eval --squad … --answerer generative`` keep each question's refusal
signals (``Answer.signals``): the chance of "no answer" (``p_unanswerable``) and whether
the model refused (``model_refused``). A lower pre-check bar refuses every row at or over
it; turning the refusal override off refuses every row the model refused but the
extractive quote answered. Both are exact replays (a refused question's answer does not
depend on the other rows), so bars below the run's can be compared without re-running the
model; bars above it cannot (those rows were never generated).

    python -m eval.replay eval/runs/cal-gen-cmrc eval/runs/cal-gen-drcd --bars 0.5,0.6,0.65,0.7,0.747
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from eval.squad import document_folds
from eval.verify import all_rows, document


def load(run: Path) -> list[dict[str, Any]]:
    """The rows of ``run`` that were answered without error, each with its set's name."""
    return [r for r in all_rows(run) if r.get("error") is None]


def outcome(r: dict[str, Any], bar: float, override: bool = True) -> tuple[bool, float]:
    """(refused, char F1) of row ``r`` under pre-check ``bar`` and the override switch."""
    s = r.get("signals") or {}
    if s.get("p_unanswerable", 0.0) >= bar:
        return True, 0.0
    if not override and s.get("model_refused") and not r["refused"] and r.get("answerer") == "extractive":
        return True, 0.0
    return bool(r["refused"]), float(r.get("f1") or 0.0)


def figures(rows: Sequence[dict[str, Any]], bar: float, override: bool = True) -> dict[str, float]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    oa = [outcome(r, bar, override) for r in ans]
    ou = [outcome(r, bar, override) for r in una]
    return {
        "answerable": len(ans), "unanswerable": len(una),
        "char_f1": sum(f for _, f in oa) / max(1, len(ans)),
        "false_refusals": sum(x for x, _ in oa) / max(1, len(ans)),
        "refusal_recall": sum(x for x, _ in ou) / max(1, len(una)),
    }


def choose(rows: Sequence[dict[str, Any]], bars: Sequence[float], max_false: float) -> float:
    """The lowest bar whose false refusals stay within ``max_false`` on every set (the highest bar if none does)."""
    sets = sorted({r["set"] for r in rows})
    ok = [b for b in sorted(bars) if all(figures([r for r in rows if r["set"] == s], b)["false_refusals"] <= max_false for s in sets)]
    return ok[0] if ok else max(bars)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--bars", default="0.5,0.55,0.6,0.65,0.7,0.747")
    ap.add_argument("--max-false", type=float, default=0.05)
    a = ap.parse_args(argv)
    bars = [float(x) for x in a.bars.split(",")]
    rows = [r for run in a.runs for r in load(run)]
    sets = sorted({r["set"] for r in rows})
    out = [f"command: `python -m eval.replay {' '.join(sys.argv[1:])}`", "",
           "| pre-check bar | refusal override | set | questions (ans / unans) | char F1 | false refusals | refusal recall |",
           "|---|---|---|---|---|---|---|"]
    for b in bars:
        for ov in (True, False):
            for s in sets:
                f = figures([r for r in rows if r["set"] == s], b, ov)
                out.append(f"| {b} | {'on' if ov else 'off'} | {s} | {f['answerable'] + f['unanswerable']} "
                           f"({f['answerable']} / {f['unanswerable']}) | {f['char_f1']:.3f} | {f['false_refusals']:.3f} | {f['refusal_recall']:.3f} |")
    # 2-fold cross-validation by document: the bar chosen on one fold, scored on the other
    half, rest = document_folds(rows, document)
    out += ["", f"2-fold cross-validation by document (seed 7): lowest bar with false refusals ≤ {a.max_false} on every set of the other fold", "",
            "| test fold | bar | set | false refusals | refusal recall |", "|---|---|---|---|---|"]
    for k, (train, test) in ((1, (rest, half)), (2, (half, rest))):
        b = choose(train, bars, a.max_false)
        for s in sets:
            f = figures([r for r in test if r["set"] == s], b)
            out.append(f"| {k} | {b} | {s} | {f['false_refusals']:.3f} | {f['refusal_recall']:.3f} |")
    out += ["", f"bar chosen on all rows: {choose(rows, bars, a.max_false)}"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
