"""The chat's sources panel highlights the quote of the generation that answered, never a slice of other text."""

from __future__ import annotations

from qa.types import Answer, Article, Citation


def _answer(quote: str, start: int) -> Answer:
    c = Citation(1, "a1", "标题", "2023-05-25", "p/01.txt", quote, start, start + len(quote), start, start + len(quote), "报")
    return Answer(question="问", text=f"{quote}[1]", refused=False, citations=(c,), index_generation="gen-2")


def test_quote_is_highlighted_in_its_article():
    from ui.app import render_sources

    body = "第一句话。目前已实现286个行政村全覆盖。最后一句。"
    quote = "目前已实现286个行政村全覆盖。"
    art = Article(id="a1", headline="标题", body=body, source="p/01.txt")
    html = render_sources(_answer(quote, body.index(quote)), {"a1": art})
    assert f"<mark>{quote}</mark>" in html and "第一句话。" in html


def test_an_article_from_another_generation_is_not_sliced():
    from ui.app import render_sources

    quote = "目前已实现286个行政村全覆盖。"
    replaced = Article(id="a1", headline="标题", body="完全不同的新文本，长度也不一样。" * 3, source="p/01.txt")
    html = render_sources(_answer(quote, 5), {"a1": replaced})  # the article was replaced after the answer
    assert f"<mark>{quote}</mark>" in html
    html_missing = render_sources(_answer(quote, 5), {})  # an article the loaded generation lacks
    assert f"<mark>{quote}</mark>" in html_missing
