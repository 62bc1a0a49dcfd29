"""Ablation: each answer rule on and off, on CMRC 2018 dev, DRCD dev (a third of documents left out) and the gold set.

Every variant is the shipped ``Settings`` with one switch turned; the extractive answerer
is run on a seeded sample of each development set and on the whole gold file, so a rule
is kept only when it pays across sets. Writes ``ablation.md`` and ``ablation.json`` in
the output folder. Usage: ``python -m eval.ablation [--limit N] [--answerer generative] [--only NAMES] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

from qa.settings import Settings

DEV = {
    "cmrc-dev": Path("/work/shared/external/cmrc2018/cmrc2018_dev_squad.json"),
    "drcd-dev": Path("/work/shared/external/drcd/DRCD_dev.json"),
}


def _answer(**kw: Any) -> Callable[[Settings], Settings]:
    return lambda s: dataclasses.replace(s, answer=dataclasses.replace(s.answer, **kw))


def _retrieval(**kw: Any) -> Callable[[Settings], Settings]:
    return lambda s: dataclasses.replace(s, retrieval=dataclasses.replace(s.retrieval, **kw))


def _generation(**kw: Any) -> Callable[[Settings], Settings]:
    return lambda s: dataclasses.replace(s, generation=dataclasses.replace(s.generation, **kw))


VARIANTS: dict[str, Callable[[Settings], Settings]] = {
    "shipped": lambda s: s,
    "answer types off": _answer(answer_types=False),
    "typed spans off": _answer(typed_span=False),
    "refusal: old rules": _answer(refusal="rules"),
    "second sentence off": _answer(second_ratio=9.0),
    "coverage weight off": _retrieval(w_coverage=0.0),
    # generative answers only (--answerer generative); the refusal override and the pre-check
    # bar can also be replayed on recorded rows without the model (eval.replay)
    "subject filter off": _generation(min_subject=0.0),
    "refusal override off": _generation(refusal_override=False),
}
DEV_COLS = ["char_f1", "em", "contains", "cited_own", "false_refusals", "refusal_recall"]
GOLD_COLS = ["accuracy", "char_f1", "citation_precision", "refusal_recall", "refusal_precision"]


def main(argv: list[str] | None = None) -> None:
    from eval.run import default_gold_path, run_eval
    from eval.squad import run_squad

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1000, help="seeded sample per development set (default 1000)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "runs" / time.strftime("ablation-%Y%m%d-%H%M%S"))
    ap.add_argument("--only", default=None, help="comma-separated variant names")
    ap.add_argument("--answerer", default="extractive", choices=("extractive", "generative"))
    a = ap.parse_args(argv)
    names = [n for n in VARIANTS if not a.only or n in a.only.split(",")]
    base = Settings.from_env()
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        s = VARIANTS[name](base)
        res: dict[str, Any] = {}
        for label, path in DEV.items():
            summ, _ = run_squad(path, answerer=a.answerer, limit=a.limit, unanswerable_share=0.33, settings=s,
                                out_dir=a.out / f"{name}-{label}".replace(" ", "_").replace(":", ""))
            res[label] = {c: summ.get(c) for c in DEV_COLS}
        summ, _ = run_eval(default_gold_path(), answerer=a.answerer, settings=s,
                           out_dir=a.out / f"{name}-gold".replace(" ", "_").replace(":", ""))
        res["gold"] = {c: summ["overall"].get(c) for c in GOLD_COLS}
        results[name] = res
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "ablation.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    head = ["variant"] + [f"{d} {c}" for d in DEV for c in DEV_COLS] + [f"gold {c}" for c in GOLD_COLS]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, res in results.items():
        cells = [f"{res[d][c]:.3f}" if res[d][c] is not None else "–" for d in DEV for c in DEV_COLS]
        cells += [f"{res['gold'][c]:.3f}" if res["gold"][c] is not None else "–" for c in GOLD_COLS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (a.out / "ablation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
