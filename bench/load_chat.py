"""Load check (not a test): many clients, each from its own loopback address, plus a late second user; prints figures.

Usage:
    python bench/load_chat.py [--clients 40] [--questions 3] [--index DIR]   # starts `serve` in-process
    python bench/load_chat.py --url http://127.0.0.1:7860/ ...              # against a running `newsqa serve`

Client i connects from 127.0.0.(10+i) (all of 127.0.0.0/8 is loopback on Linux), so the
server sees distinct addresses, as it would see distinct users. The second user (127.0.0.2)
asks one question ``--second-after`` seconds into the load. Every request ends answered,
rejected (a busy or rate message, an HTTP error) or hung (nothing within ``--timeout``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import socket
import sys
import threading
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
# how the chat words a refusal to start (ui.capacity.Busy, ui.app.RateLimited)
_REJECTIONS = ("busy", "Too many questions", "in progress")


def client_address(i: int) -> str:
    """The loopback source address of load client ``i`` (127.0.0.10 onwards; .2 is the second user)."""
    n = 10 + i
    return f"127.0.{n // 250}.{n % 250 + 1}" if n >= 250 else f"127.0.0.{n}"


def ask_once(url: str, question: str, source: str | None, timeout: float) -> tuple[str, float]:
    """One question through the chat's HTTP API (/gradio_api/call/chat) from ``source``: (outcome, seconds)."""
    outcome, dt, _ = _ask(url, question, source, timeout)
    return outcome, dt


def ask_as_a_person(url: str, question: str, source: str, timeout: float, tries: int = 3) -> dict:
    """Ask, and when told "try again in N s", wait N s and ask again (up to ``tries`` times).

    Returns:
        {"outcome", "ms" (from the first ask to the last reply), "tries"}.
    """
    t0 = time.perf_counter()
    for n in range(1, tries + 1):
        outcome, _, text = _ask(url, question, source, timeout)
        m = re.search(r"try again in (\d+) s", text)
        if outcome == "ok" or m is None or n == tries:
            break
        time.sleep(int(m.group(1)))
    return {"outcome": outcome, "ms": round((time.perf_counter() - t0) * 1000), "tries": n}


def _ask(url: str, question: str, source: str | None, timeout: float) -> tuple[str, float, str]:
    import httpx

    t = time.perf_counter()
    transport = httpx.HTTPTransport(local_address=source) if source else None
    try:
        with httpx.Client(transport=transport, timeout=timeout) as c:
            r = c.post(f"{url}gradio_api/call/chat", json={"data": [question]})
            if r.status_code != 200:
                return f"rejected: http {r.status_code}", time.perf_counter() - t, r.text
            event_id = r.json()["event_id"]
            text = c.get(f"{url}gradio_api/call/chat/{event_id}").text
    except httpx.TimeoutException:
        return "hung", time.perf_counter() - t, ""
    except httpx.HTTPError as e:
        return f"rejected: {type(e).__name__}", time.perf_counter() - t, ""
    dt = time.perf_counter() - t
    if "event: complete" not in text:
        return "rejected: error event", dt, text
    data = text.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
    answer = str((json.loads(data) or [""])[0])
    if answer.startswith("⚠️") and any(w in answer for w in _REJECTIONS):
        return ("rejected: busy" if "busy" in answer else "rejected: limit"), dt, answer
    return ("ok" if answer else "empty"), dt, answer


def run_load(url: str, clients: int, questions: int, timeout: float = 120.0,
             second_after: float | None = None) -> dict:
    """``clients`` threads, each from its own loopback address, each asking ``questions`` questions in turn.

    Args:
        url: the chat's base URL.
        clients, questions: the load.
        timeout: seconds after which a request counts as hung.
        second_after: when given, a second user asks one question this many seconds into the load.

    Returns:
        {"requests", "answered", "rejected", "hung", "outcomes", "p50_ms", "p95_ms", "max_ms", "wall_s",
        "second_user": {"outcome", "ms"} or None}; latencies are of answered requests, waiting included.
    """

    def client(i: int) -> list[tuple[str, float]]:
        return [ask_once(url, QUESTIONS[(i + j) % len(QUESTIONS)], client_address(i), timeout) for j in range(questions)]

    second: dict = {}

    def second_user() -> None:
        time.sleep(second_after or 0)
        outcome, dt = ask_once(url, QUESTIONS[0], "127.0.0.2", timeout)
        second.update(outcome=outcome, ms=round(dt * 1000))
        if outcome != "ok":  # what a person does next: wait as told, then ask again
            second["then_as_told"] = ask_as_a_person(url, QUESTIONS[0], "127.0.0.2", timeout)

    t0 = time.perf_counter()
    late = threading.Thread(target=second_user, daemon=True) if second_after is not None else None
    if late:
        late.start()
    with cf.ThreadPoolExecutor(clients) as ex:
        results = [r for rs in ex.map(client, range(clients)) for r in rs]
    if late:
        late.join(timeout + 5)
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
        "max_ms": round(max(ok) * 1000) if ok else None,
        "wall_s": round(wall, 1),
        "second_user": second or None,
    }


