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
def feedback_file(tmp_path_factory):
    return tmp_path_factory.mktemp("feedback") / "feedback.jsonl"


@pytest.fixture(scope="module")
def server(small_index, feedback_file):
    from embeddings.encoder import HashingEmbedder

    port = _free_port()
    emb = HashingEmbedder(dim=256)  # same identity as the one small_index was built with
    app = serve(port=port, index=small_index, embedder=emb, prevent_thread_lock=True, quiet=True,
                feedback_path=feedback_file)  # small_index is shared: the ratings go elsewhere
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


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/setup.sh installs it when run as root)")
def test_real_browser_filters_copy_feedback_and_export(server, feedback_file, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by scripts/setup.sh")
    import json

    url, _ = server
    question = "5月22日召开的柯城区十届政府常务会议是第几次常务会议？"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        try:
            ctx = browser.new_context(accept_downloads=True)
            ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
            page = ctx.new_page()
            page.goto(url, timeout=60_000)
            # filters and the answerer beside the question box
            page.get_by_label("Paper").click()
            page.get_by_role("option", name="今日柯城").click()
            page.get_by_label("From", exact=True).fill("2022-05-01")
            page.get_by_label("To", exact=True).fill("2022-05-31")
            page.get_by_label("extractive", exact=True).check()
            box = page.get_by_label("Question")
            box.fill(question)
            box.press("Enter")
            page.wait_for_selector("#newsqa-sources mark", timeout=60_000)
            body = page.inner_text("#newsqa-chat")
            assert "第6次" in body and "2022-05-01 – 2022-05-31" in body and "Sources" in body
            # the copy button copies the answer with its sources
            page.get_by_role("button", name="Copy message").last.click()
            copied = page.evaluate("navigator.clipboard.readText()")
            assert "第6次" in copied and "Sources" in copied and "004_733030cbff99bc12.txt" in copied
            # 👍 is stored with the question, answer, citations and index generation
            page.get_by_role("button", name="Like").last.click()
            page.wait_for_function("document.querySelector('#newsqa-status').innerText.includes('saved')", timeout=30_000)
            rows = [json.loads(x) for x in feedback_file.read_text(encoding="utf-8").splitlines()]
            assert rows[-1]["rating"] == "up" and rows[-1]["question"] == question.replace("？", "?")  # NFKC
            assert rows[-1]["citations"][0]["quote"] and rows[-1]["index_generation"].startswith("gen-")
            assert rows[-1]["date_range"]["source"] == "caller"
            # the conversation as Markdown, made in the browser
            page.get_by_text("Export conversation (Markdown)").click()
            with page.expect_download(timeout=30_000) as dl:
                page.get_by_role("button", name="Export as Markdown").click()
            md = Path(dl.value.path()).read_text(encoding="utf-8")
            assert "## Q: 5月22日召开的" in md and "**Sources**" in md and "第6次" in md
            # a follow-up is rewritten with the earlier turn (Gradio 6 sends messages as lists of parts)
            box.fill("那次会议听取了什么汇报？")
            box.press("Enter")
            page.wait_for_function("document.querySelector('#newsqa-chat').innerText.includes('按“')", timeout=60_000)
            page.screenshot(path=str(tmp_path / "chat-extras.png"), full_page=True)
        finally:
            browser.close()


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
