"""Text normalization shared by questions, matching and scoring: width, case, invisible characters, sentences."""

from __future__ import annotations

import re
import unicodedata


_SENTENCE = re.compile(r"[^。！？；!?;\n]+(?:[。！？；!?;]+[”’」』）)]*)?")
_SPACE = re.compile(r"\s+")
_PUNCT_CATS = ("P", "S", "Z")
# Format characters (Cf: zero-width space/joiners, bidi marks and isolates, BOM, soft
# hyphen, tags), controls other than tab and line breaks (Cc), surrogates and private use.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ue000-\uf8ff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000f0000-\U0010ffff]"
)



# Chinese question and function words: they say what kind of answer is wanted, not
# where it is. Each matcher adds its own few (see qa.answer.extractive, qa.lexical.bm25).
QUESTION_STOPWORDS = frozenset(
    "请问 为什么 为何 怎么样 怎么 怎样 如何 什么 多少 哪些 哪个 哪里 哪儿 哪天 哪年 哪 谁 是否 几 吗 呢 吧 是 的 了 在 和 与 及 被 把 都 也 就 还 又 从 到 这 那 其 之 一共 分别 主要 目前".split()
)


def stopword_pattern(words: frozenset[str] | set[str]) -> "re.Pattern[str]":
    """A regex matching any of ``words``, longest first (so 为什么 wins over 什么)."""
    return re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))


_t2s = None


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese with OpenCC (offline tables in the wheel)."""
    global _t2s
    if _t2s is None:
        import opencc

        _t2s = opencc.OpenCC("t2s")
    return _t2s.convert(text)


def _visible(text: str) -> str:
    """``text`` without zero-width, bidi and other format/control characters (line breaks and tabs kept)."""
    return _INVISIBLE_RE.sub("", text)


def normalize(text: str) -> str:
    """The retrieval form of a text, shared by indexing and querying.

    Zero-width and bidi marks (and other invisible format characters) removed, NFKC
    (full-width letters, digits and punctuation → half-width; compatibility
    ideographs → unified), then traditional → simplified Chinese. Case and
    spaces are kept: the dense model is case-sensitive and English needs its word
    breaks. ``norm`` builds on it for comparisons.
    """
    t = unicodedata.normalize("NFKC", _visible(text))
    return to_simplified(t) if any(ord(ch) > 0x2E7F for ch in t) else t


def norm(text: str) -> str:
    """Comparison form: ``normalize`` (invisible marks out, NFKC, simplified Chinese), lower case, no whitespace."""
    return _SPACE.sub("", normalize(text).lower())


_LATIN_WORD = re.compile(r"[a-z0-9]+")


def text_grams(text: str) -> set[str]:
    """The grams a text is compared by: its characters, character bigrams and Latin words, in ``norm`` form."""
    t = norm(text)
    out = {t[i : i + 2] for i in range(len(t) - 1)}
    out.update(t)
    out.update(_LATIN_WORD.findall(t))
    return out


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
