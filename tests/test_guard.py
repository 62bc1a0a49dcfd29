"""Hostile traffic against `newsqa serve` on loopback: oversized bodies, uploads, spoofed addresses, login guessing, floods.

Every server binds 127.0.0.1; every loop is bounded in count and time. Clients that must
look like different users connect from other loopback addresses (127.0.0.0/8).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="gradio is installed by scripts/setup.sh")
httpx = pytest.importorskip("httpx")

from bench.load_chat import ask_once, run_load  # noqa: E402
from embeddings.encoder import HashingEmbedder  # noqa: E402
from ui.app import serve  # noqa: E402
from ui.capacity import Busy, Capacity, FairGate  # noqa: E402
from ui.guard import LoginThrottle, ServerLimits  # noqa: E402

from net import free_port  # noqa: E402

Q = "刘坂村共有村民多少户？"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def server(small_index):
    port = free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), prevent_thread_lock=True, quiet=True,
                rate_limit=None)
    yield f"http://127.0.0.1:{port}/", port
    app.close()


# --------------------------------------------------------------------------- #
# request size

def _raw_post(port: int, path: str, head: dict[str, str], body_chunks, timeout: float = 20) -> bytes:
    """Send a POST by hand (announced length or chunked), then read the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        s.sendall("\r\n".join(lines).encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has answered
        return s.recv(200)


def test_oversized_bodies_get_413_without_memory_growth(server):
    url, port = server
    body = json.dumps({"data": ["问" * 2_000_000]}).encode()  # 12 MB of JSON
    rss0 = _rss_mb()
    for _ in range(8):  # 96 MB offered in all
        r = httpx.post(f"{url}gradio_api/call/chat", content=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 413 and "limit" in r.text
    assert _rss_mb() - rss0 < 40  # none of it kept
    # a chunked body has no length: the streamed bytes are counted
    chunk = b"x" * 32768
    status = _raw_post(port, "/gradio_api/call/chat", {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                       (b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)))
    assert status.startswith(b"HTTP/1.1 413"), status
    # the login form is limited too, and a normal question still works
    assert httpx.post(f"{url}login", content=b"username=" + b"a" * 200_000, timeout=30).status_code == 413
    assert ask_once(url, Q, None, 60)[0] == "ok"


def test_normal_sized_requests_pass(server):
    url, _ = server
    r = httpx.post(f"{url}gradio_api/call/chat", json={"data": ["问" * 501]}, timeout=30)
    assert r.status_code == 200  # under the body limit: the input layer's 500-character message answers it


# --------------------------------------------------------------------------- #
# uploads

@pytest.mark.parametrize("path", ["gradio_api/upload", "gradio_api/upload/", "upload", "gradio_api/UPLOAD?upload_id=x"])
def test_upload_route_is_closed(server, path):
    url, _ = server
    r = httpx.post(f"{url}{path}", files={"files": ("a.txt", b"hello")}, timeout=30)
    assert r.status_code == 403 and "/tmp" not in r.text and "gradio" not in r.text.lower()


# --------------------------------------------------------------------------- #
# client identity: spoofed X-Forwarded-For

def _serve_limited(small_index, **kw):
    port = free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), prevent_thread_lock=True, quiet=True,
                rate_limit=(3, 60), **kw)
    return app, f"http://127.0.0.1:{port}/"


def _spoofed(url: str, n: int) -> list[str]:
    out = []
    for i in range(n):
        r = httpx.post(f"{url}gradio_api/call/chat", json={"data": [Q]}, headers={"X-Forwarded-For": f"10.9.{i}.{i + 1}"},
                       timeout=30)
        text = httpx.get(f"{url}gradio_api/call/chat/{r.json()['event_id']}", timeout=60).text
        out.append(text)
    return out


def test_spoofed_forwarded_for_does_not_escape_the_rate_limit(small_index):
    app, url = _serve_limited(small_index)
    try:
        outs = _spoofed(url, 6)
        assert sum("Too many questions" in o for o in outs) == 3, outs
    finally:
        app.close()


