"""The web chat: /chat API through gradio_client, file-route safety, unsafe-env refusal, and a real browser."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio", reason="gradio is installed by scripts/setup.sh")

from ui.app import UnsafeConfigError, check_environment, render_sources, serve  # noqa: E402


from net import free_port as _free_port  # noqa: E402


@pytest.fixture(scope="module")
def server(small_index):
    from embeddings.encoder import HashingEmbedder

    port = _free_port()
    emb = HashingEmbedder(dim=256)  # same identity as the one small_index was built with
    app = serve(port=port, index=small_index, embedder=emb, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", small_index
    app.close()


def test_chat_api_gives_a_cited_answer(server):
    from gradio_client import Client

    url, _ = server
    out = Client(url, verbose=False).predict("刘坂村共有村民多少户？", api_name="/chat")
    assert "[1]" in out
    assert "000_7ff5f06dc4846084.txt" in out  # the source line names the raw page


def test_chat_api_refuses_and_reports_bad_input(server):
    from gradio_client import Client

    url, _ = server
    c = Client(url, verbose=False)
    assert "资料中没有相关信息" in c.predict("贵州茅台今天的股价是多少？", api_name="/chat")
    empty = c.predict("   ", api_name="/chat")
    assert "empty" in empty and "Traceback" not in empty
    long = c.predict("问" * 501, api_name="/chat")  # the browser's max_length is not enforced on the API
    assert "limit is 500" in long


def test_index_files_and_system_files_are_not_served(server):
    url, index = server
    current = next(Path(index).glob("gen-*")) / "manifest.json"
    for target in ("/etc/passwd", str(current), str(Path(__file__).resolve())):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url}gradio_api/file={target}", timeout=10)
        assert e.value.code in (403, 404)


def test_unsafe_environment_is_refused():
    with pytest.raises(UnsafeConfigError, match="GRADIO_SHARE"):
        check_environment({"GRADIO_SHARE": "True"})
    with pytest.raises(UnsafeConfigError, match="GRADIO_ALLOWED_PATHS"):
        check_environment({"GRADIO_ALLOWED_PATHS": "/"})
    check_environment({"GRADIO_SHARE": "false"})


def test_sources_panel_highlights_the_quote_inside_article_text(small_index, hashing_embedder):
    from qa import ask, get_pipeline

    a = ask("刘坂村共有村民多少户？", index=small_index, embedder=hashing_embedder)
    html = render_sources(a, get_pipeline(small_index, embedder=hashing_embedder).index.articles)
    c = a.citations[0]
    assert f"<mark>{c.quote}</mark>" in html  # plain Chinese text survives html.escape unchanged
    assert html.index("<mark>") > html.index("<p>") + 10  # surrounding article text precedes it


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/setup.sh installs it when run as root)")
def test_real_browser_shows_marker_and_highlighted_quote(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by scripts/setup.sh")
    url, _ = server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            page.goto(url, timeout=60_000)
            box = page.get_by_label("Question")
            box.fill("刘坂村共有村民多少户？")
            box.press("Enter")
            page.wait_for_selector("#newsqa-sources mark", timeout=60_000)
            page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
            assert "[1]" in page.inner_text("body")
            assert page.inner_text("#newsqa-sources mark").strip()
        finally:
            browser.close()
    assert (tmp_path / "chat.png").stat().st_size > 0


def test_basic_auth_protects_the_api(small_index):
    from gradio_client import Client

    from embeddings.encoder import HashingEmbedder

    port = _free_port()
    app = serve(port=port, index=small_index, embedder=HashingEmbedder(dim=256), auth=("reader", "s3cret"),
                prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception):
            Client(url, verbose=False).predict("刘坂村共有村民多少户？", api_name="/chat")
        ok = Client(url, auth=("reader", "s3cret"), verbose=False).predict("刘坂村共有村民多少户？", api_name="/chat")
        assert "[1]" in ok
    finally:
        app.close()
