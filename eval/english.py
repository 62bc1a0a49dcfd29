"""English questions over a Chinese development set: translate a seeded sample, then measure the cross-lingual lexicon.

The glossary (``qa.lexical.glossary``) and CC-CEDICT turn an English question's words into
Chinese terms for BM25. Whether they earn their place is measured here on questions nobody
here wrote: a seeded sample of a SQuAD-style set's questions is machine-translated into
English by the local answer model (``translate``), written as a SQuAD file with every
paragraph and only the translated questions, and then answered with each lexicon variant
(``ablate``): glossary + CC-CEDICT (shipped), CC-CEDICT only, glossary only, neither.

    python -m eval.english translate /work/shared/external/cmrc2018/cmrc2018_dev_squad.json --limit 200 --out eval/outside/english/cmrc-dev-en.jsonl
    python -m eval.english ablate /work/shared/external/cmrc2018/cmrc2018_dev_squad.json eval/outside/english/cmrc-dev-en.jsonl --out eval/runs/english
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from eval.run import atomic_write

log = logging.getLogger(__name__)

SYSTEM_TRANSLATE = (
    "You translate Chinese questions into natural English, as an English-speaking reader would ask them. "
    "Write person and place names in pinyin or their usual English form. Output only the English question."
)
_LATIN = re.compile(r"[A-Za-z]")


def translate(path: Path, limit: int, out: Path, seed: int = 2018) -> int:
    """Translate a seeded sample of ``limit`` questions of ``path`` into English; write ``{"id", "zh", "en"}`` lines to ``out``."""
    from qa.answer.generate import default_generator

    gen = default_generator()
    if gen is None:
        raise SystemExit("no generator installed: run `newsqa models install`")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    qas = [qa for doc in data["data"] for para in doc["paragraphs"] for qa in para.get("qas") or []]
    chosen = sorted(random.Random(seed).sample(range(len(qas)), min(limit, len(qas))))
    lines = []
    for n, i in enumerate(chosen, 1):
        zh = qas[i]["question"]
        msgs = [{"role": "system", "content": SYSTEM_TRANSLATE}, {"role": "user", "content": zh}]
        en = "".join(gen.stream(msgs, max_tokens=80)).strip().splitlines()[0].strip().strip('"')
        if not _LATIN.search(en):
            log.warning("no English for %s: %r", qas[i].get("id"), en)
            continue
        lines.append(json.dumps({"id": qas[i]["id"], "zh": zh, "en": en}, ensure_ascii=False))
        if n % 20 == 0:
            print(f"  translated {n}/{len(chosen)}", file=sys.stderr)
    atomic_write(out, "\n".join(lines) + "\n")
    return len(lines)


def english_squad(path: Path, translations: Path, out: Path) -> Path:
    """A SQuAD file with every paragraph of ``path`` and only the translated questions, in English."""
    en = {}
    for line in translations.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            en[d["id"]] = d["en"]
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for doc in data["data"]:
        for para in doc["paragraphs"]:
            para["qas"] = [{**qa, "question": en[qa["id"]]} for qa in para.get("qas") or [] if qa.get("id") in en]
    atomic_write(out, json.dumps(data, ensure_ascii=False))
    return out


VARIANTS = ("glossary+cedict", "cedict", "glossary", "none")


def lexicon_for(variant: str) -> dict[str, tuple[str, ...]]:
    """The cross-lingual lexicon of one ablation variant."""
    from qa.lexical import crosslingual
    from qa.lexical.glossary import GLOSSARY

    if variant == "glossary+cedict":
        return crosslingual.lexicon()
    if variant == "cedict":
        return dict(crosslingual.cedict())
    if variant == "glossary":
        return {crosslingual.phrase_key(p): tuple(s) for p, s in GLOSSARY.items()}
    return {}


def ablate(path: Path, out: Path, unanswerable_share: float, seed: int = 2018) -> list[dict[str, Any]]:
    """Answer an English SQuAD file (``english_squad``) with each lexicon variant (extractive); one summary row per variant."""
    import os

    from eval.squad import run_squad
    from qa.lexical import crosslingual
    from qa.pipeline import clear_cache

    os.environ.setdefault("NEWSQA_GENERATOR", "none")
    shipped = crosslingual.lexicon
    rows = []
    try:
        for v in VARIANTS:
            table = lexicon_for(v)
            crosslingual.lexicon = lambda table=table: table  # type: ignore[assignment]
            clear_cache()  # a pipeline keeps each question's English terms
            summary, folder = run_squad(path, out_dir=out / f"en-{v}", answerer="extractive",
                                        unanswerable_share=unanswerable_share, seed=seed,
                                        command=f"python -m eval.english ablate … (variant {v}, file {path.name})")
            rows.append({"variant": v, **{k: round(x, 3) if isinstance(x, float) else x for k, x in summary.items()}})
    finally:
        crosslingual.lexicon = shipped  # type: ignore[assignment]
        clear_cache()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("translate")
    t.add_argument("squad", type=Path)
    t.add_argument("--limit", type=int, default=200)
    t.add_argument("--seed", type=int, default=2018)
    t.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("ablate")
    b.add_argument("squad", type=Path)
    b.add_argument("translations", type=Path)
    b.add_argument("--unanswerable-share", type=float, default=0.33)
    b.add_argument("--seed", type=int, default=2018)
    b.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if a.cmd == "translate":
        n = translate(a.squad, a.limit, a.out, a.seed)
        print(f"translated {n} questions into {a.out}")
        return 0
    derived = english_squad(a.squad, a.translations, a.out / f"{a.squad.stem}-en.json")
    rows = ablate(derived, a.out, a.unanswerable_share, a.seed)
    keys = ["variant", "hit@1", "hit@5", "char_f1", "cited_own", "false_refusals", "refusal_recall"]
    lines = [f"command: `python -m eval.english {' '.join(sys.argv[1:])}`", "",
             "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    atomic_write(a.out / "english-ablation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