def test_a_named_trusted_proxy_is_believed(small_index):
    app, url = _serve_limited(small_index, limits=ServerLimits(trusted_proxies="127.0.0.1"))
    try:
        outs = _spoofed(url, 6)
        assert not any("Too many questions" in o for o in outs)  # six different users behind the proxy
    finally:
        app.close()


# --------------------------------------------------------------------------- #
# login guessing

def test_wrong_passwords_meet_growing_delays_then_a_lockout(small_index):
    limits = ServerLimits(login_base_delay=0.15, login_max_delay=0.6, login_lockout_after=5, login_window=60)
    port = free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), auth=("reader", "s3cret"),
                prevent_thread_lock=True, quiet=True, limits=limits)
    url = f"http://127.0.0.1:{port}/"

    def login(user, password, source=None):
        transport = httpx.HTTPTransport(local_address=source) if source else None
        with httpx.Client(transport=transport, timeout=30) as c:
            t = time.perf_counter()
            r = c.post(f"{url}login", data={"username": user, "password": password})
            return r.status_code, time.perf_counter() - t

    try:
        tries = [login("reader", f"guess{i}") for i in range(5)]
        assert [s for s, _ in tries] == [400] * 5
        times = [t for _, t in tries]
        assert times[0] < 0.15 and times[1] >= 0.15 and times[2] >= 0.3 and times[3] >= 0.6 and times[4] >= 0.6
        status, t = login("reader", "guess5")
        assert status == 429 and t < 0.5  # locked out: refused at once, no password checked
        assert login("reader", "s3cret")[0] == 429  # the address is locked, even with the right password
        assert login("reader", "s3cret", source="127.0.0.7")[0] == 429  # ... and so is the user, from anywhere
        status, t = login("other", "x", source="127.0.0.8")  # another user from another address: no delay
        assert status == 400 and t < 0.5
    finally:
        app.close()


def test_login_throttle_forgets_after_success_and_window():
    now = [0.0]
    th = LoginThrottle(ServerLimits(login_base_delay=1, login_max_delay=4, login_lockout_after=3, login_window=100),
                       clock=lambda: now[0])
    keys = ["addr:a", "user:u"]
    assert [th.begin(keys) for _ in range(3)] == [(0.0, None), (1, None), (2, None)]
    delay, locked = th.begin(keys)
    assert locked == pytest.approx(100)
    now[0] = 101.0
    assert th.begin(keys) == (0.0, None)  # the window passed
    th.succeeded(keys)
    assert th.begin(keys) == (0.0, None)


# --------------------------------------------------------------------------- #
# fair capacity

def test_gate_serves_a_newcomer_before_a_repeat_asker():
    gate = FairGate(Capacity(workers=1, per_client_queue=2, max_wait=10, first_estimate=0.1))
    order: list[str] = []
    hold = threading.Event()

    def run(key: str, wait_for: threading.Event | None = None) -> None:
        with gate.slot(key):
            order.append(key)
            if wait_for is not None:
                wait_for.wait(5)

    first = threading.Thread(target=run, args=("A", hold))
    first.start()
    time.sleep(0.2)
    threads = [threading.Thread(target=run, args=("A",)), threading.Thread(target=run, args=("A",))]
    for t in threads:
        t.start()
        time.sleep(0.1)
    late = threading.Thread(target=run, args=("B",))
    late.start()
    time.sleep(0.1)
    with pytest.raises(Busy, match="in progress"):  # A's queue is full
        with gate.slot("A"):
            pass
    hold.set()
    for t in (first, *threads, late):
        t.join(5)
    assert order == ["A", "B", "A", "A"]


