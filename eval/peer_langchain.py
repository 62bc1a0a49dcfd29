"""The peer: the plain LangChain recipe a user would write instead of newsqa, on the same data.

    loader → RecursiveCharacterTextSplitter() → HuggingFaceEmbeddings(<model folder>) → FAISS → similarity_search(q, k=5)

Every setting is LangChain's default:
- the splitter's defaults: ``chunk_size=4000`` characters, ``chunk_overlap=200``,
  separators ``["\\n\\n", "\\n", " ", ""]``;
- ``langchain_community.embeddings.HuggingFaceEmbeddings`` over the same
  multilingual-e5-small folder newsqa uses (sentence-transformers underneath, no
  ``query:``/``passage:`` prefixes, no normalization: what the class does unless told
  otherwise). ``langchain_huggingface`` carries the same class but would pin
  huggingface_hub below what this environment's transformers needs, so the
  community package's copy is used; the code path is the same sentence-transformers
  ``encode``;
- ``langchain_community.vectorstores.FAISS.from_documents`` (flat L2 index, its default).

The news pages are loaded as a user has them: one Document per raw page file
(``corpus/raw/*.txt``), not newsqa's parsed articles. A SQuAD file's paragraphs are
one Document each, with the paragraph id in the metadata.

Install the peer's packages with ``pip install langchain-community``; nothing here is
needed by newsqa itself.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from eval import metrics as M


def _lc():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*HuggingFaceEmbeddings.*")
    try:
        from langchain_community.embeddings import HuggingFaceEmbeddings
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as e:  # pragma: no cover - optional
        raise SystemExit(f"the LangChain peer needs langchain-community: pip install langchain-community ({e})")
    return HuggingFaceEmbeddings, FAISS, Document, RecursiveCharacterTextSplitter


class LangChainPeer:
    """The recipe, built once over a list of Documents."""

    name = "langchain (defaults)"

    def __init__(self, docs: Sequence[Any], model_dir: Path) -> None:
        HuggingFaceEmbeddings, FAISS, _Document, Splitter = _lc()
        t0 = time.perf_counter()
        self.splitter = Splitter()  # chunk_size=4000, chunk_overlap=200
        self.chunks = self.splitter.split_documents(list(docs))
        self.embeddings = HuggingFaceEmbeddings(model_name=str(model_dir))
        self.store = FAISS.from_documents(self.chunks, self.embeddings)
        self.build_seconds = time.perf_counter() - t0

    def search(self, question: str, k: int = 5) -> list[Any]:
        return self.store.similarity_search(question, k=k)

    def search_many(self, questions: Sequence[str], k: int = 5) -> list[list[Any]]:
        """``search`` for many questions, embedding them in one batch.

        ``similarity_search`` is ``similarity_search_by_vector(embed_query(q))`` and
        ``embed_query(q)`` is ``embed_documents([q])[0]``, so the results are the same;
        batching only saves time on two cores.
        """
        vecs = self.embeddings.embed_documents(list(questions))
        return [self.store.similarity_search_by_vector(v, k=k) for v in vecs]

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "splitter": f"RecursiveCharacterTextSplitter() chunk_size={self.splitter._chunk_size} chunk_overlap={self.splitter._chunk_overlap}",
            "embeddings": "langchain_community HuggingFaceEmbeddings (sentence-transformers, no prefixes, not normalized)",
            "store": "langchain_community FAISS.from_documents (IndexFlatL2)",
            "chunks": len(self.chunks),
            "build_seconds": round(self.build_seconds, 1),
        }


def page_documents(raw_dir: Path) -> list[Any]:
    """One Document per raw page file, as ``TextLoader`` would load them."""
    _H, _F, Document, _S = _lc()
    return [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name})
            for p in sorted(Path(raw_dir).glob("*.txt"))]


def squad_documents(path: Path) -> list[Any]:
    """One Document per SQuAD paragraph, ids as ``eval.squad.load_squad`` names them."""
    from eval.squad import load_squad

    _H, _F, Document, _S = _lc()
    arts, _qs = load_squad(path)
    return [Document(page_content=a.body, metadata={"id": a.id, "title": a.headline, "source": a.source}) for a in arts]


def _summ(ranks: Sequence[int | None]) -> dict[str, float | None]:
    n = len(ranks)
    return {
        "questions": n,
        "hit@1": M.ratio(sum(1 for r in ranks if r == 1), n),
        "hit@5": M.ratio(sum(1 for r in ranks if r and r <= 5), n),
        "mrr": M.ratio(sum(1 / r for r in ranks if r), n),
    }


def eval_gold(peer: LangChainPeer, items: Sequence[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    """Hit@1/5 and MRR on gold items (a hit: a chunk containing the evidence, whitespace ignored), overall and per kind."""
    by_kind: dict[str, list[int | None]] = {}
    allr: list[int | None] = []
    items = [it for it in items if it["answerable"]]
    for it, docs in zip(items, peer.search_many([it["question"] for it in items], k)):
        rank = M.first_hit_rank([d.page_content for d in docs], it["evidence"])
        allr.append(rank)
        by_kind.setdefault(it["kind"], []).append(rank)
    return {"overall": _summ(allr), "by_kind": {k_: _summ(v) for k_, v in sorted(by_kind.items())}}


def eval_squad(peer: LangChainPeer, questions: Sequence[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    """Paragraph hit@1/5 and MRR on SQuAD questions (a hit: a chunk of the question's paragraph)."""
    ranks = []
    for q, docs in zip(questions, peer.search_many([q["question"] for q in questions], k)):
        ranks.append(next((i for i, d in enumerate(docs, 1) if d.metadata.get("id") == q["paragraph"]), None))
    return _summ(ranks)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from eval.run import default_gold_path, load_gold
    from embeddings.models import resolve_embedder_path
    from qa.settings import default_corpus_dir

    ap = argparse.ArgumentParser(description="Run the plain LangChain recipe on the gold set (and a SQuAD file).")
    ap.add_argument("--gold", type=Path, default=default_gold_path())
    ap.add_argument("--squad", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    model_dir, _name = resolve_embedder_path(None)
    peer = LangChainPeer(page_documents(default_corpus_dir()), model_dir)
    print(json.dumps({"settings": peer.settings, "gold": eval_gold(peer, load_gold(args.gold))}, ensure_ascii=False, indent=2))
    if args.squad:
        from eval.squad import load_squad, sample

        _a, qs = load_squad(args.squad)
        qs = sample([q for q in qs if not q["empty"]], args.limit)
        sp = LangChainPeer(squad_documents(args.squad), model_dir)
        print(json.dumps({"settings": sp.settings, "squad": eval_squad(sp, qs)}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
