"""HTML article pages (数字报 sites publish one per article): main text and metadata via trafilatura, navigation and footer dropped."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from qa.errors import CorpusError

log = logging.getLogger(__name__)

# 版次 as printed on article pages: 第03版, 第 3 版, A05版, 第三版
_EDITION = re.compile(r"(第\s*[0-9０-９一二三四五六七八九十]{1,3}\s*版|\b[A-Z][0-9]{1,3}\s*版)")
_AUTHOR = re.compile(r"(?:作者|记者|記者|文)\s*[:：]\s*([\u4e00-\u9fff·]{2,12}(?:[、,，][\u4e00-\u9fff·]{2,4}){0,3})")
_TITLE_SUFFIX = re.compile(r"\s*[-_|–—]\s*[^-_|–—]{1,30}$")


@dataclass(frozen=True)
class HtmlArticle:
    """What an article page says about itself."""

    title: str
    text: str  # main text, one paragraph per line
    date: str | None  # as trafilatura found it (ISO)
    author: str
    paper: str | None
    edition: str  # 版次, e.g. 第03版


def read_html(data: bytes, name: str) -> HtmlArticle:
    """Extract the article of an HTML page.

    Args:
        data: the page's bytes (trafilatura detects the encoding from the markup and bytes).
        name: the file's name, for messages.

    Returns:
        Title, main text, date, author, paper (the site name) and 版次.

    Raises:
        CorpusError: when the page has no article text.
    """
    import trafilatura
    from lxml import html as lxml_html

    try:
        doc = trafilatura.bare_extraction(data, with_metadata=True, include_comments=False, include_tables=False,
                                          deduplicate=False)
    except Exception as e:  # lxml/trafilatura raise many types on broken markup
        raise CorpusError(f"{name}: unreadable HTML ({type(e).__name__}: {e})") from None
    meta = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
    text = (meta.get("text") or "").strip()
    if not text:
        raise CorpusError(f"{name}: no article text found in the HTML page")
    try:
        page_text = lxml_html.fromstring(data).text_content()
    except Exception:  # noqa: BLE001 - lxml on broken markup; only 版次 and the author are looked up here
        page_text = ""
    title = (meta.get("title") or "").strip()
    site = (meta.get("sitename") or "").strip() or None
    if site and title.endswith(site):  # "headline_东城日报"
        title = _TITLE_SUFFIX.sub("", title) or title
    author = (meta.get("author") or "").strip()
    if not author:
        m = _AUTHOR.search(page_text)
        author = m.group(1).strip() if m else ""
    m = _EDITION.search(page_text)
    edition = re.sub(r"\s+", "", m.group(1)) if m else ""
    return HtmlArticle(title=title, text=text, date=meta.get("date") or None, author=author, paper=site, edition=edition)
