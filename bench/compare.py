"""Benchmark (not a test): newsqa against the plain LangChain recipe, side by side in one run; prints figures, optionally writes bench/RESULTS.md.

Each part runs in its own child process, so peak memory is per side and every side pays
its own imports. Parts:

- build: newsqa ``build_index`` (default runtime, and torch-fp32) against
  ``HuggingFaceEmbeddings`` + ``FAISS.from_texts`` over the same passages (same model
  folder, same texts), and the recipe with LangChain's default splitter on the raw pages.
  The build figures start with the embedding model loaded on both sides (newsqa: the
  ONNX session and tokenizer; the recipe: sentence-transformers), so everything else the
  build loads (the splitter, jieba's and pypinyin's dictionaries, bm25s, faiss) counts as
  build time; a second row adds each side's model load;
- ask: newsqa ``ask()`` (extractive, hybrid retrieval) against the recipe's
  ``similarity_search`` (its whole path when no LLM answers);
- cold start: a new process from start to the first printed answer, for ``newsqa ask``
  and for a script that loads the recipe's saved store and searches once.

Usage: python bench/compare.py [--repeat N] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.metrics import percentile as pct  # noqa: E402

QUESTIONS = [
    "柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？",
    "衢江区共享法庭覆盖了多少个行政村？",
    "太真乡下槽桥改建工程总投资多少？",
    "区十届政府第6次常务会议是哪天召开的？",
    "新新街道下辖多少个小区？",
    "九华乡飞鸿神网谷项目占地面积约多少亩？",
    "全旺镇打造了几所老年幸福食堂？",
    "北京明天的天气怎么样？",
]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _corpus():
    from qa.ingest.corpus import load_articles

    return load_articles([ROOT / "corpus" / "raw"])


def _passages(embedder):
    from qa.ingest.chunking import ChunkParams, chunk_articles
    from qa.index.store import passage_text

    arts = _corpus()
    by_id = {a.id: a for a in arts}
    chunks = chunk_articles(arts, ChunkParams(), embedder.count_tokens)
    return [passage_text(by_id[c.article_id], c.text) for c in chunks]


def part_ours_build(work: Path, runtime: str) -> dict:
    from qa.api import load_embedder
    from qa.index.build import build_index

    t0 = time.perf_counter()
    emb = load_embedder(None, runtime)
    emb.warm_up()
    t_load = time.perf_counter() - t0
    arts = _corpus()
    t0 = time.perf_counter()
    gen = build_index(arts, emb, work / f"ours-{runtime}", reuse=False)
    dt = time.perf_counter() - t0
    m = json.loads((gen / "manifest.json").read_text())
    n = m["counts"]["chunks"]
    return {"runtime": runtime, "chunks": n, "build_s": dt, "embed_s": m["embed_seconds"], "chunks_per_s": n / dt,
            "model_load_s": t_load, "peak_rss_mib": _rss_mib()}


def _lc_embeddings(model_dir: Path):
    import warnings

    warnings.filterwarnings("ignore")
    from langchain_community.embeddings import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(model_dir))


def part_lc_build(work: Path) -> dict:
    """The recipe over newsqa's own passages (same texts, same model folder): chunks/s on equal work."""
    from embeddings.models import resolve_embedder_path
    from qa.api import load_embedder
    model_dir, _ = resolve_embedder_path(None)
    texts = _passages(load_embedder(None, "torch-fp32"))
    t0 = time.perf_counter()
    emb = _lc_embeddings(model_dir)
    t_load = time.perf_counter() - t0
    from langchain_community.vectorstores import FAISS

    t0 = time.perf_counter()
    store = FAISS.from_texts(texts, emb)
    dt = time.perf_counter() - t0
    store.save_local(str(work / "lc-store"))
    return {"chunks": len(texts), "build_s": dt, "chunks_per_s": len(texts) / dt, "model_load_s": t_load, "peak_rss_mib": _rss_mib()}


def part_lc_default(work: Path) -> dict:
    """The recipe exactly as a user writes it: default splitter (4000 characters) over the raw page files."""
    from embeddings.models import resolve_embedder_path
    from eval.peer_langchain import LangChainPeer, page_documents

    model_dir, _ = resolve_embedder_path(None)
    t0 = time.perf_counter()
    peer = LangChainPeer(page_documents(ROOT / "corpus" / "raw"), model_dir)
    return {"chunks": len(peer.chunks), "build_s": peer.build_seconds, "total_s": time.perf_counter() - t0, "peak_rss_mib": _rss_mib()}


