"""An outside benchmark: SQuAD-style files (CMRC 2018, DRCD) through the whole pipeline.

Each paragraph becomes an article (its document title as the headline), indexed in
its own folder, cached under ``eval/runs/squad-index/`` by the file's sha256, the
model, the chunking and the tokenizer. With ``mix=True`` the paragraphs are indexed
together with the news corpus, so retrieval has to pick them out of a larger,
unrelated archive. Every question is asked (or a fixed sample: ``random.Random(2018)``
with ``limit``) and scored:

- paragraph hit@1, hit@5 and MRR: a hit is a retrieved chunk of the question's own
  paragraph;
- answer character F1 and EM with the CMRC 2018 conventions (punctuation and spaces
  removed, characters as tokens, max over the references; ``eval.metrics``), with
  refusals scoring 0; and "contains", the share of answers that contain a reference
  (what the extractive answerer, which answers with a whole sentence, can reach).

With ``unanswerable_share`` a seeded share of the file's documents (titles, with all
their paragraphs) is left out of the index: their questions must be refused, the rest
answered. Answer metrics are then over the answerable questions, and the refusal
figures (precision and recall of refusing, false refusals) over both kinds. Every row
records what the refusal could be decided on (hit scores, the model's raw output and
whether its prompt held a reference), so thresholds can be re-chosen offline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from eval.run import atomic_write
from embeddings.models import sha256_file
from qa.errors import CorpusError, NewsQAError
from qa.types import Article

from . import metrics as M

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

SEED = 2018


file_sha256 = sha256_file  # one implementation, shared with the model cache


def load_squad(path: Path) -> tuple[list[Article], list[dict[str, Any]]]:
    """Read a SQuAD-style JSON file into articles (one per paragraph) and questions.

    Returns:
        (articles, questions); each question is ``{"id", "question", "answers",
        "paragraph", "answerable", "empty"}`` where ``paragraph`` is its article's id
        and ``empty`` marks a blank question (skipped by ``run_squad``, and counted).

    Raises:
        CorpusError: when the file is missing, not JSON, or not in the SQuAD layout.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise CorpusError(f"{path}: not a SQuAD-style file (expected {{\"data\": [{{\"paragraphs\": …}}]}})")
    tag = file_sha256(path)[:8]
    articles: list[Article] = []
    questions: list[dict[str, Any]] = []
    seen_q: set[str] = set()
    for ti, doc in enumerate(data["data"]):
        if not isinstance(doc, dict) or not isinstance(doc.get("paragraphs"), list):
            raise CorpusError(f"{path}: data[{ti}] has no paragraphs list")
        title = str(doc.get("title") or "").strip()
        for pi, para in enumerate(doc["paragraphs"]):
            ctx = para.get("context") if isinstance(para, dict) else None
            if not isinstance(ctx, str) or not ctx.strip():
                raise CorpusError(f"{path}: data[{ti}].paragraphs[{pi}] has no context text")
            aid = f"squad-{tag}-{ti:04d}-{pi:03d}"
            articles.append(Article(id=aid, headline=title, body=ctx, source=path.name))
            for qi, qa in enumerate(para.get("qas") or []):
                if not isinstance(qa, dict) or not isinstance(qa.get("question", ""), str):
                    raise CorpusError(f"{path}: data[{ti}].paragraphs[{pi}].qas[{qi}] is not a question object")
                q = qa.get("question") or ""
                answers = [a["text"] for a in qa.get("answers") or [] if isinstance(a, dict) and isinstance(a.get("text"), str)]
                qid = str(qa.get("id") or f"{aid}-q{qi}")
                if qid in seen_q:
                    qid = f"{qid}#{qi}"
                seen_q.add(qid)
                questions.append({
                    "id": qid, "question": q.strip(), "answers": list(dict.fromkeys(answers)), "paragraph": aid,
                    "document": document_of(aid),
                    "answerable": bool(answers) and not qa.get("is_impossible", False),
                    "empty": not q.strip(),  # CMRC 2018 trial has two; they are skipped and counted
                })
    if not articles:
        raise CorpusError(f"{path}: no paragraphs")
    return articles, questions


