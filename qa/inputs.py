"""The one input layer: every question and option from the CLI, the Python API and the chat passes here.

Order matters for cost and safety:

1. type check (text only; ``None``, numbers, dicts, bytes are refused with a reason);
2. the length cap, on the raw value, before any normalization, so a 1 MB question
   costs one ``len()`` and never reaches the embedder;
3. lone surrogates (which cannot be encoded, e.g. from a JSON ``"\\ud800"``) replaced;
4. control, format (zero-width, bidi) and surrogate characters removed, NFKC applied,
   whitespace collapsed;
5. empty → a clear ``InputError``.

Everything raises ``qa.errors.InputError`` (a ``ValueError``), never anything else.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.settings import MAX_QUESTION_CHARS, RETRIEVERS
from qa.text import _SPACE, _visible

MAX_K = 50
ANSWERERS = ("auto", "extractive", "generative")
MAX_OPTION_CHARS = 200  # paper names and other free-text options
MAX_HISTORY_CHARS = 2000  # one earlier turn, kept for follow-up rewriting
_DROP_CATEGORIES = ("Cc", "Cf", "Cs")  # controls, format characters, surrogates
_KEEP = "\t\n"


def _strip_invisible(text: str) -> str:
    t = _visible(text)
    if any(unicodedata.category(ch) in _DROP_CATEGORIES and ch not in _KEEP for ch in t):
        t = "".join(ch for ch in t if ch in _KEEP or unicodedata.category(ch) not in _DROP_CATEGORIES)
    return t


def sanitize(text: str) -> str:
    """Surrogates replaced, invisible/control characters removed, NFKC, whitespace collapsed (no checks)."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    t = unicodedata.normalize("NFKC", _strip_invisible(text))
    return _SPACE.sub(" ", _strip_invisible(t)).strip()


def clean_question(question: object, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """Validate and clean a user's question.

    Args:
        question: what the user sent, of any type.
        max_chars: the length limit, checked on the raw value before any normalization.

    Returns:
        The visible question text: NFKC, single spaces, no control or format characters.

    Raises:
        InputError: not text, too long, or empty once invisible characters are removed.
    """
    if not isinstance(question, str):
        raise InputError(f"the question must be text, not {type(question).__name__}")
    if len(question) > max_chars:
        raise InputError(f"the question is {len(question)} characters long; the limit is {max_chars}")
    q = sanitize(question)
    if not q:
        raise InputError("the question is empty")
    return q


def check_k(k: object) -> int:
    """``k`` must be an int (not a bool) from 1 to ``MAX_K``."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InputError(f"k must be an integer from 1 to {MAX_K}, got {_show(k)}")
    return int(k)


def check_choice(value: object, choices: tuple[str, ...], what: str, optional: bool = False) -> str | None:
    """One of ``choices`` (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{what} must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def check_option_text(value: object, what: str) -> str | None:
    """A free-text option such as a paper name: text or None, capped, cleaned; empty → None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text, not {type(value).__name__}")
    if len(value) > MAX_OPTION_CHARS:
        raise InputError(f"{what} is {len(value)} characters long; the limit is {MAX_OPTION_CHARS}")
    return sanitize(value) or None


def check_date_option(value: object, what: str) -> str | None:
    """A date filter as given (checked for type and length; ``qa.retrieve.retriever.parse_date`` checks the format)."""
    if value is None:
        return None
    import datetime as _dt

    if isinstance(value, _dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise InputError(f"{what} must be a date like 2022-05-25, not {type(value).__name__}")
    if len(value) > 40:
        raise InputError(f"{what} must be a date like 2022-05-25, got {len(value)} characters")
    return sanitize(value) or None


def check_history(history: object) -> list[Any]:
    """Earlier turns: a list of {"role","content"} dicts or (question, answer) pairs.

    Items of other shapes are skipped; text is sanitized and capped. Only the last 12
    items are looked at.

    Raises:
        InputError: when ``history`` is not a list or tuple at all.
    """
    if not history:
        return []
    if not isinstance(history, (list, tuple)):
        raise InputError(f"history must be a list of messages or (question, answer) pairs, not {type(history).__name__}")
    out: list[Any] = []
    for item in list(history)[-12:]:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if role in ("user", "assistant") and isinstance(content, str):
                out.append({"role": role, "content": sanitize(content[:MAX_HISTORY_CHARS])})
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            out.append((sanitize(item[0][:MAX_HISTORY_CHARS]), sanitize(item[1][:MAX_HISTORY_CHARS])))
    return out


def check_request(
    question: object,
    k: object = 5,
    answerer: object = "auto",
    retriever: object = None,
    paper: object = None,
    date_from: object = None,
    date_to: object = None,
    history: object = None,
    today: object = None,
    index: object = None,
) -> Request:
    """Check one ``ask()`` request.

    Returns:
        The cleaned values as a ``Request``.

    Raises:
        InputError: for the first bad value, named in the message.
    """
    return Request(
        question=clean_question(question),
        k=check_k(k),
        answerer=check_choice(answerer, ANSWERERS, "answerer"),
        retriever=check_choice(retriever, RETRIEVERS, "retriever", optional=True),
        paper=check_option_text(paper, "paper"),
        date_from=check_date_option(date_from, "date_from"),
        date_to=check_date_option(date_to, "date_to"),
        history=tuple(check_history(history)),
        today=check_today(today),
        index=check_index(index),
    )


def check_index(index: object) -> Path | None:
    """An index folder given as ``str`` or ``os.PathLike``; None for the default.

    Raises:
        InputError: for another type, an empty name or a NUL character, with the value.
    """
    if index is None:
        return None
    if not isinstance(index, (str, os.PathLike)):
        raise InputError(f"index must be a folder path (str or Path), got {type(index).__name__} {_show(index)}")
    path = os.fspath(index)
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        raise InputError(f"index must be a non-empty folder path, got {_show(index)}")
    return Path(path)


@dataclass(frozen=True)
class Request:
    """One checked ``ask()`` request: every value has passed the input layer."""

    question: str
    k: int
    answerer: str
    retriever: str | None
    paper: str | None
    date_from: str | None
    date_to: str | None
    history: tuple[Any, ...]
    today: str | None = None  # ISO date relative phrases in the question resolve against
    index: Path | None = None


def check_today(value: object) -> str | None:
    """The "today" relative dates resolve against: an ISO date (or ``datetime.date``), or None."""
    text = check_date_option(value, "today")
    if text is None:
        return None
    import datetime as _dt

    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"today must be a date like 2023-06-01, got {_show(text)}") from None


def _show(value: object) -> str:
    """A short, safe repr of a bad value for an error message."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."
