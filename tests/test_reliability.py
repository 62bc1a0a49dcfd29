"""The chat as a network service on loopback: hostile payloads, file-route traversal and SSRF, the rate limit,
50 concurrent clients against the bounded queue, and hot swaps of the index generation.

Every server binds 127.0.0.1; every request loop is bounded in count and time.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio", reason="gradio is installed by scripts/setup.sh")

from embeddings.encoder import HashingEmbedder  # noqa: E402
from qa import ask  # noqa: E402
from qa.ingest.chunking import ChunkParams  # noqa: E402
from qa.index.build import build_index # noqa: E402
from ui.app import serve  # noqa: E402
from ui.ratelimit import RateLimiter, parse_rate  # noqa: E402

PARAMS = ChunkParams(120, 20)
Q = "刘坂村共有村民多少户？"


from net import free_port as _free_port  # noqa: E402


class CountingEmbedder(HashingEmbedder):
    """HashingEmbedder (same identity, so it loads the small index) that counts the questions it embeds."""

    def __init__(self) -> None:
        super().__init__(dim=256)
        self.queries = 0

    def embed_queries(self, texts, *a, **k):
        self.queries += len(texts)
        return super().embed_queries(texts, *a, **k)


@pytest.fixture(scope="module")
def server(small_index):
    emb = CountingEmbedder()
    port = _free_port()
    app = serve(port=port, index=small_index, embedder=emb, prevent_thread_lock=True, quiet=True, rate_limit=None)
    yield f"http://127.0.0.1:{port}/", small_index, emb
    app.close()


def _client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


# --------------------------------------------------------------------------- #
# hostile payloads

def test_one_megabyte_question_is_rejected_before_any_embedding(server):
    url, _, emb = server
    c = _client(url)
    before = emb.queries
    with pytest.raises(Exception, match="413"):  # refused by the body limit before it is read (ui.guard)
        c.predict("问" * 1_000_000, api_name="/chat")
    out = c.predict("问" * 20_000, api_name="/chat")  # under the body limit: the input layer's length check
    assert "limit is 500" in out and "Traceback" not in out
    assert emb.queries == before  # the embedder never saw either
    assert "[1]" in c.predict(Q, api_name="/chat") and emb.queries == before + 1  # and it does see a normal one


def test_one_megabyte_question_never_reaches_the_embedder_in_process(small_index):
    from qa.errors import InputError

    emb = CountingEmbedder()
    ask(Q, index=small_index, embedder=emb)  # load the pipeline
    n = emb.queries
    t = time.perf_counter()
    with pytest.raises(InputError, match="limit is 500"):
        ask("x" * 1_000_000, index=small_index, embedder=emb)
    assert emb.queries == n and time.perf_counter() - t < 0.5


@pytest.mark.parametrize("payload", [None, 12, 3.5, True, {"q": "刘坂村"}, ["刘坂村"], "null",  # lone surrogates: test_raw_json_with_lone_surrogate_and_huge_body (the client cannot send them)
                                    
                                     "\x00\x01\u200b\u202e", "   \u3000\t\n"])
def test_non_text_and_invisible_payloads_get_a_message_not_a_trace(server, payload):
    url, _, _ = server
    out = _client(url).predict(payload, api_name="/chat")
    assert isinstance(out, str) and out and "Traceback" not in out and "Error" not in out.split(":")[0]


def test_raw_json_with_lone_surrogate_and_huge_body(server):
    url, _, _ = server
    # a hand-written JSON body (gradio_client would escape it): lone surrogate in the question
    body = b'{"data": ["\\ud800\\u5218\\u5742\\u6751"], "fn_index": null}'
    req = urllib.request.Request(f"{url}gradio_api/call/chat", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/chat/{event_id}", timeout=60) as r:
        stream = r.read().decode("utf-8")
    assert "event: complete" in stream and "Traceback" not in stream
    # a 5 MB body: refused or answered with the length message, and the server stays healthy
    big = json.dumps({"data": ["问" * 5_000_000]}).encode()
    req = urllib.request.Request(f"{url}gradio_api/call/chat", data=big, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            event_id = json.loads(r.read())["event_id"]
        with urllib.request.urlopen(f"{url}gradio_api/call/chat/{event_id}", timeout=60) as r:
            assert "limit is 500" in r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        assert 400 <= e.code < 500
    assert "[1]" in _client(url).predict(Q, api_name="/chat")


# --------------------------------------------------------------------------- #
# file routes: traversal and SSRF

class _Secret(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"INTERNAL-SECRET")

    do_HEAD = do_GET

    def log_message(self, *a):
        pass


def test_file_routes_refuse_traversal_and_ssrf(server):
    url, index, _ = server
    secret = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Secret)
    threading.Thread(target=secret.serve_forever, daemon=True).start()
    internal = f"http://127.0.0.1:{secret.server_address[1]}/admin"
    manifest = next(Path(index).glob("gen-*")) / "manifest.json"
    targets = [
        f"gradio_api/file={manifest}", "gradio_api/file=/etc/passwd", "gradio_api/file=../../../../etc/passwd",
        "gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd", f"gradio_api/file/{manifest}",
        "gradio_api/file/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "static/..%2f..%2f..%2fetc%2fpasswd",
        "assets/..%2f..%2f..%2f..%2fetc%2fpasswd", f"gradio_api/file={index}/CURRENT",
        f"gradio_api/proxy={internal}", f"gradio_api/file={internal}", "gradio_api/proxy=http://169.254.169.254/latest/meta-data/",
    ]
    try:
        for t in targets:
            try:
                with urllib.request.urlopen(url + t, timeout=10) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            assert status in (403, 404), (t, status)
            assert b"INTERNAL-SECRET" not in body and b"root:" not in body and b"sha256" not in body, t
        assert _Secret.hits == 0  # the server never fetched the internal address
    finally:
        secret.shutdown()


# --------------------------------------------------------------------------- #
# per-client rate limit

def test_rate_limiter_window():
    now = [0.0]
    rl = RateLimiter(3, 10, clock=lambda: now[0])
    assert [rl.check("a") for _ in range(3)] == [None, None, None]
    assert rl.check("a") == pytest.approx(10)
    assert rl.check("b") is None  # per client
    now[0] = 10.0
    assert rl.check("a") is None
    assert parse_rate("off") is None and parse_rate("5/2") == (5, 2.0)
    from qa.errors import NewsQAError

    with pytest.raises(NewsQAError, match="30/60"):
        parse_rate("lots")


def test_chat_rate_limit_gives_a_clear_message(small_index):
    port = _free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), prevent_thread_lock=True,
                quiet=True, rate_limit=(3, 60))
    try:
        c = _client(f"http://127.0.0.1:{port}/")
        outs = [c.predict(Q, api_name="/chat") for _ in range(5)]
        assert all("[1]" in o for o in outs[:3])
        assert all("Too many questions" in o and "try again in" in o for o in outs[3:])
    finally:
        app.close()


# --------------------------------------------------------------------------- #
# load: 50 clients x 4 questions against the bounded queue

def test_fifty_concurrent_clients_answered_or_cleanly_rejected(small_index):
    from bench.load_chat import run_load

    port = _free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), prevent_thread_lock=True,
                quiet=True, rate_limit=None)
    try:
        url = f"http://127.0.0.1:{port}/"
        r = run_load(url, clients=50, questions=4, timeout=120)
        print(f"\nload: {json.dumps(r, ensure_ascii=False)}")
        assert r["requests"] == 200 and r["hung"] == 0
        assert r["answered"] + r["rejected"] == 200, r["outcomes"]
        assert r["answered"] >= 100  # the queue rejects overflow, it does not refuse everything
        assert "[1]" in _client(url).predict(Q, api_name="/chat")  # healthy afterwards
    finally:
        app.close()


# --------------------------------------------------------------------------- #
# hot swap: a running server moves to a new generation without dropping or mixing requests

def test_server_swaps_to_a_new_generation_without_restart(tmp_path, seed_articles):
    out = tmp_path / "idx"
    emb = HashingEmbedder(dim=256)
    without = [a for a in seed_articles if "刘坂村" not in a.body]
    assert len(without) < len(seed_articles)
    build_index(without, emb, out, PARAMS)
    port = _free_port()
    app = serve(port=port, index=out, embedder=emb, prevent_thread_lock=True, quiet=True, rate_limit=None)
    try:
        c = _client(f"http://127.0.0.1:{port}/")
        assert "资料中没有相关信息" in c.predict(Q, api_name="/chat")
        build_index(seed_articles, emb, out, PARAMS)
        assert "[1]" in c.predict(Q, api_name="/chat")  # same process, new generation
    finally:
        app.close()


def test_answers_never_mix_generations_during_swaps(tmp_path, seed_articles):
    out = tmp_path / "idx"
    emb = HashingEmbedder(dim=256)
    halves = [seed_articles[: len(seed_articles) // 2], seed_articles[len(seed_articles) // 2:]]
    owned: dict[str, set[str]] = {}
    gen = build_index(halves[0], emb, out, PARAMS)
    owned[gen.name] = {a.id for a in halves[0]}
    ask(Q, index=out, embedder=emb)
    stop = threading.Event()
    answers = []
    errors = []

    def asker(i: int) -> None:
        qs = [Q, "衢江区共享法庭覆盖了多少个行政村？", "柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？"]
        n = 0
        while not stop.is_set() and n < 400:
            n += 1
            try:
                answers.append(ask(qs[(i + n) % 3], index=out, embedder=emb, k=8))
            except Exception as e:  # noqa: BLE001 - any failure during a swap is a dropped request
                errors.append(repr(e))

    with ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(asker, i) for i in range(3)]
        for n in range(6):  # six swaps while questions are being answered
            time.sleep(0.3)
            part = halves[(n + 1) % 2]
            gen = build_index(part, emb, out, PARAMS)
            owned[gen.name] = {a.id for a in part}
        time.sleep(0.5)
        stop.set()
        for f in futs:
            f.result(timeout=120)
    assert not errors, errors[:3]
    used = {a.index_generation for a in answers}
    assert len(used) >= 3, used  # requests really ran across swaps
    for a in answers:
        ids = {h.article.id for h in a.hits} | {c.article_id for c in a.citations}
        assert ids <= owned[a.index_generation], (a.index_generation, ids - owned[a.index_generation])
    print(f"\nhot swap: {len(answers)} answers across {len(used)} generations, none dropped, none mixed")
