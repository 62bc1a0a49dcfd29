"""Lexical vs dense vs hybrid retrieval (and the plain LangChain peer) in one table.

    python -m eval.compare [--squad FILE] [--limit N] [--md eval/RETRIEVAL.md] [--no-peer]

One run writes one Markdown file with:
1. the main table: eval/gold.jsonl (answerable questions, overall and per kind) and the
   SQuAD-style file (CMRC 2018 trial by default), alone and mixed into the news
   corpus; hit@1, hit@5, MRR, answer accuracy, char F1 (and EM on the SQuAD file),
   for ``retriever="lexical" | "dense" | "hybrid"`` and the LangChain peer;
2. refusals on the gold set's unanswerable questions per retriever;
3. twins: the same questions in simplified Chinese, traditional Chinese and English
   (eval/twins.jsonl), hit@1/hit@5/MRR per form and retriever;
4. the tokenizer measurement behind the default (bigram / jieba / both), lexical and
   hybrid, on the gold set and the SQuAD file;
5. latency of ``ask()`` per retriever.

Answers are extractive (``answerer="extractive"``) so that only retrieval differs.
Raw rows and summaries go to ``eval/runs/compare-<time>/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

from . import metrics as M

ROOT = Path(__file__).resolve().parent
RETRIEVERS = ("lexical", "dense", "hybrid")
DEFAULT_SQUAD = Path(os.environ.get("NEWSQA_EXTERNAL", ROOT.parent.parent / "shared" / "external")) / "cmrc2018" / "cmrc2018_trial_squad.json"
PEER = "langchain peer"


class CachedQueries:
    """An embedder whose question vectors are computed once, in batches, and reused by every run.

    Every retriever and corpus sees the same question vectors, so this only saves time
    (the model call dominates ``ask()`` on two cores); passages are embedded as usual.
    """

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def prefill(self, questions: Sequence[str]) -> None:
        from qa.text import normalize
        from qa.inputs import clean_question

        todo = list(dict.fromkeys(normalize(clean_question(q)) for q in questions if q.strip()))
        todo = [q for q in todo if q not in self.cache]
        for i in range(0, len(todo), 64):
            batch = todo[i : i + 64]
            self.cache.update(zip(batch, self.inner.embed_queries(batch)))

    def embed_queries(self, texts: Sequence[str]):
        import numpy as np

        missing = [t for t in texts if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed_queries(missing)))
        return np.vstack([self.cache[t] for t in texts])


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def run_gold(items: Sequence[dict[str, Any]], index: Path, embedder: Any, retriever: str, k: int = 5) -> tuple[list[dict], dict]:
    """Ask every gold item with one retriever (extractive answers); rows and summary as ``eval.run`` makes them."""
    from qa import ask
    from qa.errors import NewsQAError

    from .run import score_item, summarize

    ask(items[0]["question"], k=k, index=index, embedder=embedder, answerer="extractive", retriever=retriever)  # warm-up
    rows = []
    for it in items:
        t0 = time.perf_counter()
        try:
            a, err = ask(it["question"], k=k, index=index, embedder=embedder, answerer="extractive", retriever=retriever).to_dict(), None
        except NewsQAError as e:
            a, err = None, f"{type(e).__name__}: {e}"
        rows.append(score_item(it, a, err, time.perf_counter() - t0))
    return rows, summarize(rows)


def run_twins(twins: Sequence[dict[str, Any]], index: Path, embedder: Any, retriever: str, k: int = 5) -> dict[str, dict]:
    """hit@1/hit@5/MRR of each question form (zh, zh_hant, en) with one retriever."""
    from qa import ask

    out = {}
    for form in ("zh", "zh_hant", "en"):
        ranks = []
        for t in twins:
            hits = ask(t[form], k=k, index=index, embedder=embedder, answerer="extractive", retriever=retriever).hits
            ranks.append(M.first_hit_rank([h.chunk.text for h in hits], t["evidence"]))
        out[form] = _rank_summary(ranks)
    return out


def _rank_summary(ranks: Sequence[int | None]) -> dict[str, Any]:
    n = len(ranks)
    return {"questions": n, "hit@1": M.ratio(sum(r == 1 for r in ranks), n),
            "hit@5": M.ratio(sum(1 for r in ranks if r and r <= 5), n), "mrr": M.ratio(sum(1 / r for r in ranks if r), n)}


def tokenizer_ablation(index: Path, embedder: Any, questions: Sequence[tuple[str, Any]], is_hit, k: int = 5) -> dict[str, dict]:
    """Rebuild only the BM25 part of an index with each tokenizer (vectors unchanged) and rank the questions.

    Args:
        questions: (question, key) pairs; ``is_hit(key, hit)`` says whether a hit is relevant.
    """
    from qa.index.store import lexical_text, verify_index
    from qa.lexical.bm25 import TOKENIZERS, LexicalIndex
    from qa.retrieve.retriever import Retriever
    from qa.settings import RetrievalSettings
    from qa.text import normalize
    from qa.inputs import clean_question

    idx = verify_index(index, embedder.identity)
    texts = [lexical_text(idx.articles[c.article_id], c.text) for c in idx.chunks]
    qs = [(normalize(clean_question(q)), key) for q, key in questions]
    vecs = embedder.embed_queries([q for q, _ in qs])
    out: dict[str, dict] = {}
    for tok in TOKENIZERS:
        r = Retriever(dataclasses.replace(idx, lexical=LexicalIndex.build(texts, tok)), embedder, RetrievalSettings())
        for mode in ("lexical", "hybrid"):
            ranks = []
            for (q, key), v in zip(qs, vecs):
                hits = r.retrieve(q, k, query_vec=v, retriever=mode)
                ranks.append(next((h.rank for h in hits if is_hit(key, h)), None))
            out[f"{tok}/{mode}"] = _rank_summary(ranks)
    return out


def latency(index: Path, embedder: Any, questions: Sequence[str], retriever: str) -> dict[str, float]:
    from qa import ask

    ask(questions[0], index=index, embedder=embedder, answerer="extractive", retriever=retriever)
    secs, retrieve = [], []
    for q in questions:
        t0 = time.perf_counter()
        a = ask(q, index=index, embedder=embedder, answerer="extractive", retriever=retriever)
        secs.append(time.perf_counter() - t0)
        retrieve.append(a.timings.get("retrieve", 0.0))
    return {"p50_ms": round(M.percentile(secs, 50) * 1000, 1), "p95_ms": round(M.percentile(secs, 95) * 1000, 1),
            "retrieve_p50_ms": round(M.percentile(retrieve, 50) * 1000, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare lexical, dense and hybrid retrieval (and the LangChain peer); write one Markdown report.")
    ap.add_argument("--gold", type=Path, default=ROOT / "gold.jsonl")
    ap.add_argument("--twins", type=Path, default=ROOT / "twins.jsonl")
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="SQuAD-style file (default: CMRC 2018 trial)")
    ap.add_argument("--limit", type=int, default=None, help="a seeded sample of N SQuAD questions (default: all)")
    ap.add_argument("--index", type=Path, default=None, help="the news index (default: corpus/index)")
    ap.add_argument("--md", type=Path, default=ROOT / "RETRIEVAL.md")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-peer", action="store_true", help="skip the LangChain peer")
    ap.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON", help="only re-render a previous run's results.json")
    args = ap.parse_args(argv)
    if args.render:
        md = render(json.loads(args.render.read_text(encoding="utf-8")))
        args.md.write_text(md, encoding="utf-8")
        print(md)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from embeddings.models import resolve_embedder_path
    from qa.api import load_embedder
    from qa.settings import default_corpus_dir, default_index_dir

    from .run import load_gold
    from .squad import load_squad, run_squad, sample, squad_index

    t_start = time.perf_counter()
    out = args.out or ROOT / "runs" / time.strftime("compare-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    index = args.index or default_index_dir()
    from qa.api import index_runtime

    base_emb = load_embedder(None, index_runtime(index))  # the runtime the index's vectors were made with
    base_emb.warm_up()
    emb = CachedQueries(base_emb)
    gold = load_gold(args.gold)
    twins = [json.loads(l) for l in args.twins.read_text(encoding="utf-8").splitlines() if l.strip()]
    _a, all_sq = load_squad(args.squad)
    emb.prefill([g["question"] for g in gold] + [t[f] for t in twins for f in ("zh", "zh_hant", "en")]
                + [q["question"] for q in sample([q for q in all_sq if not q["empty"]], args.limit)])
    res: dict[str, Any] = {"gold": {}, "twins": {}, "squad": {}, "squad_mix": {}, "latency": {}}

    for r in RETRIEVERS:
        print(f"gold: {r}", flush=True)
        rows, summ = run_gold(gold, index, emb, r)
        res["gold"][r] = summ
        (out / f"gold-{r}.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
        res["twins"][r] = run_twins(twins, index, emb, r)
        # latency with the plain embedder: the question's embedding is part of ask()
        res["latency"][r] = latency(index, base_emb, [g["question"] for g in gold if g["kind"] != "crosslingual"][:40], r)
    for mix in (False, True):
        for r in RETRIEVERS:
            print(f"squad ({'mix' if mix else 'alone'}): {r}", flush=True)
            summ, _o = run_squad(args.squad, embedder=emb, retriever=r, answerer="extractive", limit=args.limit, mix=mix,
                                 out_dir=out / f"squad-{'mix' if mix else 'alone'}-{r}")
            res["squad_mix" if mix else "squad"][r] = summ

    # tokenizer measurement (BM25 rebuilt in memory; vectors reused)
    print("tokenizers", flush=True)
    answerable = [g for g in gold if g["answerable"]]
    res["tok_gold"] = tokenizer_ablation(index, emb, [(g["question"], g["evidence"]) for g in answerable],
                                         lambda ev, h: M.contains_evidence(h.chunk.text, ev))
    sq_index, _arts, sq_qs = squad_index(args.squad, emb)
    sq_qs = sample([q for q in sq_qs if not q["empty"]], args.limit)
    res["tok_squad"] = tokenizer_ablation(sq_index, emb, [(q["question"], q["paragraph"]) for q in sq_qs],
                                          lambda pid, h: h.article.id == pid)

    if not args.no_peer:
        from .peer_langchain import LangChainPeer, eval_gold, eval_squad, page_documents, squad_documents

        print("peer", flush=True)
        model_dir, _ = resolve_embedder_path(None)
        peer = LangChainPeer(page_documents(default_corpus_dir()), model_dir)
        res["peer_gold"] = eval_gold(peer, gold)
        res["peer_settings"] = peer.settings
        sq_docs = squad_documents(args.squad)
        sp = LangChainPeer(sq_docs, model_dir)
        res["peer_squad"] = eval_squad(sp, sq_qs)
        spm = LangChainPeer(page_documents(default_corpus_dir()) + sq_docs, model_dir)
        res["peer_squad_mix"] = eval_squad(spm, sq_qs)
        res["peer_squad_settings"] = sp.settings

    from qa.index.store import verify_index

    idx = verify_index(index, emb.identity)
    res["meta"] = {
        "command": "python -m eval.compare" + (f" --limit {args.limit}" if args.limit else "") + (f" --squad {args.squad}" if args.squad != DEFAULT_SQUAD else ""),
        "index": str(idx.path), "chunks": idx.size, "articles": len(idx.articles), "tokenizer": idx.tokenizer,
        "corpus_sha256": idx.manifest["corpus"]["sha256"], "model": idx.manifest["model"]["name"],
        "squad": str(args.squad), "squad_questions": len(sq_qs), "twins": len(twins),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.perf_counter() - t_start),
    }
    (out / "results.json").write_text(json.dumps(res, ensure_ascii=False, indent=2), encoding="utf-8")
    md = render(res)
    args.md.write_text(md, encoding="utf-8")
    print(md)
    print(f"written: {args.md} (raw results: {out}/results.json)")
    return 0


def targets(res: dict[str, Any]) -> list[str]:
    """The issue's targets, each with its figures and met / missed."""
    g = res["gold"]
    out = []
    h5 = g["hybrid"]["overall"]["hit@5"]
    out.append(f"- hybrid hit@5 ≥ 0.98 on the gold set's answerable questions: **{h5:.3f}**, {'met' if h5 >= 0.98 else 'missed'}.")
    for metric in ("hit@5", "hit@1", "mrr"):
        worse = []
        for kind, s in g["hybrid"]["by_kind"].items():
            if kind == "unanswerable":
                continue
            best = max(g[r]["by_kind"][kind][metric] for r in ("lexical", "dense"))
            if s[metric] < best - 1e-9:
                worse.append(f"{kind} {s[metric]:.3f} < {best:.3f}")
        out.append(f"- hybrid no worse than the best single retriever on any kind, {metric}: "
                   + ("met" if not worse else "missed on " + "; ".join(worse)) + ".")
    tw = res["twins"]["hybrid"]
    for form, label in (("zh_hant", "traditional"), ("en", "English")):
        for metric in ("hit@5", "hit@1", "mrr"):
            d = tw[form][metric] - tw["zh"][metric]
            out.append(f"- {label} twins within 5 points of simplified, hybrid {metric}: {tw[form][metric]:.3f} vs "
                       f"{tw['zh'][metric]:.3f} ({d * 100:+.1f} points), {'met' if d >= -0.05 else 'missed'}.")
    return out


