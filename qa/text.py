"""Text normalization shared by questions, matching and scoring: width, case, invisible characters, sentences."""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError
from .settings import MAX_QUESTION_CHARS

_SENTENCE = re.compile(r"[^。！？；!?;\n]+(?:[。！？；!?;]+[”’」』）)]*)?")
_SPACE = re.compile(r"\s+")
_PUNCT_CATS = ("P", "S", "Z")


def clean_question(question: object, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """Validate and clean a user's question.

    The length cap is checked before any normalization, so a huge input costs nothing.

    Args:
        question: what the user sent.
        max_chars: the length limit.

    Returns:
        The question with invisible/control characters removed and NFKC applied.

    Raises:
        InputError: not a string, empty, or too long, with the reason.
    """
    if not isinstance(question, str):
        raise InputError(f"the question must be text, not {type(question).__name__}")
    if len(question) > max_chars:
        raise InputError(f"the question is {len(question)} characters long; the limit is {max_chars}")
    # lone surrogates cannot be encoded; replace them rather than fail later
    q = question.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(question) else question
    q = "".join(ch for ch in q if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    q = unicodedata.normalize("NFKC", q)
    q = _SPACE.sub(" ", q).strip()
    if not q:
        raise InputError("the question is empty")
    return q


def _has_surrogate(s: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in s)


_t2s = None


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese with OpenCC (offline tables in the wheel)."""
    global _t2s
    if _t2s is None:
        import opencc

        _t2s = opencc.OpenCC("t2s")
    return _t2s.convert(text)


def norm(text: str) -> str:
    """Comparison form: NFKC (full-width → half-width), simplified Chinese, lower case, no whitespace."""
    t = _SPACE.sub("", unicodedata.normalize("NFKC", text).lower())
    return to_simplified(t) if any(ord(ch) > 0x2E7F for ch in t) else t


def strip_punct(text: str) -> str:
    """Comparison form with punctuation, symbols and spaces removed (CMRC 2018 convention)."""
    return "".join(ch for ch in norm(text) if unicodedata.category(ch)[0] not in _PUNCT_CATS)


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``: ends at 。！？； (full- or half-width) or a line break.

    Returns:
        (start, end) offsets with surrounding whitespace excluded.
    """
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def is_mostly_latin(text: str) -> bool:
    """True for a question written mainly in a Latin-script language (e.g. English)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    latin = sum(1 for ch in letters if ch.isascii())
    return latin / len(letters) > 0.5