def test_gate_bounds_every_wait():
    gate = FairGate(Capacity(workers=1, per_client_queue=2, max_wait=0.5, first_estimate=0.1))
    release = threading.Event()

    def hold():
        with gate.slot("A"):
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    with pytest.raises(Busy, match=r"busy.*try again in \d+ s"):
        with gate.slot("B"):
            pass
    assert time.perf_counter() - t0 < 2  # turned away at the bound, not after the running answer
    # once answers are known to be slow, a question is turned away at once
    release.set()
    t.join(5)
    slow = FairGate(Capacity(workers=1, max_wait=1.0, first_estimate=30.0))
    blocker = threading.Event()
    def hold_slow():
        with slow.slot("A"):
            blocker.wait(5)

    t = threading.Thread(target=hold_slow)
    t.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    with pytest.raises(Busy, match=r"try again in \d+ s"):
        with slow.slot("B"):
            pass
    assert time.perf_counter() - t0 < 0.5
    blocker.set()
    t.join(5)


class _SlowEmbedder(HashingEmbedder):
    """HashingEmbedder (same identity as the small index) that takes a fixed time per question."""

    def embed_queries(self, texts, *a, **k):
        time.sleep(0.25)
        return super().embed_queries(texts, *a, **k)


def test_flood_is_bounded_and_a_second_user_is_answered(small_index):
    limits = ServerLimits(capacity=Capacity(workers=1, per_client_queue=2, max_wait=3.0, first_estimate=0.25))
    port = free_port()
    app = serve(port=port, index=small_index, embedder=_SlowEmbedder(dim=256), prevent_thread_lock=True, quiet=True,
                rate_limit=None, limits=limits)
    try:
        r = run_load(f"http://127.0.0.1:{port}/", clients=6, questions=4, timeout=60, second_after=1.5)
        assert r["hung"] == 0 and r["answered"] + r["rejected"] == r["requests"], r["outcomes"]
        assert r["answered"] >= 12
        assert r["max_ms"] < (3.0 + 2.0) * 1000  # the waiting bound plus one answer (and slack for a busy machine)
        second = r["second_user"]
        assert second["outcome"] == "ok" and second["ms"] < 3000, second  # served next, not behind everyone's queue
    finally:
        app.close()


def test_full_queue_makes_room_for_a_newcomer_by_turning_away_the_heaviest_asker():
    gate = FairGate(Capacity(workers=1, per_client_queue=2, max_wait=10, max_waiting=2, first_estimate=0.1))
    order: list[str] = []
    outcomes: dict[str, str] = {}
    hold = threading.Event()

    def run(name: str, key: str, wait_for: threading.Event | None = None) -> None:
        try:
            with gate.slot(key):
                order.append(name)
                if wait_for is not None:
                    wait_for.wait(5)
            outcomes[name] = "ok"
        except Busy as e:
            outcomes[name] = str(e)

    threads = [threading.Thread(target=run, args=("H1", "H", hold))]
    threads[0].start()
    time.sleep(0.2)
    for name in ("H2", "H3"):
        threads.append(threading.Thread(target=run, args=(name, "H")))
        threads[-1].start()
        time.sleep(0.1)
    assert gate.waiting == 2  # the queue is full
    threads.append(threading.Thread(target=run, args=("N", "N")))
    threads[-1].start()
    time.sleep(0.2)
    hold.set()
    for t in threads:
        t.join(5)
    assert "busy" in outcomes["H3"] and order == ["H1", "N", "H2"]


def test_api_password_guessing_is_throttled_like_the_login_form(small_index):
    limits = ServerLimits(login_base_delay=0.15, login_max_delay=0.6, login_lockout_after=4, login_window=60)
    port = free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), auth=("reader", "s3cret"),
                prevent_thread_lock=True, quiet=True, limits=limits, api_key=None)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {"model": "newsqa", "messages": [{"role": "user", "content": Q}]}
    try:
        times, codes = [], []
        for i in range(4):
            t = time.perf_counter()
            codes.append(httpx.post(url, json=body, auth=("reader", f"guess{i}"), timeout=30).status_code)
            times.append(time.perf_counter() - t)
        assert codes == [401] * 4 and times[1] >= 0.15 and times[2] >= 0.3 and times[3] >= 0.6
        assert httpx.post(url, json=body, auth=("reader", "s3cret"), timeout=30).status_code == 429  # locked out
    finally:
        app.close()