def render(res: dict[str, Any]) -> str:
    m = res["meta"]
    g = res["gold"]
    lines = [
        "# Retrieval: lexical vs dense vs hybrid",
        "",
        f"- command: `{m['command']}` ({m['seconds']} s on {m['machine']}, {m['date']})",
        f"- news index: `{m['index']}`: {m['articles']} articles, {m['chunks']} chunks, model {m['model']}, "
        f"BM25 tokenizer `{m['tokenizer']}`, corpus sha256 {m['corpus_sha256'][:12]}",
        f"- SQuAD-style file: `{m['squad']}`, {m['squad_questions']} questions; indexed alone, and mixed into the news corpus",
        "- answers are extractive in every row (only retrieval differs); k = 5",
        "",
        "## Targets",
        "",
        *targets(res),
        "",
        "## Main table",
        "",
        "Gold rows count answerable questions: a hit is a retrieved chunk containing the evidence (whitespace ignored); "
        "accuracy: a reference string appears in the answer. SQuAD rows: a hit is a chunk of the question's own "
        "paragraph; accuracy = the answer contains a reference; char F1 / EM follow CMRC 2018 (punctuation and "
        "spaces removed, max over references; refusals score 0). The peer retrieves only (no answerer).",
        "",
        "| set | slice | n | retriever | hit@1 | hit@5 | MRR | accuracy | char F1 | EM |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(setname, slice_, n, name, s, acc=None, f1=None, em=None):
        lines.append(f"| {setname} | {slice_} | {n} | {name} | {_fmt(s.get('hit@1'))} | {_fmt(s.get('hit@5'))} | {_fmt(s.get('mrr'))} | "
                     f"{_fmt(acc)} | {_fmt(f1)} | {_fmt(em)} |")

    kinds = [k for k in g["hybrid"]["by_kind"] if k != "unanswerable"]
    for slice_ in ["answerable", *kinds]:
        for r in RETRIEVERS:
            s = g[r]["overall"] if slice_ == "answerable" else g[r]["by_kind"][slice_]
            row("gold", f"**{slice_}**" if slice_ == "answerable" else slice_, s["answerable"], r, s, s["accuracy"], s["char_f1"])
        if "peer_gold" in res:
            s = res["peer_gold"]["overall"] if slice_ == "answerable" else res["peer_gold"]["by_kind"].get(slice_, {})
            row("gold", f"**{slice_}**" if slice_ == "answerable" else slice_, s.get("questions"), PEER, s)
    for key, label, peer_key in (("squad", "alone", "peer_squad"), ("squad_mix", "mixed with news", "peer_squad_mix")):
        for r in RETRIEVERS:
            s = res[key][r]
            row("CMRC 2018 trial", label, s["questions"], r, s, s["contains"], s["char_f1"], s["em"])
        if peer_key in res:
            row("CMRC 2018 trial", label, res[peer_key]["questions"], PEER, res[peer_key])

    sq = res["squad"]
    best_single = max(("lexical", "dense"), key=lambda r: (sq[r]["hit@5"], sq[r]["mrr"]))
    lines += ["", "Reading it:",
              f"- On CMRC 2018 trial the best single retriever is {best_single} (hit@5 {sq[best_single]['hit@5']:.3f}, "
              f"MRR {sq[best_single]['mrr']:.3f}); hybrid has hit@5 {sq['hybrid']['hit@5']:.3f}, MRR {sq['hybrid']['mrr']:.3f}. "
              "Its questions copy the paragraph's words, which is BM25's home ground.",
              f"- Mixing the paragraphs into the news corpus adds {m['chunks']} news chunks on unrelated topics; "
              "retrieval barely notices.",
              "- Answer accuracy does not follow hit@1: the extractive answerer (unchanged here) weighs each passage's "
              "cosine, and its thresholds were set on dense rankings.",
              "- The peer's gold hits are lenient: a 4000-character chunk holds a third of a page."]
    lines += ["", "## Refusals (gold, 14 unanswerable questions)", "",
              "| retriever | refusal precision | refusal recall | answerable accuracy |", "|---|---|---|---|"]
    for r in RETRIEVERS:
        s = g[r]["overall"]
        lines.append(f"| {r} | {_fmt(s['refusal_precision'])} | {_fmt(s['refusal_recall'])} | {_fmt(s['accuracy'])} |")

    lines += ["", f"## Twins ({m['twins']} questions in three forms, eval/twins.jsonl)", "",
              "The gold set has no simplified twins of its traditional and English questions, so eval/twins.jsonl "
              "holds 24 gold questions each written three ways: simplified (the gold question, or a hand translation "
              "of an English gold question), traditional (OpenCC s2t of the simplified form) and English (the gold "
              "question, or a hand translation). Target: traditional and English within 5 points of simplified.", "",
              "| retriever | form | hit@1 | hit@5 | MRR | hit@5 − simplified |", "|---|---|---|---|---|---|"]
    for r in RETRIEVERS:
        base = res["twins"][r]["zh"]["hit@5"]
        for form, label in (("zh", "simplified"), ("zh_hant", "traditional"), ("en", "English")):
            s = res["twins"][r][form]
            lines.append(f"| {r} | {label} | {_fmt(s['hit@1'])} | {_fmt(s['hit@5'])} | {_fmt(s['mrr'])} | {s['hit@5'] - base:+.3f} |")

    lines += ["", "## Tokenizer (BM25 rebuilt per tokenizer, vectors unchanged)", "",
              "| tokenizer | gold lexical hit@1 / hit@5 / MRR | gold hybrid hit@1 / hit@5 / MRR | CMRC lexical hit@1 / hit@5 / MRR | CMRC hybrid hit@1 / hit@5 / MRR |",
              "|---|---|---|---|---|"]
    for tok in ("bigram", "jieba", "both"):
        cells = []
        for key in ("tok_gold", "tok_squad"):
            for mode in ("lexical", "hybrid"):
                s = res[key][f"{tok}/{mode}"]
                cells.append(f"{_fmt(s['hit@1'])} / {_fmt(s['hit@5'])} / {_fmt(s['mrr'])}")
        lines.append(f"| {tok} | " + " | ".join(cells) + " |")

    lines += ["", "## Latency of ask() (40 gold questions, extractive)", "",
              "| retriever | p50 ms | p95 ms | retrieval p50 ms |", "|---|---|---|---|"]
    for r in RETRIEVERS:
        s = res["latency"][r]
        lines.append(f"| {r} | {s['p50_ms']} | {s['p95_ms']} | {s['retrieve_p50_ms']} |")
    if "peer_settings" in res:
        ps, pq = res["peer_settings"], res["peer_squad_settings"]
        lines += ["", "## The peer", "",
                  "eval/peer_langchain.py: the plain LangChain recipe with every default. "
                  f"{ps['splitter']}; {ps['embeddings']} over the same multilingual-e5-small folder; {ps['store']}. "
                  f"The news pages are loaded as files (one Document per raw page: {ps['chunks']} chunks); "
                  f"CMRC paragraphs are one Document each ({pq['chunks']} chunks). "
                  "`langchain_community` (installed from PyPI) provides HuggingFaceEmbeddings and FAISS; "
                  "`langchain_huggingface` was not used because it pins huggingface_hub below what this "
                  "environment's transformers needs.",
                  "",
                  "With 4000-character chunks the peer returns a few very large passages, so its gold hit@5 (evidence "
                  "somewhere in 5 of its chunks) is lenient; e5 also truncates each chunk at 512 tokens, so most of "
                  "every chunk is never embedded, and no `query:`/`passage:` prefixes are added."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