def part_ours_ask(work: Path, repeat: int) -> dict:
    os.environ["NEWSQA_GENERATOR"] = "none"
    from qa import ask

    idx = work / f"ours-{_default_runtime()}"
    t0 = time.perf_counter()
    ask(QUESTIONS[0], index=idx, answerer="extractive")
    t_first = time.perf_counter() - t0
    lat = []
    for _ in range(repeat):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            ask(q, index=idx, answerer="extractive")
            lat.append(time.perf_counter() - t0)
    return {"first_ask_s": t_first, "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000, "calls": len(lat), "peak_rss_mib": _rss_mib()}


def part_lc_ask(work: Path, repeat: int) -> dict:
    from embeddings.models import resolve_embedder_path
    from langchain_community.vectorstores import FAISS

    model_dir, _ = resolve_embedder_path(None)
    emb = _lc_embeddings(model_dir)
    t0 = time.perf_counter()
    store = FAISS.load_local(str(work / "lc-store"), emb, allow_dangerous_deserialization=True)
    store.similarity_search(QUESTIONS[0], k=5)
    t_first = time.perf_counter() - t0
    lat = []
    for _ in range(repeat):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            docs = store.similarity_search(q, k=5)
            _answer = docs[0].page_content if docs else ""  # no LLM: the top passage is the answer
            lat.append(time.perf_counter() - t0)
    return {"first_ask_s": t_first, "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000, "calls": len(lat), "peak_rss_mib": _rss_mib()}


LC_COLD = """
import sys, warnings; warnings.filterwarnings("ignore")
from langchain_community.embeddings import HuggingFaceEmbeddings
from langchain_community.vectorstores import FAISS
store = FAISS.load_local(sys.argv[1], HuggingFaceEmbeddings(model_name=sys.argv[2]), allow_dangerous_deserialization=True)
print(store.similarity_search(sys.argv[3], k=5)[0].page_content[:80], flush=True)
"""


def _timed_child(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall time from start to the first line on stdout, to exit, and the child's peak RSS."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, text=True)
    first = p.stdout.readline()  # type: ignore[union-attr]
    t_first = time.perf_counter() - t0
    p.stdout.read()  # type: ignore[union-attr]
    _pid, status, ru = os.wait4(p.pid, 0)
    return {"first_answer_s": t_first, "exit_s": time.perf_counter() - t0, "ok": status == 0 and bool(first.strip()),
            "peak_rss_mib": ru.ru_maxrss / 1024}


def cold_starts(work: Path) -> dict:
    from embeddings.models import resolve_embedder_path

    env = {**os.environ, "NEWSQA_GENERATOR": "none", "PYTHONPATH": str(ROOT)}
    model_dir, _ = resolve_embedder_path(None)
    ours = [_timed_child([sys.executable, "-m", "newsqa.cli", "ask", QUESTIONS[1], "--answerer", "extractive",
                          "--index", str(work / f"ours-{_default_runtime()}")], env) for _ in range(2)]
    lc = [_timed_child([sys.executable, "-c", LC_COLD, str(work / "lc-store"), str(model_dir), QUESTIONS[1]], env) for _ in range(2)]
    return {"ours": ours, "lc": lc}


def _default_runtime() -> str:
    from embeddings.runtimes import default_runtime

    return default_runtime()


def _run_part(name: str, work: Path, *extra: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--work", str(work), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if r.returncode != 0:
        raise SystemExit(f"part {name} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def machine() -> str:
    import psutil

    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    from importlib import metadata

    vers = []
    for pkg in ("torch", "onnxruntime", "faiss-cpu", "sentence-transformers", "langchain-community"):
        try:
            vers.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    # what decides the fastest embedding runtime: int8 dot products (VNNI), bf16 (AVX512-BF16, AMX)
    isa = [f for f in ("avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags] or ["none of avx512_vnni/avx512_bf16/amx_bf16"]
    return (f"{model}, {os.cpu_count()} cores ({platform.machine()}, {' '.join(isa)}), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"Python {platform.python_version()}; " + ", ".join(vers))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="passes over the question list (default 5)")
    ap.add_argument("--write", action="store_true", help="write bench/RESULTS.md (with bench/results/scale.md if present)")
    ap.add_argument("--part", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--runtime", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        parts = {
            "ours-build": lambda: part_ours_build(args.work, args.runtime or _default_runtime()),
            "lc-build": lambda: part_lc_build(args.work),
            "lc-default": lambda: part_lc_default(args.work),
            "ours-ask": lambda: part_ours_ask(args.work, args.repeat),
            "lc-ask": lambda: part_lc_ask(args.work, args.repeat),
        }
        print(json.dumps(parts[args.part]()))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rt = _default_runtime()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours = _run_part("ours-build", work, "--runtime", rt)
        ours32 = _run_part("ours-build", work, "--runtime", "torch-fp32") if rt != "torch-fp32" else ours
        lc = _run_part("lc-build", work)
        lcd = _run_part("lc-default", work)
        oa = _run_part("ours-ask", work, "--repeat", str(args.repeat))
        la = _run_part("lc-ask", work, "--repeat", str(args.repeat))
        cold = cold_starts(work)
    co, cl = min(c["first_answer_s"] for c in cold["ours"]), min(c["first_answer_s"] for c in cold["lc"])
    lines = [
        f"machine: {machine()}",
        f"corpus: corpus/raw ({ours['chunks']} newsqa passages of up to 160 tokens; the default recipe makes {lcd['chunks']} chunks of up to 4000 characters)",
        "",
        "| measure | newsqa | LangChain recipe | newsqa better by (below 1: worse) |",
        "|---|---|---|---|",
        f"| index build, same {ours['chunks']} passages, chunks/s | {ours['chunks_per_s']:.1f} ({rt}) | {lc['chunks_per_s']:.1f} | {ours['chunks_per_s'] / lc['chunks_per_s']:.2f}x |",
        f"| index build, same passages, seconds | {ours['build_s']:.1f} | {lc['build_s']:.1f} | {lc['build_s'] / ours['build_s']:.2f}x |",
        f"| index build on torch-fp32 (no ONNX), chunks/s | {ours32['chunks_per_s']:.1f} | {lc['chunks_per_s']:.1f} | {ours32['chunks_per_s'] / lc['chunks_per_s']:.2f}x |",
        f"| recipe as written (default splitter, raw pages), seconds | {ours['build_s']:.1f} | {lcd['build_s']:.1f} | – |",
        f"| model load before the build, seconds | {ours['model_load_s']:.1f} | {lc['model_load_s']:.1f} | – |",
        f"| model load + index build (a fresh process's wait), chunks/s | {ours['chunks'] / (ours['model_load_s'] + ours['build_s']):.1f} | "
        f"{lc['chunks'] / (lc['model_load_s'] + lc['build_s']):.1f} | {(lc['model_load_s'] + lc['build_s']) / (ours['model_load_s'] + ours['build_s']):.2f}x |",
        f"| peak memory of the build process, MiB | {ours['peak_rss_mib']:.0f} | {lc['peak_rss_mib']:.0f} | {lc['peak_rss_mib'] / ours['peak_rss_mib']:.2f}x |",
        f"| ask, {oa['calls']} calls, p50 ms (ours: hybrid retrieval + extractive answer; recipe: similarity_search) | {oa['p50_ms']:.1f} | {la['p50_ms']:.1f} | {la['p50_ms'] / oa['p50_ms']:.2f}x |",
        f"| ask, p95 ms | {oa['p95_ms']:.1f} | {la['p95_ms']:.1f} | {la['p95_ms'] / oa['p95_ms']:.2f}x |",
        f"| first ask in the process (newsqa: loads index and model; recipe: loads its store, model already loaded), s | {oa['first_ask_s']:.2f} | {la['first_ask_s']:.2f} | – |",
        f"| peak memory of the ask process, MiB | {oa['peak_rss_mib']:.0f} | {la['peak_rss_mib']:.0f} | {la['peak_rss_mib'] / oa['peak_rss_mib']:.2f}x |",
        f"| cold start: process start to first answer printed, s (best of 2) | {co:.2f} | {cl:.2f} | {cl / co:.2f}x |",
        f"| peak memory of the cold-start process, MiB | {min(c['peak_rss_mib'] for c in cold['ours']):.0f} | {min(c['peak_rss_mib'] for c in cold['lc']):.0f} | – |",
    ]
    targets = [
        f"- build >= 3x the recipe's chunks/s: {ours['chunks_per_s'] / lc['chunks_per_s']:.2f}x ({'met' if ours['chunks_per_s'] >= 3 * lc['chunks_per_s'] else 'NOT met'})",
        f"- extractive ask() p50 <= 100 ms: {oa['p50_ms']:.1f} ms ({'met' if oa['p50_ms'] <= 100 else 'NOT met'})",
        f"- process start to first answer <= 10 s: {co:.2f} s ({'met' if co <= 10 else 'NOT met'})",
    ]
    out = "\n".join(lines + ["", "targets:"] + targets)
    print(out)
    if args.write:
        scale = ROOT / "bench" / "results" / "scale.md"
        runtime_md = ROOT / "bench" / "results" / "runtime.md"
        doc = ["# Benchmark results", "",
               f"`python bench/compare.py --write` on {time.strftime('%Y-%m-%d')} (not a test; figures vary with load on the 2 shared cores).", "",
               "## newsqa against the LangChain recipe, side by side", "", out, ""]
        for extra in (runtime_md, scale, ROOT / "bench" / "results" / "projection.md"):
            if extra.is_file():
                doc += [extra.read_text(encoding="utf-8"), ""]
        (ROOT / "bench" / "RESULTS.md").write_text("\n".join(doc), encoding="utf-8")
        print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
