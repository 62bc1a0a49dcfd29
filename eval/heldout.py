"""Write the held-out question sets in the gold schema, for `newsqa eval --gold`.

`eval/english_heldout.jsonl` (24 English questions written before any English tuning)
and the traditional-Chinese and English forms of `eval/twins.jsonl` are kept in their
own schemas (one question in several forms); this writes one gold file per form to
`eval/heldout/`:

    python -m eval.heldout
    newsqa eval --gold eval/heldout/english.jsonl --answerer generative --out eval/heldout/english
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (output name, source file, the field holding the question)
SETS = (("english", "english_heldout.jsonl", "en"), ("twins_en", "twins.jsonl", "en"),
        ("twins_hant", "twins.jsonl", "zh_hant"))


def gold_rows(source: Path, field: str, kind: str) -> list[dict]:
    """The questions of ``source`` in the gold schema, asked in the form ``field``."""
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            it = json.loads(line)
            rows.append({"id": it["id"], "question": it[field], "answers": it.get("answers", []),
                         "evidence": it.get("evidence", ""), "source": it.get("source", ""),
                         "answerable": it.get("answerable", True), "kind": kind})
    return rows


def main() -> None:
    out = HERE / "heldout"
    out.mkdir(exist_ok=True)
    for name, src, field in SETS:
        rows = gold_rows(HERE / src, field, name)
        tmp = out / f".{name}.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        tmp.replace(out / f"{name}.jsonl")
        print(f"{out / name}.jsonl: {len(rows)} questions")


if __name__ == "__main__":
    main()
