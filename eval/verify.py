"""Replay answer verification on recorded generative runs and choose its bar with cross-validation.

``newsqa eval --squad … --answerer generative`` rows keep the prompt, the model's raw
output, the answer and its quotes. This re-asks the verification question
(``qa.answer.verify``) for every answered row and scores each bar: the share of the
left-out documents' answered questions it refuses (gain) against the share of answerable
questions it refuses (cost), per set, with the bar chosen on one fold of documents and
scored on the other.

    python -m eval.verify eval/runs/cal-gen-cmrc eval/runs/cal-gen-drcd --style sentence --out eval/outside/verify
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from eval.run import atomic_write
from eval.squad import document_folds, document_of

_MARK = re.compile(r"\[\d+\]")


def all_rows(run: Path) -> list[dict[str, Any]]:
    """The rows of ``run``, each with its set's (run's) name."""
    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    for r in rows:
        r["set"] = run.name
    return rows


def answered(r: dict[str, Any]) -> bool:
    return not r.get("refused") and bool(r.get("quotes"))


def document(r: dict[str, Any]) -> str:
    """The SQuAD document of a row's own paragraph (``eval.squad.document_of``)."""
    return document_of(r["paragraph"])


def conversation(row: dict[str, Any]) -> list[dict[str, str]]:
    """The answer prompt the row's model saw (system and worked examples as configured now)."""
    from qa.answer.ground import build_messages

    msgs = build_messages(row["question"], [], prompt="short", few_shot=True)
    return [*msgs[:-1], {"role": "user", "content": row["prompt"]}]


def score_rows(rows: list[dict[str, Any]], style: str, generator: Any, cache: Path) -> None:
    """Add ``p_yes`` to each row (cached per style in ``cache``, one JSON line per row)."""
    from qa.answer.verify import verification_messages, yes_probability

    done: dict[str, float | None] = {}
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            done[d["key"]] = d["p_yes"]
    with cache.open("a", encoding="utf-8") as f:
        for i, r in enumerate(rows, 1):
            key = f"{r['set']}/{r['id']}"
            if key not in done:
                answer = _MARK.sub("", r["answer"]).strip()
                msgs = verification_messages(r["question"], answer, r["quotes"], style=style,
                                             conversation=conversation(r) if r.get("prompt") else ())
                t = time.perf_counter()
                done[key] = yes_probability(generator, msgs)
                f.write(json.dumps({"key": key, "p_yes": done[key], "ms": round(1000 * (time.perf_counter() - t), 1)}) + "\n")
                f.flush()
                if i % 20 == 0:
                    print(f"  {style}: {i}/{len(rows)}", file=sys.stderr)
            r["p_yes"] = done[key]


def effect(rows: Sequence[dict[str, Any]], totals: dict[str, dict[str, int]], bar: float) -> dict[str, dict[str, float]]:
    """Per set: left-out questions newly refused (share of all left-out) and answerable ones newly refused (share of all answerable)."""
    out: dict[str, dict[str, float]] = {}
    for s, tot in totals.items():
        mine = [r for r in rows if r["set"] == s and r["p_yes"] is not None and r["p_yes"] < bar]
        out[s] = {
            "gain": sum(not r["answerable"] for r in mine) / max(1, tot["unanswerable"]),
            "cost": sum(bool(r["answerable"]) for r in mine) / max(1, tot["answerable"]),
            "f1_lost": sum(r["f1"] for r in mine if r["answerable"]) / max(1, tot["answerable"]),
        }
    return out


def totals_of(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per set: how many answerable and unanswerable questions ``rows`` hold."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        t = out.setdefault(r["set"], {"answerable": 0, "unanswerable": 0})
        t["answerable" if r["answerable"] else "unanswerable"] += 1
    return out


def choose_bar(rows: Sequence[dict[str, Any]], totals: dict[str, dict[str, int]], max_cost: float) -> float:
    """The highest bar whose added false refusals stay within ``max_cost`` on every set."""
    best = 0.0
    for bar in [i / 100 for i in range(1, 100)]:
        if all(v["cost"] <= max_cost for v in effect(rows, totals, bar).values()):
            best = bar
    return best


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--style", default="sentence")
    ap.add_argument("--max-cost", type=float, default=0.02, help="added false refusals allowed per set when choosing the bar")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    from qa.answer.generate import default_generator

    gen = default_generator()
    if gen is None:
        print("no generator installed", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    everything = [r for run in a.runs for r in all_rows(run)]
    totals = totals_of(everything)
    rows = [r for r in everything if answered(r)]
    score_rows(rows, a.style, gen, a.out / f"p_yes-{a.style}.jsonl")
    lines = [f"# verification replay, style {a.style}", "", "command: `python -m eval.verify " + " ".join(sys.argv[1:]) + "`", "",
             "| bar | set | left-out refused (gain) | answerable refused (cost) | F1 lost |", "|---|---|---|---|---|"]
    for bar in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        for s, v in effect(rows, totals, bar).items():
            lines.append(f"| {bar} | {s} | {v['gain']:.3f} | {v['cost']:.3f} | {v['f1_lost']:.3f} |")
    # 2-fold cross-validation by document: choose on one fold, score the other
    half, rest = document_folds(everything, document)
    lines += ["", f"2-fold cross-validation by document (seed 7), bar chosen at added false refusals ≤ {a.max_cost} per set:", "",
              "| test fold | bar | set | gain | cost |", "|---|---|---|---|---|"]
    for k, (train, test) in ((1, (rest, half)), (2, (half, rest))):
        bar = choose_bar([r for r in train if answered(r)], totals_of(train), a.max_cost)
        for s, v in effect([r for r in test if answered(r)], totals_of(test), bar).items():
            lines.append(f"| {k} | {bar} | {s} | {v['gain']:.3f} | {v['cost']:.3f} |")
    lines += ["", f"bar chosen on all rows: {choose_bar(rows, totals, a.max_cost)}"]
    atomic_write(a.out / f"verify-{a.style}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
