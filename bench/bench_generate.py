"""Benchmark (not a test): generative answers on this machine: time to first token and full answer; prints figures.

Usage: python bench/bench_generate.py [--index DIR] [--repeat 1]
Runs on the default index (build it with `newsqa index`) with the installed generator.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

from eval.metrics import percentile as pct  # nearest rank, as in the eval reports

QUESTIONS = [
    "衢江区共享法庭覆盖了多少个行政村？",
    "柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？",
    "太真乡为什么要改建下槽桥？",
    "新新街道下辖多少个小区？",
    "九华乡飞鸿神网谷项目总投资多少？",
    "全旺镇的“助老三件事”指的是哪三件事？",
    "安仁水库为什么要除险加固？",
    "区十届政府第6次常务会议是哪天召开的？",
]




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--context-chars", default=None, help="comma-separated prompt budgets to compare, e.g. 700,450,300")
    ap.add_argument("--max-tokens", type=int, default=None)
    args = ap.parse_args()
    import dataclasses

    from qa import ask
    from qa.settings import Settings
    from qa.answer.generate import default_generator

    os.environ.pop("NEWSQA_GENERATOR", None)
    gen = default_generator()
    if gen is None:
        print("no generator installed: run `newsqa models install` (and scripts/setup.sh for llama-cpp-python)")
        return 1
    t0 = time.perf_counter()
    ask(QUESTIONS[0], index=args.index, generator=gen, answerer="generative")  # loads embedder, index, LLM
    print(f"warm-up (embedding model + index + LLM load + first answer): {time.perf_counter() - t0:.1f} s")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; generator: {gen.name}")
    settings = Settings.from_env()
    base = settings.generation
    budgets = [int(b) for b in args.context_chars.split(",")] if args.context_chars else [base.context_chars]
    for budget in budgets:
        gs = dataclasses.replace(base, context_chars=budget, max_tokens=args.max_tokens or base.max_tokens)
        run_settings = dataclasses.replace(settings, generation=gs)
        ttft, total, generative = [], [], 0
        for _ in range(args.repeat):
            for q in QUESTIONS:
                a = ask(q, index=args.index, generator=gen, answerer="generative", settings=run_settings)
                total.append(a.timings["total"])
                if "ttft" in a.timings:
                    ttft.append(a.timings["ttft"])
                generative += a.answerer == "generative"
        print(f"== {gs}")
        print(f"{len(total)} questions, {generative} answered generatively (others refused or fell back to extractive)")
        if ttft:
            print(f"time to first token: p50 {pct(ttft, 50):.2f} s, p95 {pct(ttft, 95):.2f} s")
        print(f"full answer: p50 {pct(total, 50):.2f} s, p95 {pct(total, 95):.2f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
