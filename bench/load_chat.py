"""Load check (not a test): concurrent clients on loopback against `newsqa serve`'s /chat; prints figures.

Usage: python bench/load_chat.py [--clients 20] [--questions 5] [--index DIR]
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




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--index", type=Path, default=None)
    args = ap.parse_args()
    from gradio_client import Client

    from ui.app import serve

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.perf_counter()
    app = serve(port=port, index=args.index, prevent_thread_lock=True, quiet=True)
    print(f"server up in {time.perf_counter() - t0:.1f} s on 127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/"

    def client(i: int) -> list[tuple[str, float]]:
        c = Client(url, verbose=False)
        out = []
        for j in range(args.questions):
            q = QUESTIONS[(i + j) % len(QUESTIONS)]
            t = time.perf_counter()
            try:
                r = c.predict(q, api_name="/chat")
                out.append(("ok" if r else "empty", time.perf_counter() - t))
            except Exception as e:  # noqa: BLE001 - a rejection by the bounded queue is an outcome
                out.append((f"rejected: {type(e).__name__}", time.perf_counter() - t))
        return out

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(args.clients) as ex:
        results = [r for rs in ex.map(client, range(args.clients), timeout=600) for r in rs]
    wall = time.perf_counter() - t0
    ok = [t for status, t in results if status == "ok"]
    other = [status for status, _ in results if status != "ok"]
    print(f"{args.clients} clients x {args.questions} questions = {len(results)} requests in {wall:.1f} s")
    print(f"answered: {len(ok)}, rejected/other: {len(other)} {sorted(set(other))}")
    print(f"latency (queue wait included): p50 {pct(ok, 50) * 1000:.0f} ms, p95 {pct(ok, 95) * 1000:.0f} ms")
    healthy = Client(url, verbose=False).predict("新新街道下辖多少个小区？", api_name="/chat")
    print(f"server healthy afterwards: {'68' in healthy}")
    app.close()
    return 0 if len(ok) + len(other) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
