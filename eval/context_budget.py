"""How often the prompt holds the answer, and how many prompt tokens it costs, per context budget.

For a seeded sample of answerable questions of a SQuAD-style file (indexed as in
``newsqa eval --squad``), builds the generative prompt's passage sentences
(``qa.answer.ground.context_sentences``) under each budget and counts how often a
reference answer is in them, and the user message's tokens (the system prompt and
worked examples are a cached prefix, so these are what time to first token pays
for). Usage: ``python -m eval.context_budget FILE [--limit 500] [--budgets 3:220,4:300,5:400]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa.text import norm


def main(argv: list[str] | None = None) -> None:
    from embeddings.models import generator_path
    from eval.squad import sample, squad_index
    from qa.answer.ground import build_messages, context_sentences
    from qa.pipeline import get_pipeline, load_embedder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--budgets", default="3:220,4:300,5:400,6:500")
    a = ap.parse_args(argv)
    budgets = [tuple(int(x) for x in b.split(":")) for b in a.budgets.split(",")]
    emb = load_embedder(None)
    folder, _arts, questions = squad_index(a.file, emb)
    items = sample([q for q in questions if q["answerable"] and not q["empty"]], a.limit)
    p = get_pipeline(folder, embedder=emb)
    from llama_cpp import Llama

    tok = Llama(model_path=str(generator_path()), vocab_only=True, verbose=False)
    gs = p.settings.generation
    held = {b: 0 for b in budgets}
    tokens = {b: [] for b in budgets}
    for it in items:
        query = p.query(it["question"])
        hits = p.retriever.retrieve(query.text, 5, query_vec=query.vec)
        cands = p.extractive.candidates(query.scoring_text, query.scoring_vec, hits, query.latin)
        for b in budgets:
            groups = context_sentences(cands, b[0], b[1], query.text, gs.min_subject, query.scoring_text)
            msgs = build_messages(it["question"], groups, gs.title_chars)
            text = norm(msgs[-1]["content"])
            held[b] += any(norm(r) in text for r in it["answers"] if norm(r))
            tokens[b].append(len(tok.tokenize(msgs[-1]["content"].encode("utf-8"), add_bos=False)))
    for b in budgets:
        t = sorted(tokens[b])
        print(json.dumps({"file": a.file.name, "sentences": b[0], "chars": b[1], "questions": len(items),
                          "answer_in_prompt": round(held[b] / len(items), 3), "user_tokens_p50": t[len(t) // 2],
                          "user_tokens_p90": t[int(0.9 * len(t))]}))


if __name__ == "__main__":
    main()
