"""Measure the subject check (``qa.answer.subject``) on recorded ``newsqa eval --squad`` runs.

Two measures, both with the product's own functions and without re-running a model:

- ``cost``: the share of answerable questions whose own paragraph does not name the
  question's subject (the check would refuse them wherever they are answered from it),
  and ``catch``: the share of left-out documents' questions that pass the generative
  pre-check (``p_unanswerable`` below ``--precheck``) whose top hit does not name it.
  Meant for whole-set extractive runs.
- ``replay``: each answered row is refused when no cited article names the subject and
  its ``p_unanswerable`` is at least the bar; false refusals, left-out questions refused
  and char F1 of the answerable questions, before and after. Exact for generative runs
  made with the check off (a refused row's outcome does not depend on other rows).

    python -m eval.subject eval/outside/v6-ex-cmrc eval/outside/v6-ex-drcd --mode cost --from 0,0.02,0.05
    python -m eval.subject eval/outside/paired/paired-4-300-cmrc eval/outside/paired/paired-4-300-drcd --mode replay
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from eval.squad import SEED, document_of, left_out_documents, load_squad
from eval.verify import all_rows
from qa.answer.extractive import LexicalStats
from qa.settings import GenerationSettings
from qa.answer.subject import leading_subject, names_subject


def articles_of(run: Path) -> tuple[dict[str, str], LexicalStats]:
    """Article id -> title and body, for the SQuAD-style file the run was made on (its summary's
    ``meta.file``), and the bigram statistics of the articles its index held."""
    meta = json.loads((run / "summary.json").read_text(encoding="utf-8"))["meta"]
    arts, _ = load_squad(Path(meta["file"]))
    out = left_out_documents(arts, meta.get("unanswerable_share") or 0.0, meta.get("seed", SEED))
    return {a.id: a.headline + "\n" + a.body for a in arts}, LexicalStats(a for a in arts if document_of(a.id) not in out)


def misses(question: str, texts: Sequence[str], common: Callable[[str], bool] | None = None) -> bool:
    """Whether none of ``texts`` names the question's subject (False when it names none)."""
    subject = leading_subject(question, common)
    return subject is not None and bool(texts) and not any(names_subject(subject, t) for t in texts)


def cost_catch(rows: Sequence[dict[str, Any]], arts: dict[str, str], bar: float, precheck: float,
               common: Callable[[str], bool] | None = None) -> dict[str, float]:
    p = lambda r: (r.get("signals") or {}).get("p_unanswerable", 1.0)  # noqa: E731
    ans = [r for r in rows if r["answerable"]]
    left = [r for r in rows if not r["answerable"] and r.get("hits") and p(r) < precheck]
    cost = sum(p(r) >= bar and p(r) < precheck and misses(r["question"], [arts[r["paragraph"]]], common) for r in ans)
    catch = sum(p(r) >= bar and misses(r["question"], [arts[r["hits"][0][0]]], common) for r in left)
    return {"answerable": len(ans), "left_out_past_precheck": len(left),
            "cost": cost / max(1, len(ans)), "catch": catch / max(1, len(left))}


def replay(rows: Sequence[dict[str, Any]], arts: dict[str, str], bar: float | None,
           common: Callable[[str], bool] | None = None) -> dict[str, float]:
    def refused(r: dict[str, Any]) -> bool:
        if r["refused"] or bar is None:
            return bool(r["refused"])
        cited = [arts[a] for a in dict.fromkeys(r.get("cited") or []) if a in arts]
        return (r.get("signals") or {}).get("p_unanswerable", 1.0) >= bar and misses(r["question"], cited, common)

    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    return {"answerable": len(ans), "unanswerable": len(una),
            "false_refusals": sum(map(refused, ans)) / max(1, len(ans)),
            "left_out_refused": sum(map(refused, una)) / max(1, len(una)),
            "char_f1": sum(0.0 if refused(r) else float(r.get("f1") or 0.0) for r in ans) / max(1, len(ans))}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.subject", description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders of newsqa eval --squad (rows.jsonl, summary.json)")
    ap.add_argument("--mode", choices=("cost", "replay"), default="replay")
    ap.add_argument("--from", dest="bars", default="0,0.02,0.05", help="p_unanswerable bars to apply the check from")
    ap.add_argument("--common-share", type=float, default=None,
                    help="share of the archive's articles from which a leading word is common (default: the product's)")
    ap.add_argument("--precheck", type=float, default=0.747, help="the generative pre-check bar (cost mode)")
    a = ap.parse_args(argv)
    bars = [float(x) for x in a.bars.split(",")]
    print(f"# python -m eval.subject {' '.join(sys.argv[1:] if argv is None else argv)}")
    for run in a.runs:
        rows = [r for r in all_rows(run) if r.get("error") is None]
        arts, stats = articles_of(run)
        share = GenerationSettings().subject_common_share if a.common_share is None else a.common_share
        common = lambda w, st=stats: st.share(w[:2]) >= share  # noqa: E731
        if a.mode == "replay":
            print(f"{run.name} without the check: {json.dumps({k: round(v, 4) for k, v in replay(rows, arts, None, common).items()})}")
        for bar in bars:
            fig = cost_catch(rows, arts, bar, a.precheck, common) if a.mode == "cost" else replay(rows, arts, bar, common)
            print(f"{run.name} from {bar}: {json.dumps({k: round(v, 4) for k, v in fig.items()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
