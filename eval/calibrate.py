"""Fit the refusal weights (``AnswerSettings.refusal_*``) on unanswerable-share runs, with 2-fold cross-validation by document.

Reads the rows of ``newsqa eval --squad FILE --unanswerable-share S`` runs (each row
records the signals its refusal was decided on), pools them, splits the documents in two
seeded folds, fits a logistic function of ``top_score`` and ``top_coverage`` on one fold
(each set weighing the same), chooses the bar that keeps false refusals at or under
``max_false`` on every set there, and reports
false refusals and refusal recall on the other fold, per set. The weights to ship are then
fitted on all rows. Usage: ``python -m eval.calibrate RUN_DIR… [--max-false 0.05]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from eval.squad import document_folds

FEATURES = ("top_score", "top_coverage")


def load_rows(run_dirs: Sequence[Path], features: Sequence[str] = FEATURES) -> list[dict[str, Any]]:
    """Rows of the runs that carry the signals, each tagged with its set and document."""
    rows = []
    for d in run_dirs:
        stem = Path(json.loads((Path(d) / "summary.json").read_text(encoding="utf-8"))["meta"]["file"]).stem
        for line in (Path(d) / "rows.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            s = r.get("signals") or {}
            if r.get("error") is None and all(f in s for f in features):
                r["set"], r["document"] = stem, f"{stem}:{r['paragraph'].rsplit('-', 1)[0]}"
                rows.append(r)
    return rows


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1e-3, steps: int = 3000) -> np.ndarray:
    """Weighted logistic regression by gradient descent on standardised features; returns (bias, weights…) on the raw scale."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.zeros(z.shape[1] + 1)
    zb = np.c_[np.ones(len(z)), z]
    sw = np.ones(len(y)) if weight is None else weight / weight.mean()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-zb @ w))
        g = zb.T @ (sw * (p - y)) / len(y) + l2 * np.r_[0, w[1:]]
        w -= 1.0 * g
    return np.r_[w[0] - (w[1:] * mu / sd).sum(), w[1:] / sd]


def chance(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(coef[0] + x @ coef[1:])))


def bar_for(p_answerable: np.ndarray, max_false: float) -> float:
    """The lowest bar that refuses at most ``max_false`` of the answerable questions."""
    s = np.sort(p_answerable)[::-1]
    k = int(np.floor(max_false * len(s)))
    return float(s[k]) + 1e-9 if k < len(s) else 0.0


def set_weights(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Each set weighs the same in the fit, however many questions it has."""
    n = {s: sum(r["set"] == s for r in rows) for s in {r["set"] for r in rows}}
    return np.array([1.0 / n[r["set"]] for r in rows])


def worst_case_bar(coef: np.ndarray, rows: Sequence[dict[str, Any]], max_false: float,
                   features: Sequence[str] = FEATURES) -> float:
    """The lowest bar that refuses at most ``max_false`` of the answerable questions of every set."""
    bars = []
    for name in {r["set"] for r in rows}:
        x, y = matrix([r for r in rows if r["set"] == name], features)
        bars.append(bar_for(chance(coef, x)[y == 0], max_false))
    return max(bars)


def matrix(rows: Sequence[dict[str, Any]], features: Sequence[str] = FEATURES) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[r["signals"][f] for f in features] for r in rows], dtype=float)
    y = np.array([not r["answerable"] for r in rows], dtype=float)
    return x, y


def auc(p_pos: np.ndarray, p_neg: np.ndarray) -> float:
    """The chance that a random positive scores above a random negative (ties count half)."""
    if not len(p_pos) or not len(p_neg):
        return float("nan")
    allp = np.r_[p_pos, p_neg]
    order = allp.argsort(kind="mergesort")
    ranks = np.empty(len(allp))
    ranks[order] = np.arange(1, len(allp) + 1)
    for v in np.unique(allp):  # average ranks of ties
        m = allp == v
        ranks[m] = ranks[m].mean()
    return float((ranks[: len(p_pos)].sum() - len(p_pos) * (len(p_pos) + 1) / 2) / (len(p_pos) * len(p_neg)))


def crossvalidate(rows: Sequence[dict[str, Any]], max_false: float, seed: int = 7,
                  features: Sequence[str] = FEATURES) -> list[dict[str, Any]]:
    folds = document_folds(rows, lambda r: r["document"], seed)
    out = []
    for i in (0, 1):
        train, test = folds[i], folds[1 - i]
        x, y = matrix(train, features)
        coef = fit(x, y, set_weights(train))
        bar = worst_case_bar(coef, train, max_false, features)
        for name in sorted({r["set"] for r in test}):
            xt, yt = matrix([r for r in test if r["set"] == name], features)
            p = chance(coef, xt)
            out.append({"fold": i + 1, "set": name, "bar": round(bar, 3), "coef": [round(c, 2) for c in coef],
                        "auc": round(auc(p[yt == 1], p[yt == 0]), 3),
                        "false_refusals": round(float((p[yt == 0] >= bar).mean()), 3),
                        "refusal_recall": round(float((p[yt == 1] >= bar).mean()), 3),
                        "answerable": int((yt == 0).sum()), "unanswerable": int((yt == 1).sum())})
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--max-false", type=float, default=0.05)
    ap.add_argument("--features", default=",".join(FEATURES), help=f"signals to fit on, comma-separated (default {','.join(FEATURES)})")
    a = ap.parse_args(argv)
    features = tuple(f.strip() for f in a.features.split(",") if f.strip())
    rows = load_rows(a.runs, features)
    for r in crossvalidate(rows, a.max_false, features=features):
        print(json.dumps(r, ensure_ascii=False))
    x, y = matrix(rows, features)
    coef = fit(x, y, set_weights(rows))
    print(json.dumps({"all_rows": len(rows), "bias": round(float(coef[0]), 2),
                      **{f"w_{f}": round(float(c), 2) for f, c in zip(features, coef[1:])},
                      "bar": round(worst_case_bar(coef, rows, a.max_false, features), 3)}))


if __name__ == "__main__":
    main()
