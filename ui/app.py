"""The Gradio web chat behind ``newsqa serve``: cited answers with a sources panel a reader can check.

Gradio is imported inside ``build_app``/``serve`` (about 8 s), so ``import ui`` stays cheap.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa import Answer, ask, ask_stream, get_pipeline
from qa.errors import NewsQAError
from qa.inputs import clean_question, sanitize
from qa.settings import MAX_QUESTION_CHARS
from qa.text import to_simplified

from ui.capacity import FairGate
from ui.guard import Guard, ServerLimits, proxy_env
from ui.ratelimit import RateLimiter, default_rate

if TYPE_CHECKING:
    from embeddings.encoder import Embedder

log = logging.getLogger(__name__)

N_EXAMPLES = 4
EXAMPLE_POOL = 1000  # newest articles example questions are drawn from (a bounded read at any archive size)
CONTEXT_CHARS = 160  # article text shown on each side of a quote

CSS = """
.newsqa-source { border-left: 3px solid #c0392b; padding: 6px 10px; margin: 8px 0; }
.newsqa-source mark { background: #ffe58a; padding: 0 2px; }
.newsqa-source .meta { color: #666; font-size: 0.9em; }
"""


class UnsafeConfigError(NewsQAError):
    """The environment asks Gradio to expose more than this server should."""


def check_environment(env: dict[str, str] | None = None) -> None:
    """Refuse to start when Gradio settings from the environment would widen exposure.

    Raises:
        UnsafeConfigError: naming the variable.
    """
    env = dict(os.environ if env is None else env)
    if env.get("GRADIO_SHARE", "").strip().lower() not in ("", "0", "false", "no"):
        raise UnsafeConfigError("GRADIO_SHARE is set: newsqa never opens a public share link; unset it")
    if env.get("GRADIO_ALLOWED_PATHS", "").strip():
        raise UnsafeConfigError("GRADIO_ALLOWED_PATHS is set: newsqa serves no files from disk; unset it")


_DENIED = ("/file=", "/file/", "/proxy=")  # Gradio's file and proxy routes: this app serves no files, fetches no URLs


class DenyFileRoutes:
    """ASGI middleware: 403 for Gradio's file and proxy routes (path traversal, SSRF), before Gradio sees them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            raw = scope.get("raw_path") or b""
            paths = (str(scope.get("path", "")).lower(), raw.decode("latin-1").lower())
            if any(d in p for p in paths for d in _DENIED):
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"403: newsqa serves no files"})
                return
        await self.app(scope, receive, send)


def render_sources(a: Answer, articles: dict[str, Any]) -> str:
    """HTML for the sources panel: each quote highlighted inside its surrounding article text.

    Args:
        a: the answer.
        articles: the articles of the index generation the answer came from
            (``Answer.index_generation``); a citation whose article is not there, or
            whose text differs, is shown as its quote alone.
    """
    parts: list[str] = []
    if a.refused:
        parts.append("<p><b>资料中没有相关信息 / The articles do not cover this.</b> Closest articles:</p><ul>")
        for h in a.hits[:3]:
            parts.append(
                f"<li>{html.escape(h.article.title)} <span class='meta'>({html.escape(h.article.source)}, "
                f"score {h.score:.3f})</span></li>"
            )
        parts.append("</ul>")
        return "\n".join(parts)
    for c in a.citations:
        art = articles.get(c.article_id)
        if art is not None and art.body[c.start : c.end] == c.quote:
            body = art.body
            lo, hi = max(0, c.start - CONTEXT_CHARS), min(len(body), c.end + CONTEXT_CHARS)
            before, quote, after = body[lo : c.start], body[c.start : c.end], body[c.end : hi]
        else:  # not the generation the answer came from: the quote alone, never a slice of other text
            body, lo, hi = c.quote, 0, len(c.quote)
            before, quote, after = "", c.quote, ""
        meta = " · ".join(html.escape(x) for x in (c.paper or "", c.date or "") if x)
        parts.append(
            "<div class='newsqa-source'>"
            f"<div><b>[{c.n}] {html.escape(c.title)}</b></div>"
            f"<div class='meta'>{meta + ' · ' if meta else ''}{html.escape(c.source)}, chars {c.raw_start}–{c.raw_end}</div>"
            f"<p>{'…' if lo else ''}{html.escape(before)}<mark>{html.escape(quote)}</mark>"
            f"{html.escape(after)}{'…' if hi < len(body) else ''}</p></div>"
        )
    return "\n".join(parts)


def about_line(pipe: Any) -> str:
    """The loaded archive: papers, issue dates, and how many articles, files and pages it holds.

    Read from the manifest and the metadata file's indexes, never by a pass over every article.
    """
    idx = pipe.index
    meta = idx.meta
    if meta is not None:
        papers, span = meta.papers(), meta.date_span()
        pages = set(idx.manifest.get("corpus", {}).get("sources") or [])
        n_articles = int(idx.manifest.get("counts", {}).get("articles", len(idx.articles)))
    else:
        arts = list(idx.articles.values())
        papers = sorted({a.paper for a in arts if a.paper})
        dates = sorted({a.date for a in arts if a.date})
        span = (dates[0], dates[-1]) if dates else None
        pages, n_articles = {a.source for a in arts}, len(arts)
    files = {s.split("#", 1)[0] for s in pages}  # a PDF's pages are cited as file.pdf#pN
    when = f"issues {span[0]} – {span[1]}" if span else "issue dates not printed"
    where = f"{len(files)} files" + (f" ({len(pages)} pages)" if len(pages) != len(files) else "")
    return (
        f"About this archive: {', '.join(papers) if papers else 'papers not named'}; {when}; "
        f"{n_articles} articles from {where}."
    )


def example_articles(index: Any, limit: int = EXAMPLE_POOL) -> Any:
    """The articles example questions are drawn from: the ``limit`` newest (all of a small archive)."""
    return index.meta.newest(limit) if index.meta is not None else index.articles.values()


def example_questions(articles: Any, n: int = N_EXAMPLES) -> list[str]:
    """Example questions about the loaded archive: its latest headlines, one per source file.

    Args:
        articles: the index's articles.
        n: how many.

    Returns:
        Up to ``n`` questions such as ``区图书馆新馆开放是怎么回事？``, newest issue first.
    """
    seen: set[str] = set()
    out: list[str] = []
    ranked = sorted(articles, key=lambda a: (a.date or "", len(a.body)), reverse=True)
    for a in ranked:
        head = a.headline.strip().rstrip("？?。！!")
        stem = a.source.split("#", 1)[0]
        if stem in seen or not 4 <= len(head) <= 30 or head == a.body[:20]:  # no real headline: skip
            continue
        seen.add(stem)
        if head.isascii():
            out.append(f"What happened: {head}?")
        else:  # a headline in traditional characters gets a traditional question
            out.append(f"{head}是怎么回事？" if to_simplified(head) == head else f"{head}是怎麼回事？")
        if len(out) == n:
            break
    return out


def _client_key(request: Any) -> str:
    """The client's address: the socket's peer, or what a trusted proxy forwarded (``ServerLimits.trusted_proxies``)."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "unknown")


class RateLimited(NewsQAError):
    """A client asked more often than the chat's per-client limit."""


ALL_PAPERS = "(all papers)"
_DOWNLOAD_JS = """(md) => { if (md) { const url = URL.createObjectURL(new Blob([md], {type: 'text/markdown'}));
  const a = document.createElement('a'); a.href = url; a.download = 'newsqa-conversation.md';
  document.body.appendChild(a); a.click(); a.remove(); setTimeout(() => URL.revokeObjectURL(url), 1000); } return []; }"""


def build_app(index: Path | None = None, model: str | None = None, embedder: "Embedder | None" = None,
              rate_limit: tuple[int, float] | None | str = "default", feedback_path: Path | None = None,
              limits: ServerLimits | None = None):
    """Build the chat as ``gr.Blocks`` (the index and model are loaded here, before serving).

    Args:
        rate_limit: (questions, per seconds) per client address; None for no limit;
            "default": ``$NEWSQA_RATE_LIMIT`` or ``ui.ratelimit.DEFAULT_RATE``.
        feedback_path: where 👍/👎 ratings go (default: ``$NEWSQA_FEEDBACK``, else
            ``feedback.jsonl`` in the index folder).
        limits: the server's limits (workers, per-address queue, waiting bound); None: from the environment.
    """
    import gradio as gr

    from ui.chatextras import (FeedbackLog, answer_markdown, answer_record, conversation_markdown,
                               default_feedback_path, plain_history)

    pipe = get_pipeline(index, model, embedder)
    feedback = FeedbackLog(feedback_path or default_feedback_path(Path(pipe.index.path).parent))
    papers = pipe.index.meta.papers() if pipe.index.meta is not None else sorted(
        {a.paper for a in pipe.index.articles.values() if a.paper})
    rate = default_rate() if rate_limit == "default" else rate_limit
    limiter = RateLimiter(*rate) if rate else None
    gate = FairGate((limits or ServerLimits.from_env()).capacity)  # one running answer per address, bounded waits

    def admit(question: Any, request: Any) -> str:
        """The rate limit, then the one input layer (type, length before anything else, invisible characters)."""
        if limiter is not None:
            wait = limiter.check(_client_key(request))
            if wait is not None:
                raise RateLimited(limiter.message(wait))
        # Gradio's max_length is enforced only in the browser: the API gets anything
        return clean_question(question)

    def articles_of(a: Answer) -> dict[str, Any]:
        """The articles of the generation that answered (the pipeline may have swapped since start-up)."""
        p = get_pipeline(index, model, embedder)
        return p.index.articles if p.generation == a.index_generation else {}

    def answer_one(question: Any, request: Any = None) -> tuple[str, Answer | None]:
        """Shared by the chat box and the /chat API: (message to show, the Answer if any)."""
        try:
            q = admit(question, request)
            with gate.slot(_client_key(request)):
                a = ask(q, index=index, model=model, embedder=embedder)
        except NewsQAError as e:  # a visible message, never a stack trace
            return f"⚠️ {e}", None
        except Exception:  # noqa: BLE001 - log it, show a plain message
            log.exception("chat request failed")
            return "⚠️ Something went wrong answering this question.", None
        return a.text, a

    def chat_api(question, request=None):
        """The /chat endpoint for scripts: answer text followed by the numbered sources."""
        text, a = answer_one(question, request)
        lines = [text]
        for c in a.citations if a else ():
            lines.append(f"[{c.n}] {c.title} — {c.source} ({c.raw_start}-{c.raw_end}): {c.quote}")
        return "\n".join(lines)

    def on_submit(question, history, records=None, paper=None, date_from=None, date_to=None, answerer="auto",
                  request=None):
        """Stream the answer into the chat (when the answerer streams), then show the cited version.

        ``records`` (per browser session) maps each answer's message position to what 👍/👎 stores.
        """
        records = dict(records or {})
        past = [m for m in (history or []) if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
        shown_q = sanitize(question[:MAX_QUESTION_CHARS]) if isinstance(question, str) else f"({type(question).__name__})"
        shown = past + [{"role": "user", "content": shown_q}, {"role": "assistant", "content": "…"}]
        yield "", shown, "", records
        options = {"paper": None if paper in (None, "", ALL_PAPERS) else paper, "date_from": date_from or None,
                   "date_to": date_to or None, "answerer": answerer or "auto"}
        try:
            q = admit(question, request)
            partial = ""
            with gate.slot(_client_key(request)):
                for item in ask_stream(q, index=index, model=model, embedder=embedder, history=plain_history(past), **options):
                    if isinstance(item, Answer):
                        rec = answer_record(item)
                        shown[-1] = {"role": "assistant", "content": answer_markdown(rec)}
                        records[str(len(shown) - 1)] = rec
                        yield "", shown, render_sources(item, articles_of(item)), records
                    else:
                        partial += item
                        shown[-1] = {"role": "assistant", "content": partial}
                        yield "", shown, "", records
        except NewsQAError as e:  # a visible message, never a stack trace
            shown[-1] = {"role": "assistant", "content": f"⚠️ {e}"}
            yield "", shown, "", records
        except Exception:  # noqa: BLE001
            log.exception("chat request failed")
            shown[-1] = {"role": "assistant", "content": "⚠️ Something went wrong answering this question."}
            yield "", shown, "", records

    def on_like(data, records):
        """👍/👎 on an answer: one JSONL record with the question, answer, citations and index generation."""
        idx = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        rec = (records or {}).get(str(idx))
        if rec is None or data.liked not in (True, False):
            return "Nothing to rate here (only answers with a question behind them are stored)."
        try:
            feedback.add(rec, bool(data.liked))
        except NewsQAError as e:
            log.warning("%s", e)
            return f"⚠️ Feedback not saved: {e}"
        return f"{'👍' if data.liked else '👎'} saved for “{rec['question'][:40]}”."

    def on_export(history):
        return conversation_markdown(history or [])

    # real objects, not strings: Gradio finds the gr.Request parameter through the type hints
    chat_api.__annotations__ = {"question": str, "request": gr.Request, "return": str}
    on_submit.__annotations__ = {"question": str, "history": list, "records": dict, "paper": str, "date_from": str,
                                 "date_to": str, "answerer": str, "request": gr.Request}
    on_like.__annotations__ = {"data": gr.LikeData, "records": dict, "return": str}

    with gr.Blocks(title="newsqa", analytics_enabled=False) as app:
        gr.Markdown("## newsqa · 报纸问答\nAnswers come from the archive's articles, each sentence cited to its source.")
        gr.Markdown(about_line(pipe))
        # the per-message copy button copies the answer with its Sources list (both are in the message)
        chatbot = gr.Chatbot(label="Chat", height=380, buttons=["copy", "copy_all"], elem_id="newsqa-chat")
        examples = example_questions(example_articles(pipe.index))
        records = gr.State({})
        with gr.Row():
            box = gr.Textbox(label="Question", placeholder="输入问题" + (f"，例如：{examples[0]}" if examples else ""),
                             max_length=MAX_QUESTION_CHARS, scale=4)
            with gr.Column(scale=2, min_width=240):
                paper_in = gr.Dropdown([ALL_PAPERS] + papers, value=ALL_PAPERS, label="Paper", elem_id="newsqa-paper")
                with gr.Row():
                    from_in = gr.Textbox(label="From", placeholder="2023-01-01", max_length=40, elem_id="newsqa-from")
                    to_in = gr.Textbox(label="To", placeholder="2023-12-31", max_length=40, elem_id="newsqa-to")
                answerer_in = gr.Radio(["auto", "extractive", "generative"], value="auto", label="Answerer",
                                       elem_id="newsqa-answerer")
        send = gr.Button("Ask", variant="primary")
        status = gr.Markdown(elem_id="newsqa-status")
        sources = gr.HTML(label="Sources", elem_id="newsqa-sources")
        if examples:
            gr.Examples(examples, inputs=box)
        with gr.Accordion("Export conversation (Markdown)", open=False):
            export_btn = gr.Button("Export as Markdown", elem_id="newsqa-export")
            export_md = gr.Code(language="markdown", label="conversation.md", elem_id="newsqa-export-md")
        inputs = [box, chatbot, records, paper_in, from_in, to_in, answerer_in]
        # the gate, not Gradio's queue, decides who waits: let enough through to reach it
        conc = gate.capacity.max_concurrent
        send.click(on_submit, inputs, [box, chatbot, sources, records], api_visibility="private", concurrency_limit=conc)
        box.submit(on_submit, inputs, [box, chatbot, sources, records], api_visibility="private", concurrency_limit=conc)
        chatbot.like(on_like, [records], [status], api_visibility="private")
        # the file is made in the browser: this server serves no files
        export_btn.click(on_export, [chatbot], [export_md], api_visibility="private").then(
            None, [export_md], None, js=_DOWNLOAD_JS, api_visibility="private")
        hidden_q = gr.Textbox(visible=False)
        hidden_a = gr.Textbox(visible=False)
        hidden_q.change(chat_api, hidden_q, hidden_a, api_name="chat", concurrency_limit=conc)
    app.newsqa_limiter = limiter  # the /v1 routes share the chat's per-address budget
    app.newsqa_gate = gate  # ... and its workers (ui.capacity)
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    index: Path | None = None,
    model: str | None = None,
    auth: tuple[str, str] | None = None,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
    embedder: "Embedder | None" = None,
    rate_limit: tuple[int, float] | None | str = "default",
    api_key: str | None = "env",
    feedback_path: Path | None = None,
    limits: ServerLimits | None = None,
):
    """Launch the chat with safe defaults: loopback, no share link, bounded queue, no file serving,
    a per-client rate limit ($NEWSQA_RATE_LIMIT), the OpenAI-compatible /v1 routes on the same
    port (``api_key``: "env" reads $NEWSQA_API_KEY), and ``ui.guard`` in front of everything:
    request size limits, no uploads, login throttling, client addresses from the socket unless
    ``limits.trusted_proxies`` names a proxy ($NEWSQA_TRUSTED_PROXIES)."""
    check_environment()
    limits = limits or ServerLimits.from_env()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # uvicorn reads its trusted proxies from the environment when the server is created, in launch()
    os.environ.update(proxy_env(limits.trusted_proxies))
    app = build_app(index, model, embedder, rate_limit=rate_limit, feedback_path=feedback_path, limits=limits)
    app.queue(max_size=32, default_concurrency_limit=2)
    from starlette.middleware import Middleware

    from ui.openai_api import OpenAIMount, OpenAIRoutes, default_api_key

    v1 = OpenAIRoutes({"index": index, "model": model, "embedder": embedder}, limiter=app.newsqa_limiter,
                      api_key=default_api_key() if api_key == "env" else api_key, auth=auth, gate=app.newsqa_gate)
    app.launch(
        app_kwargs={"middleware": [Middleware(Guard, limits=limits), Middleware(DenyFileRoutes),
                                   Middleware(OpenAIMount, routes=v1)]},
        server_name=host,
        server_port=port,
        share=False,
        show_error=False,
        auth=auth,
        max_file_size="1mb",
        max_threads=limits.capacity.threads,  # waiting questions hold threads (ui.capacity); room for all
        allowed_paths=[],
        blocked_paths=[str(Path(__file__).resolve().parent.parent)],
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        css=CSS,
        footer_links=["api"],
        ssr_mode=False,
    )
    return app