def document_of(article_id: str) -> str:
    """The document (SQuAD ``data[i]``, one title) a paragraph's article id belongs to."""
    return article_id.rsplit("-", 1)[0]


def sample(questions: Sequence[dict[str, Any]], limit: int | None, seed: int = SEED) -> list[dict[str, Any]]:
    """All questions, or a fixed sample of ``limit`` of them (seeded, in file order)."""
    if not limit or limit >= len(questions):
        return list(questions)
    keep = set(random.Random(seed).sample(range(len(questions)), limit))
    return [q for i, q in enumerate(questions) if i in keep]


def document_folds(rows: Sequence[Any], document: Callable[[Any], str], seed: int = 7) -> tuple[list[Any], list[Any]]:
    """Two halves of ``rows`` split by document (seeded), for 2-fold cross-validation.

    Args:
        rows: the rows to split.
        document: a row's document (all of a document's rows fall in one half).
        seed: not the seed that chose the left-out documents (its first draws are those documents).

    Returns:
        (the rows of a seeded half of the documents, the rest).
    """
    docs = sorted({document(r) for r in rows})
    half = set(random.Random(seed).sample(docs, len(docs) // 2))
    return [r for r in rows if document(r) in half], [r for r in rows if document(r) not in half]


def left_out_documents(articles: Sequence[Article], share: float, seed: int = SEED) -> set[str]:
    """A seeded share of the documents (rounded, at least one when ``share`` > 0) to leave out of the index.

    Raises:
        NewsQAError: when ``share`` is not in [0, 1).
    """
    if not 0 <= share < 1:
        raise NewsQAError(f"unanswerable share must be in [0, 1), not {share}")
    docs = sorted({document_of(a.id) for a in articles})
    n = min(len(docs) - 1, max(1, round(share * len(docs)))) if share > 0 else 0
    return set(random.Random(seed).sample(docs, n)) if n > 0 else set()


def squad_index(
    path: Path,
    embedder: "Embedder",
    *,
    mix: bool = False,
    news_paths: Sequence[Path] | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[Path, list[Article], list[dict[str, Any]]]:
    """Build (or reuse) the index of a SQuAD file's paragraphs, alone or mixed with the news corpus.

    Args:
        exclude: documents (``document_of``) whose paragraphs are left out of the index.

    Returns:
        (index folder, the SQuAD articles, the questions).
    """
    from qa.ingest.corpus import corpus_hash, load_articles
    from qa.errors import IndexMismatchError
    from qa.index.build import build_index
    from qa.index.store import current_generation, verify_generation
    from qa.settings import default_corpus_dir

    articles, questions = load_squad(path)
    corpus = [a for a in articles if document_of(a.id) not in exclude]
    if mix:
        corpus = load_articles(news_paths or [default_corpus_dir()]) + corpus
    from qa.index.store import FORMAT_VERSION
    from qa.lexical.bm25 import DEFAULT_TOKENIZER

    # everything that shapes the index: corpus, model, format, lexical tokens
    key = hashlib.sha256(json.dumps([
        corpus_hash(corpus), embedder.identity.get("name"), embedder.identity.get("weights_sha256"),
        FORMAT_VERSION, DEFAULT_TOKENIZER, "pinyin",
    ] + ([embedder.identity["runtime"]] if embedder.identity.get("runtime") else [])
      + ([embedder.identity["export"]] if embedder.identity.get("export") else [])).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else Path(__file__).resolve().parent / "runs" / "squad-index"
    folder = root / f"{Path(path).stem}-{'mix' if mix else 'alone'}{'-part' if exclude else ''}-{key}"
    try:
        m = verify_generation(current_generation(folder))
        if m["corpus"]["sha256"] != corpus_hash(corpus):
            raise IndexMismatchError("corpus changed")
        log.info("reusing %s", folder)
    except NewsQAError:
        log.info("indexing %d articles into %s", len(corpus), folder)
        build_index(corpus, embedder, folder, progress=progress)
    return folder, articles, questions


def score(item: dict[str, Any], answer: dict[str, Any], trace: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row: the paragraph's rank among the hits, the answer metrics and the refusal signals.

    Args:
        item: the question (``load_squad``), with ``answerable`` False for a left-out document's.
        answer: ``Answer.to_dict()``.
        trace: what the generator was sent and wrote (``RecordingGenerator.last``), if it ran.
    """
    from qa.text import norm

    rank = next((h["rank"] for h in answer["hits"] if h["article_id"] == item["paragraph"]), None)
    refs = item["answers"]
    ok = item["answerable"] and not answer["refused"]
    t = answer.get("timings_ms") or {}
    row = {
        "id": item["id"], "question": item["question"], "references": refs, "paragraph": item["paragraph"],
        "answerable": item["answerable"], "hit_rank": rank, "refused": answer["refused"], "answer": answer["text"],
        "answerer": answer.get("answerer"),
        "f1": round(M.max_f1(answer["text"], refs), 4) if ok else 0.0,
        "em": bool(ok and M.exact_match(answer["text"], refs)),
        "contains": bool(ok and M.answer_correct(answer["text"], refs)),
        "cited_own": bool(ok and any(c["article_id"] == item["paragraph"] for c in answer["citations"])),
        "cited": [c["article_id"] for c in answer["citations"]], "signals": answer.get("signals", {}),
        "quotes": [c["quote"] for c in answer["citations"]],
        "ttft_ms": t.get("ttft", t.get("total")), "total_ms": t.get("total"),
        "hits": [[h["article_id"], h["rank"], h.get("dense_rank"), h.get("lexical_rank"), h.get("score"),
                  h.get("lexical_score"), h.get("fused_score")] for h in answer["hits"]],
    }
    if trace is not None:
        prompt = norm(trace["messages"][-1]["content"]) if trace.get("messages") else ""
        row.update(
            model_output=trace.get("output"),
            prompt=trace["messages"][-1]["content"] if trace.get("messages") else None,
            answer_in_prompt=any(norm(r) in prompt for r in refs if norm(r)),
        )
    return row


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Retrieval and answer figures over the answerable questions, refusal figures over all.

    A refusal is the positive class: precision is the share of refusals that were of
    unanswerable questions, recall the share of unanswerable questions refused, and
    false refusals the share of answerable questions refused.
    """
    done = [r for r in rows if r.get("error") is None]
    ans = [r for r in done if r.get("answerable", True)]
    una = [r for r in done if not r.get("answerable", True)]
    n = len(ans)
    secs = [r["seconds"] for r in done]
    ttft = [r["ttft_ms"] for r in done if r.get("ttft_ms") is not None]
    refused = [r for r in done if r["refused"]]
    return {
        "questions": len(rows), "errors": len(rows) - len(done), "answerable": n, "unanswerable": len(una),
        "hit@1": M.ratio(sum(1 for r in ans if r["hit_rank"] == 1), n),
        "hit@5": M.ratio(sum(1 for r in ans if r["hit_rank"] and r["hit_rank"] <= 5), n),
        "mrr": M.ratio(sum(1 / r["hit_rank"] for r in ans if r["hit_rank"]), n),
        "char_f1": M.ratio(sum(r["f1"] for r in ans), n),
        "em": M.ratio(sum(r["em"] for r in ans), n),
        "contains": M.ratio(sum(r["contains"] for r in ans), n),
        "cited_own": M.ratio(sum(r.get("cited_own", False) for r in ans), n),
        "refused": M.ratio(len(refused), len(done)),
        "false_refusals": M.ratio(sum(r["refused"] for r in ans), n),
        # refusals although the question's own paragraph was the top hit (it holds the answer)
        "refused_own_top1": M.ratio(sum(r["refused"] for r in ans if r["hit_rank"] == 1),
                                    sum(1 for r in ans if r["hit_rank"] == 1)),
        "refusal_recall": M.ratio(sum(r["refused"] for r in una), len(una)),
        "refusal_precision": M.ratio(sum(not r.get("answerable", True) for r in refused), len(refused)),
        "ttft_p50_ms": round(M.percentile(ttft, 50), 1) if ttft else None,
        "latency_p50_ms": round(M.percentile(secs, 50) * 1000, 1),
        "latency_p90_ms": round(M.percentile(secs, 90) * 1000, 1),
    }


class RecordingGenerator:
    """Wraps a generator and keeps what it was last sent and wrote (for the rows' refusal signals)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[dict[str, Any]] = []

    def stream(self, messages: Any, **kw: Any):
        call = {"messages": list(messages), "output": ""}
        self.calls.append(call)
        for piece in self.inner.stream(messages, **kw):
            call["output"] += piece
            yield piece

    def yes_probability(self, messages: Any) -> float | None:
        """The verification question is passed through unrecorded (the rows keep the answer call)."""
        from qa.answer.verify import yes_probability

        return yes_probability(self.inner, messages)

    def take(self) -> dict[str, Any] | None:
        """The answer call's record (the last one) since the previous ``take``, or None."""
        calls, self.calls = self.calls, []
        return calls[-1] if calls else None


def run_squad(
    path: Path,
    *,
    out_dir: Path | None = None,
    model: str | None = None,
    embedder: "Embedder | None" = None,
    retriever: str = "hybrid",
    answerer: str = "extractive",
    k: int = 5,
    limit: int | None = None,
    mix: bool = False,
    cache_dir: Path | None = None,
    command: str = "",
    progress: Callable[[int, int], None] | None = None,
    index_progress: Callable[[int, int], None] | None = None,
    unanswerable_share: float = 0.0,
    seed: int = SEED,
    generator: Any = None,
    settings: Any = None,
    ids: "set[str] | None" = None,
) -> tuple[dict[str, Any], Path]:
    """Index a SQuAD-style file's paragraphs, ask its questions, write rows.jsonl, summary.json and report.md.

    Args:
        unanswerable_share: share of the documents left out of the index (seeded by
            ``seed``); their questions count as unanswerable.
        seed: seeds the left-out documents and the ``limit`` sample.
        generator: a generator object instead of the installed one (tests).
        settings: a ``qa.settings.Settings`` for every ``ask()`` (ablations; default from the environment).
        ids: ask only the questions with these ids (``eval.band``), before ``limit``.

    Returns:
        (summary, output folder).
    """
    from qa import ask, get_pipeline
    from qa.answer.generate import default_generator
    from qa.api import load_embedder

    emb = embedder if embedder is not None else load_embedder(model)
    all_articles, _q = load_squad(path)
    removed = left_out_documents(all_articles, unanswerable_share, seed)
    folder, _arts, questions = squad_index(path, emb, mix=mix, cache_dir=cache_dir, progress=index_progress, exclude=removed)
    skipped = sum(1 for q in questions if q["empty"])
    questions = [dict(q, answerable=q["answerable"] and q["document"] not in removed) for q in questions if not q["empty"]]
    items = sample([q for q in questions if ids is None or q["id"] in ids], limit, seed)
    pipe = get_pipeline(folder, embedder=emb, settings=settings)
    gen = generator if generator is not None else (None if answerer == "extractive" else default_generator())
    rec = RecordingGenerator(gen) if gen is not None else None
    rows = []
    for i, it in enumerate(items, 1):
        t0 = time.perf_counter()
        try:
            a = ask(it["question"], k=k, index=folder, embedder=emb, answerer=answerer, retriever=retriever,
                    generator=rec, settings=settings).to_dict()
            row = score(it, a, rec.take() if rec is not None else None)
            row["error"] = None
        except NewsQAError as e:
            row = {"id": it["id"], "question": it["question"], "error": f"{type(e).__name__}: {e}"}
        row["seconds"] = round(time.perf_counter() - t0, 4)
        rows.append(row)
        if progress:
            progress(i, len(items))
    summary = summarize(rows)
    meta = {
        "command": command or f"newsqa eval --squad {path}" + (f" --limit {limit}" if limit else "") + (" --mix" if mix else "")
        + (f" --unanswerable-share {unanswerable_share} --seed {seed}" if removed else ""),
        "file": str(path), "file_sha256": file_sha256(Path(path)), "questions": len(items), "of": len(questions), "skipped_empty": skipped,
        "seed": seed if (limit and limit < len(questions)) or removed else None, "mix": mix, "retriever": retriever,
        "sampled": bool(limit and limit < len(questions)), "unanswerable_share": unanswerable_share, "left_out_documents": len(removed),
        "documents": len({document_of(a.id) for a in all_articles}), "generator": gen.name if gen is not None else None,
        "answerer": answerer, "k": k, "index": str(pipe.index.path), "chunks": pipe.index.size,
        "articles": len(pipe.index.articles), "model": pipe.index.manifest["model"]["name"],
        "tokenizer": pipe.index.tokenizer,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent / "runs" / time.strftime("squad-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "rows.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write(out / "summary.json", json.dumps({"meta": meta, "overall": summary}, ensure_ascii=False, indent=2))
    atomic_write(out / "report.md", render(summary, meta))
    return summary, out


COLS = ["questions", "hit@1", "hit@5", "mrr", "char_f1", "em", "contains", "refused", "latency_p50_ms"]
# the refusal and citation figures of a run with left-out documents
REFUSAL_COLS = ["answerable", "unanswerable", "cited_own", "false_refusals", "refused_own_top1", "refusal_recall", "refusal_precision",
                "ttft_p50_ms", "latency_p90_ms"]


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def render(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    return "\n".join([
        "# newsqa on a SQuAD-style file",
        "",
        f"- command: `{meta['command']}`",
        f"- file: `{meta['file']}` (sha256 {meta['file_sha256'][:12]}), {meta['questions']} of {meta['of']} questions"
        + (f" (seeded sample, seed {meta['seed']})" if meta.get("sampled", meta["seed"]) else "")
        + (f"; {meta['skipped_empty']} blank questions in the file skipped" if meta["skipped_empty"] else ""),
        f"- index: `{meta['index']}` ({meta['articles']} articles, {meta['chunks']} chunks"
        + (", paragraphs mixed into the news corpus" if meta["mix"] else "") + f"; model {meta['model']}, tokenizer {meta['tokenizer']})",
        f"- retriever: {meta['retriever']}, answerer: {meta['answerer']}, k={meta['k']}, machine: {meta['machine']}",
        "",
        "| " + " | ".join(COLS) + " |",
        "|---" * len(COLS) + "|",
        "| " + " | ".join(_fmt(summary[c]) for c in COLS) + " |",
        "",
        *([f"- left out of the index: {meta['left_out_documents']} of {meta['documents']} documents "
           f"(share {meta['unanswerable_share']}, seed {meta['seed']}); their questions must be refused",
           "",
           "| " + " | ".join(REFUSAL_COLS) + " |",
           "|---" * len(REFUSAL_COLS) + "|",
           "| " + " | ".join(_fmt(summary.get(c)) for c in REFUSAL_COLS) + " |",
           ""] if meta.get("left_out_documents") else []),
        "hit@k / MRR: a chunk of the question's own paragraph among the hits. char_f1 / em: CMRC 2018 scoring "
        "(punctuation and spaces removed, max over references; a refusal scores 0). contains: the answer "
        "contains a reference. Answer and retrieval figures are over the answerable questions. cited_own: "
        "the answer cites the question's own paragraph; false_refusals: answerable questions refused; "
        "refusal_recall / _precision: refusing as the positive class.",
        "",
    ])