def run_heavy(url: str, questions: int, second_after: float, timeout: float = 120.0) -> dict:
    """One address fires ``questions`` questions at once (its whole allowance); a second user asks one meanwhile.

    Returns:
        {"heavy_outcomes", "heavy_answered", "heavy_p50_ms", "second_user": {"outcome", "ms"}}.
    """
    second: dict = {}

    def second_user() -> None:
        time.sleep(second_after)
        outcome, dt = ask_once(url, QUESTIONS[0], "127.0.0.2", timeout)
        second.update(outcome=outcome, ms=round(dt * 1000))

    late = threading.Thread(target=second_user, daemon=True)
    late.start()
    with cf.ThreadPoolExecutor(questions) as ex:
        results = list(ex.map(lambda j: ask_once(url, QUESTIONS[j % len(QUESTIONS)], "127.0.0.4", timeout), range(questions)))
    late.join(timeout + 5)
    ok = [t for status, t in results if status == "ok"]
    outcomes: dict[str, int] = {}
    for status, _ in results:
        outcomes[status] = outcomes.get(status, 0) + 1
    return {"heavy_outcomes": outcomes, "heavy_answered": len(ok),
            "heavy_p50_ms": round(pct(ok, 50) * 1000) if ok else None, "second_user": second or None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=40)
    ap.add_argument("--questions", type=int, default=3)
    ap.add_argument("--second-after", type=float, default=5.0, help="seconds into the load the second user asks")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a request counts as hung")
    ap.add_argument("--url", default=None, help="a running newsqa serve (default: start one in-process)")
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--heavy", type=int, default=0,
                    help="also: one address fires this many questions at once, and the second user asks meanwhile")
    args = ap.parse_args()

    app = None
    url = args.url
    if url is None:
        from ui.app import serve

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        t0 = time.perf_counter()
        app = serve(port=port, index=args.index, prevent_thread_lock=True, quiet=True)
        print(f"server up in {time.perf_counter() - t0:.1f} s on 127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}/"
    url = url if url.endswith("/") else url + "/"
    print(f"answerer: NEWSQA_GENERATOR={os.environ.get('NEWSQA_GENERATOR', '(default)')}")
    outcome, dt = ask_once(url, QUESTIONS[3], "127.0.0.3", args.timeout)  # warm: first answers load lazy parts
    print(f"warm-up question: {outcome} in {dt:.1f} s")
    r = run_load(url, args.clients, args.questions, timeout=args.timeout, second_after=args.second_after)
    print(f"{args.clients} clients x {args.questions} questions = {r['requests']} requests in {r['wall_s']} s")
    print(f"answered: {r['answered']}, rejected: {r['rejected']}, hung: {r['hung']} {r['outcomes']}")
    print(f"latency of answered (waiting included): p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, max {r['max_ms']} ms")
    print(f"second user (asked {args.second_after:g} s in): {r['second_user']}")
    if args.heavy:
        time.sleep(2)
        h = run_heavy(url, args.heavy, args.second_after, timeout=args.timeout)
        print(f"one address, {args.heavy} questions at once: {h['heavy_outcomes']} (answered p50 {h['heavy_p50_ms']} ms)")
        print(f"second user meanwhile (asked {args.second_after:g} s in): {h['second_user']}")
    outcome, dt = ask_once(url, QUESTIONS[3], "127.0.0.3", args.timeout)
    print(f"server healthy afterwards: {outcome} in {dt:.1f} s")
    if app is not None:
        app.close()
    return 0 if r["hung"] == 0 and r["answered"] + r["rejected"] == r["requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
