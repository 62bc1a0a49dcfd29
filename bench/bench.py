"""Benchmark (not a test): index build throughput and ask() latency on this machine; prints figures.

Usage: python bench/bench.py [--repeat N] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from eval.metrics import percentile as pct  # nearest rank, as in the eval reports

ROOT = Path(__file__).resolve().parent.parent
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




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="passes over the question list (default 5)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    from qa import ask
    from qa.api import load_embedder
    from qa.ingest.corpus import load_articles
    from qa.index.build import build_index

    articles = load_articles([ROOT / "corpus" / "raw"])
    emb = load_embedder(None)
    t0 = time.perf_counter()
    emb.warm_up()
    t_load = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gen = build_index(articles, emb, Path(tmp))
        t_build = time.perf_counter() - t0
        import json

        n_chunks = json.loads((gen / "manifest.json").read_text())["counts"]["chunks"]
        t0 = time.perf_counter()
        ask(QUESTIONS[0], index=tmp, embedder=emb, answerer="extractive")
        t_first = time.perf_counter() - t0
        lat = []
        for _ in range(args.repeat):
            for q in QUESTIONS:
                t0 = time.perf_counter()
                ask(q, index=tmp, embedder=emb, answerer="extractive")
                lat.append(time.perf_counter() - t0)
        by_retriever = {}
        for retriever in ("hybrid", "dense", "lexical"):
            ask(QUESTIONS[0], index=tmp, embedder=emb, answerer="extractive", retriever=retriever)
            total, retrieve = [], []
            for _ in range(args.repeat):
                for q in QUESTIONS:
                    a = ask(q, index=tmp, embedder=emb, answerer="extractive", retriever=retriever)
                    total.append(a.timings["total"])
                    retrieve.append(a.timings["retrieve"])
            by_retriever[retriever] = (total, retrieve)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"corpus: {len(articles)} articles, {n_chunks} chunks (chunk_size 160 tokens)")
    print(f"model load (warm_up): {t_load:.1f} s")
    print(f"index build: {t_build:.1f} s, {n_chunks / t_build:.1f} chunks/s")
    print(f"first ask() after build (loads index): {t_first * 1000:.0f} ms")
    print(f"ask() extractive, {len(lat)} calls after warm-up: p50 {pct(lat, 50) * 1000:.1f} ms, "
          f"p95 {pct(lat, 95) * 1000:.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms")
    for retriever, (total, retrieve) in by_retriever.items():
        print(f"ask(retriever={retriever!r}, answerer='extractive'), {len(total)} calls: p50 {pct(total, 50) * 1000:.1f} ms, "
              f"p95 {pct(total, 95) * 1000:.1f} ms; of which retrieval (query embedding included) p50 {pct(retrieve, 50) * 1000:.1f} ms")
    print(f"peak RSS: {rss:.0f} MiB; process start to end: {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
