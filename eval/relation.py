"""Measure the span-adjacency relation check (``qa.answer.relation``) on SQuAD-style development sets.

For each answerable question whose reference answer (no numbers, at most 12 characters)
lies in one sentence of its paragraph: the reference should pass, and every other noun
span of that sentence (jieba: names, places, organisations, other nouns; not in the
question, not overlapping the reference) is a wrong answer quoting the right sentence,
which the check should catch. Prints how many references it would drop and how many
wrong answers it catches. Usage: ``python -m eval.relation FILE…``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eval.squad import load_squad
from qa.answer.relation import relation_holds
from qa.text import normalize, sentences, strip_punct


def measure(path: Path, kinds: tuple[str | None, ...] | None = None) -> dict[str, float | int]:
    """Reference drops and wrong-answer catches over a file's questions (of ``kinds`` only, when given)."""
    import jieba.posseg as pseg

    from qa.answer.span import question_kind

    arts, qs = load_squad(path)
    body = {a.id: a.body for a in arts}
    refs = {"n": 0, "dropped": 0, "judged": 0}
    wrong = {"n": 0, "caught": 0, "judged": 0}
    for q in qs:
        if not q["answerable"] or not q["answers"] or q["empty"]:
            continue
        if kinds is not None and question_kind(q["question"]) not in kinds:
            continue
        ref = q["answers"][0]
        text = body[q["paragraph"]]
        sent = next((text[s:e] for s, e in sentences(text) if ref in text[s:e]), None)
        if sent is None:
            continue
        v = relation_holds(q["question"], ref, sent)
        if v is None and len(strip_punct(ref)) > 12:
            continue
        refs["n"] += 1
        refs["judged"] += v is not None
        refs["dropped"] += v is False
        qn, rn = normalize(q["question"]), normalize(ref)
        for w in pseg.cut(normalize(sent)):
            if not w.flag.startswith("n") or len(w.word) < 2 or w.word in qn or w.word in rn or rn in w.word:
                continue
            v = relation_holds(q["question"], w.word, sent)
            wrong["n"] += 1
            wrong["judged"] += v is not None
            wrong["caught"] += v is False
    return {"file": path.name, "kinds": list(kinds) if kinds else "all", "references": refs["n"], "references_dropped": refs["dropped"],
            "reference_drop_rate": round(refs["dropped"] / max(refs["n"], 1), 3),
            "wrong_answers": wrong["n"], "wrong_caught": wrong["caught"],
            "catch_rate": round(wrong["caught"] / max(wrong["n"], 1), 3)}


if __name__ == "__main__":
    for f in sys.argv[1:]:
        for kinds in (None, ("person",), ("person", "place")):
            print(json.dumps(measure(Path(f), kinds), ensure_ascii=False))
