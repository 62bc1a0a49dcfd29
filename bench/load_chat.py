"""Load check (not a test): concurrent clients on loopback against `newsqa serve`'s /chat; prints figures.

Usage: python bench/load_chat.py [--clients 50] [--questions 4] [--index DIR]
Every request must be answered or cleanly rejected by the bounded queue; none may hang.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import socket
import sys
import time
from pathlib import Path

from eval.metrics import percentile as pct  # nearest rank, as in the eval reports

QUESTIONS = [
    "衢江区共享法庭覆盖了多少个行政村？",
    "柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？",
    "太真乡下槽桥改建工程总投资多少？",
    "新新街道下辖多少个小区？",
    "贵州茅台今天的股价是多少？",
]




def run_load(url: str, clients: int, questions: int, timeout: float = 120.0) -> dict:
    """``clients`` threads, each its own gradio_client, each asking ``questions`` questions in turn.

    Every request ends as "ok" (an answer), "rejected: <error>" (e.g. the bounded queue
    is full) or "hung" (no result within ``timeout`` seconds).

    Returns:
        {"requests", "answered", "rejected", "hung", "outcomes", "p50_ms", "p95_ms", "wall_s"};
        latencies are of answered requests, queue wait included.
    """
    from gradio_client import Client

    def client(i: int) -> list[tuple[str, float]]:
        try:
            c = Client(url, verbose=False)
        except Exception as e:  # noqa: BLE001 - a refused connection is a rejection too
            return [(f"rejected: {type(e).__name__}", 0.0)] * questions
        out = []
        for j in range(questions):
            q = QUESTIONS[(i + j) % len(QUESTIONS)]
            t = time.perf_counter()
            try:
                r = c.submit(q, api_name="/chat").result(timeout=timeout)
                out.append(("ok" if r else "empty", time.perf_counter() - t))
            except cf.TimeoutError:
                out.append(("hung", time.perf_counter() - t))
            except Exception as e:  # noqa: BLE001 - a rejection by the bounded queue is an outcome
                out.append((f"rejected: {type(e).__name__}", time.perf_counter() - t))
        return out

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as ex:
        results = [r for rs in ex.map(client, range(clients)) for r in rs]
    wall = time.perf_counter() - t0
    ok = [t for status, t in results if status == "ok"]
    outcomes: dict[str, int] = {}
    for status, _ in results:
        outcomes[status] = outcomes.get(status, 0) + 1
    return {
        "requests": len(results),
        "answered": len(ok),
        "rejected": sum(n for s, n in outcomes.items() if s.startswith("rejected")),
        "hung": outcomes.get("hung", 0),
        "outcomes": outcomes,
        "p50_ms": round(pct(ok, 50) * 1000) if ok else None,
        "p95_ms": round(pct(ok, 95) * 1000) if ok else None,
        "wall_s": round(wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--index", type=Path, default=None)
    args = ap.parse_args()
    from gradio_client import Client

    from ui.app import serve

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.perf_counter()
    # the load comes from one address (loopback): the per-client rate limit is off for this measurement
    app = serve(port=port, index=args.index, prevent_thread_lock=True, quiet=True, rate_limit=None)
    print(f"server up in {time.perf_counter() - t0:.1f} s on 127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/"
    r = run_load(url, args.clients, args.questions, timeout=600)
    print(f"{args.clients} clients x {args.questions} questions = {r['requests']} requests in {r['wall_s']} s")
    print(f"answered: {r['answered']}, rejected: {r['rejected']}, hung: {r['hung']} {r['outcomes']}")
    print(f"latency (queue wait included): p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms")
    healthy = Client(url, verbose=False).predict("新新街道下辖多少个小区？", api_name="/chat")
    print(f"server healthy afterwards: {'68' in healthy}")
    app.close()
    return 0 if r["hung"] == 0 and r["answered"] + r["rejected"] == r["requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
