"""What lowering the generative pre-check bar costs and gains on a whole development set, from the questions it would newly refuse.

Lowering the bar from ``hi`` to ``lo`` changes only the questions whose chance of "no
answer" (``p_unanswerable``, the same signal in extractive and generative answers) lies in
[lo, hi): they are refused instead of generated. So the generative answerer is run on just
those questions of a whole-set extractive run's rows; each answerable one it answers is a
new false refusal at ``lo``, each left-out one it answers is a refusal gained.

    python -m eval.band eval/runs/rare-ex-drcd /work/shared/external/drcd/DRCD_dev.json --lo 0.5 --hi 0.747 --out eval/runs/band-drcd
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


def bars_between(lo: float, hi: float, step: float = 0.05) -> list[float]:
    """``lo``, ``lo + step``, … below ``hi``."""
    out, b = [], lo
    while b < hi - 1e-9:
        out.append(round(b, 3))
        b += step
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("extractive_run", type=Path, help="rows of a whole-set extractive run with --unanswerable-share")
    ap.add_argument("squad", type=Path)
    ap.add_argument("--lo", type=float, required=True)
    ap.add_argument("--hi", type=float, required=True)
    ap.add_argument("--unanswerable-share", type=float, default=0.33)
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    from eval.squad import run_squad

    rows = [json.loads(x) for x in (a.extractive_run / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    band = [r for r in rows if a.lo <= (r.get("signals") or {}).get("p_unanswerable", -1.0) < a.hi]
    ans = sum(bool(r["answerable"]) for r in rows)
    una = len(rows) - ans
    print(f"{len(band)} questions in [{a.lo}, {a.hi}): {sum(bool(r['answerable']) for r in band)} of {ans} answerable, "
          f"{sum(not r['answerable'] for r in band)} of {una} left out", file=sys.stderr)
    summary, out = run_squad(a.squad, out_dir=a.out, answerer="generative", unanswerable_share=a.unanswerable_share, seed=a.seed,
                             ids={r["id"] for r in band},
                             command=f"python -m eval.band {' '.join(sys.argv[1:])}")
    got = [json.loads(x) for x in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    gen_ans = [r for r in got if r["answerable"] and not r.get("error")]
    gen_una = [r for r in got if not r["answerable"] and not r.get("error")]
    answered_ok = sum(not r["refused"] for r in gen_ans)
    answered_left_out = sum(not r["refused"] for r in gen_una)
    lines = [f"command: `python -m eval.band {' '.join(sys.argv[1:])}`", "",
             f"set: {a.squad.name}, whole set {ans} answerable / {una} left out; band [{a.lo}, {a.hi}) of p_unanswerable",
             f"- answerable questions in the band: {len(gen_ans)}; the generative answer answers {answered_ok} of them "
             f"(char F1 sum {sum(r['f1'] for r in gen_ans if not r['refused']):.1f}): "
             f"false refusals added by the lower bar: +{answered_ok / max(1, ans):.4f} of all answerable",
             f"- left-out questions in the band: {len(gen_una)}; the generative answer answers {answered_left_out} of them: "
             f"refusal recall gained by the lower bar: +{answered_left_out / max(1, una):.4f} of all left out"]
    lines += ["", "| bar | false refusals added | refusal recall gained |", "|---|---|---|"]
    for bar in bars_between(a.lo, a.hi):
        def moved(rs: list[dict]) -> int:
            return sum(not r["refused"] and (r.get("signals") or {}).get("p_unanswerable", -1.0) >= bar for r in rs)
        lines.append(f"| {bar} | +{moved(gen_ans) / max(1, ans):.4f} | +{moved(gen_una) / max(1, una):.4f} |")
    (out / "band.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
