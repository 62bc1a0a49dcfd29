"""The OpenAI-compatible /v1 routes of `newsqa serve`, called by the official openai client and plain HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

pytest.importorskip("gradio", reason="gradio is installed by scripts/setup.sh")
openai = pytest.importorskip("openai", reason="openai is in the dev extra")

from net import free_port  # noqa: E402
from ui.app import serve  # noqa: E402
from ui.openai_api import APIError, OpenAIRoutes, parse_messages, render_content  # noqa: E402

KEY = "test-key-1234"
QUESTION = "刘坂村共有村民多少户？"


def _serve(index, **kw):
    from embeddings.encoder import HashingEmbedder

    port = free_port()
    app = serve(port=port, index=index, embedder=HashingEmbedder(dim=256), prevent_thread_lock=True, quiet=True, **kw)
    return app, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(small_index):
    app, url = _serve(small_index, api_key=KEY, rate_limit=None)
    yield url
    app.close()


def _client(url, key=KEY):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def _post(url, body, key=KEY, path="/v1/chat/completions"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_models_lists_newsqa_and_the_answerers(server):
    ids = [m.id for m in _client(server).models.list()]
    assert ids == ["newsqa", "newsqa-extractive", "newsqa-generative"]


def test_plain_completion_carries_the_fact_and_its_citations(server):
    r = _client(server).chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
    content = r.choices[0].message.content
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
    assert "[1]" in content and "Sources:" in content
    extra = r.model_extra
    assert extra["refused"] is False
    cites = extra["citations"]
    assert cites and cites[0]["quote"] and cites[0]["source"] == "000_7ff5f06dc4846084.txt"
    assert cites[0]["quote"][:20] in content  # the Sources list quotes the article


def test_streamed_completion_ends_with_citations_and_done(server):
    stream = _client(server).chat.completions.create(
        model="newsqa-extractive", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in text and "Sources:" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"][0]["quote"] and last.model_extra["refused"] is False
    # the raw stream ends with the OpenAI terminator
    status, raw = _post(server, {"model": "newsqa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]})
    assert status == 200 and raw.rstrip().endswith("data: [DONE]")


def test_refusal_is_flagged_without_citations(server):
    r = _client(server).chat.completions.create(model="newsqa", messages=[{"role": "user", "content": "贵州茅台今天的股价是多少？"}])
    assert r.model_extra["refused"] is True and r.model_extra["citations"] == []
    assert "资料中没有相关信息" in r.choices[0].message.content


def test_follow_up_uses_the_earlier_turns(server):
    first = _client(server).chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
    msgs = [{"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "那个村在哪个乡镇？"}]
    r = _client(server).chat.completions.create(model="newsqa", messages=msgs)
    assert (r.model_extra["rewritten_query"] or "").startswith("刘坂村共有村民多少户")


def test_wrong_or_missing_key_is_401(server):
    with pytest.raises(openai.AuthenticationError):
        _client(server, key="wrong").chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
    status, body = _post(server, {"model": "newsqa", "messages": [{"role": "user", "content": QUESTION}]}, key=None)
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    req = urllib.request.Request(server + "/v1/models")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401


@pytest.mark.parametrize("body, fragment", [
    ({"model": "newsqa", "messages": []}, "non-empty"),
    ({"model": "newsqa"}, "non-empty"),
    ({"model": "newsqa", "messages": [{"role": "user", "content": "问" * 501}]}, "limit is 500"),
    ({"model": "newsqa", "messages": [{"role": "user", "content": "  \u200b "}]}, "empty"),
    ({"model": "newsqa", "messages": [{"role": "assistant", "content": "hi"}]}, "last message"),
    ({"model": "newsqa", "messages": [{"role": "user", "content": QUESTION}], "k": 0}, "k must be"),
    ({"model": "newsqa", "stream": True, "messages": [{"role": "user", "content": "问" * 501}]}, "limit is 500"),
    (b"{not json", "not valid JSON"),
])
def test_bad_input_is_400_with_an_openai_error_object(server, body, fragment):
    status, text = _post(server, body)
    assert status == 400, text
    err = json.loads(text)["error"]
    assert fragment in err["message"] and err["type"] == "invalid_request_error"
    assert "Traceback" not in text


def test_bad_input_through_the_client_raises_bad_request(server):
    with pytest.raises(openai.BadRequestError, match="limit is 500"):
        _client(server).chat.completions.create(model="newsqa", messages=[{"role": "user", "content": "问" * 501}])


def test_unknown_model_is_404(server):
    with pytest.raises(openai.NotFoundError):
        _client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])


def test_chat_endpoint_still_answers_beside_the_api(server):
    from gradio_client import Client

    out = Client(server + "/", verbose=False).predict(QUESTION, api_name="/chat")
    assert "[1]" in out


def test_rate_limit_is_shared_and_gives_429(small_index):
    app, url = _serve(small_index, api_key=None, rate_limit=(2, 60.0))
    try:
        c = _client(url, key="unused")
        for _ in range(2):
            c.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
        from gradio_client import Client  # the chat draws on the same budget

        assert "Too many questions" in Client(url + "/", verbose=False).predict(QUESTION, api_name="/chat")
    finally:
        app.close()


def test_chat_basic_auth_also_closes_the_api_without_a_key(small_index):
    app, url = _serve(small_index, api_key=None, auth=("reader", "s3cret"), rate_limit=None)
    try:
        with pytest.raises(openai.AuthenticationError):
            _client(url, key="anything").models.list()
        import base64

        req = urllib.request.Request(url + "/v1/models", headers={
            "Authorization": "Basic " + base64.b64encode(b"reader:s3cret").decode()})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["data"][0]["id"] == "newsqa"
    finally:
        app.close()


def test_parse_messages_takes_text_parts_and_strips_sources():
    q, hist = parse_messages([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "甲？"}]},
        {"role": "assistant", "content": "答[1]\n\nSources:\n[1] 标题 — “引文”"},
        {"role": "user", "content": "乙？"},
    ])
    assert q == "乙？"
    assert hist == [{"role": "user", "content": "甲？"}, {"role": "assistant", "content": "答[1]"}]
    with pytest.raises(APIError):
        parse_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])


def test_render_content_lists_sources_with_paper_and_date():
    from qa.types import Answer, Citation

    c = Citation(n=1, article_id="a", title="标题", date="2023-05-22", source="p.txt", quote="引文。", start=0, end=3,
                 raw_start=0, raw_end=3, paper="衢州日报")
    text = render_content(Answer(question="q", text="事实[1]", refused=False, citations=(c,)))
    assert text.splitlines()[-1] == "[1] 标题 (衢州日报, 2023-05-22) — “引文。”"


def test_routes_object_checks_bearer_key():
    r = OpenAIRoutes(api_key="abc")
    r.check_auth({"authorization": "Bearer abc"})
    with pytest.raises(APIError) as e:
        r.check_auth({"authorization": "Bearer abd"})
    assert e.value.status == 401


def test_real_newsqa_serve_process_answers_with_the_real_model(real_index, tmp_path):
    """`newsqa serve` as a reviewer starts it: a separate process, the real embedder, plain HTTP and the client."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    port = free_port()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "NEWSQA_API_KEY": KEY, "PYTHONPATH": str(root), "NEWSQA_GENERATOR": "none"}
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "newsqa", "serve", "--index", str(real_index), "--host", "127.0.0.1",
                             "--port", str(port)], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                status, _ = _post(url, {"model": "newsqa", "messages": []})
                if status == 400:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "newsqa serve did not come up"
            time.sleep(1)
        status, body = _post(url, {"model": "newsqa", "messages": [{"role": "user", "content": QUESTION}]})
        assert status == 200
        d = json.loads(body)
        assert "470" in d["choices"][0]["message"]["content"] and d["citations"][0]["quote"]
        assert _post(url, {"model": "newsqa", "messages": [{"role": "user", "content": QUESTION}]}, key=None)[0] == 401
        chunks = list(_client(url).chat.completions.create(
            model="newsqa", messages=[{"role": "user", "content": QUESTION}], stream=True))
        assert "470" in "".join(c.choices[0].delta.content or "" for c in chunks)
        assert chunks[-1].model_extra["citations"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_dated_question_reports_its_range_and_cited_dates(tmp_path_factory):
    from pathlib import Path

    from conftest import SMALL_PARAMS
    from embeddings.encoder import HashingEmbedder
    from qa.index.build import build_index
    from qa.ingest.corpus import load_articles

    idx = tmp_path_factory.mktemp("dated-api-index")
    build_index(load_articles([Path(__file__).parent.parent / "eval" / "dated" / "pages"]), HashingEmbedder(dim=256), idx,
                SMALL_PARAMS)
    app, url = _serve(idx, api_key=None, rate_limit=None)
    try:
        status, body = _post(url, {"model": "newsqa-extractive", "messages": [
            {"role": "user", "content": "去年的青溪茶文化节是第几届？"}], "today": "2023-06-01"})
        assert status == 200, body
        d = json.loads(body)
        assert d["date_range"]["from"] == "2022-01-01" and d["date_range"]["anchor"] == "2023-06-01"
        content = d["choices"][0]["message"]["content"]
        assert "第二届" in content and "2022-01-01 – 2022-12-31" in content
        assert d["citations"] and all(c["date"] for c in d["citations"])
        assert "2022-03-12" in content  # the Sources list shows each cited article's date
        assert _post(url, {"model": "newsqa", "messages": [{"role": "user", "content": "去年"}], "today": "soon"})[0] == 400
    finally:
        app.close()


class _Gate:
    """Stands in for the chat's FairGate: records who took and gave back a worker, or says busy."""

    def __init__(self, busy: bool = False) -> None:
        self.calls: list[str] = []
        self.busy = busy

    def enter(self, key: str) -> None:
        from ui.capacity import Busy

        if self.busy:
            raise Busy("The server is busy; please try again in 9 s.")
        self.calls.append("enter")

    def leave(self, key: str, seconds: float) -> None:
        self.calls.append("leave")


def _fake_stream(question, **kw):
    from qa.types import Answer

    yield "事实"
    yield Answer(question=question, text="事实", refused=False)


def _v1_client(gate):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.testclient import TestClient

    from ui.openai_api import OpenAIMount

    routes = OpenAIRoutes(stream_fn=_fake_stream, gate=gate)
    return TestClient(Starlette(middleware=[Middleware(OpenAIMount, routes=routes)]))


def test_v1_answers_take_a_worker_from_the_chats_gate_and_give_it_back():
    gate = _Gate()
    body = {"model": "newsqa", "messages": [{"role": "user", "content": "问题？"}]}
    with _v1_client(gate) as c:
        plain = c.post("/v1/chat/completions", json=body)
        streamed = c.post("/v1/chat/completions", json={**body, "stream": True})
    assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"].startswith("事实")
    assert streamed.status_code == 200 and "data: [DONE]" in streamed.text
    assert gate.calls == ["enter", "leave", "enter", "leave"]


def test_v1_is_told_busy_by_the_gate_as_an_openai_error():
    with _v1_client(_Gate(busy=True)) as c:
        r = c.post("/v1/chat/completions", json={"model": "newsqa", "messages": [{"role": "user", "content": "问题？"}]})
    assert r.status_code == 503 and r.headers.get("retry-after") == "5"
    err = r.json()["error"]
    assert err["code"] == "overloaded" and "busy" in err["message"]
