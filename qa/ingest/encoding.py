"""Decode a text file's bytes: UTF-8 first, else the encoding charset-normalizer detects (GB18030, Big5, UTF-16...)."""

from __future__ import annotations

import logging

from qa.errors import CorpusError

log = logging.getLogger(__name__)

# Share of control characters (other than tab, newline, carriage return, form feed)
# above which decoded "text" is taken to be binary data.
_MAX_CONTROL = 0.01


def decode_text(data: bytes, name: str) -> str:
    """Decode the bytes of a text file.

    UTF-8 (with or without a BOM) is tried first and strictly: it is what the rest of
    the pipeline writes, and a valid UTF-8 byte string is almost never another
    encoding. A file cut off inside a multi-byte character (a truncated download)
    loses only that last character. Anything else goes to charset-normalizer, which
    tells GB18030/GBK, Big5 and UTF-16 apart on Chinese text.

    Args:
        data: the file's bytes.
        name: the file's name, for messages.

    Returns:
        The text, with ``\\r\\n`` and ``\\r`` line ends turned into ``\\n``.

    Raises:
        CorpusError: when the bytes are not text in any encoding detected.
    """
    text = _utf8(data, name)
    if text is None:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise CorpusError(f"{name}: not text in UTF-8, GB18030, Big5 or any other encoding detected")
        text = str(best)
        log.info("%s: decoded as %s", name, best.encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if text and control / len(text) > _MAX_CONTROL:
        raise CorpusError(f"{name}: binary data, not text ({control} control characters in {len(text)})")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf8(data: bytes, name: str) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # only the last character cut short (an incomplete sequence at the very end)
        if e.reason == "unexpected end of data" and len(data) - e.start <= 3:
            log.warning("%s: ends inside a UTF-8 character (truncated file?); dropping the last %d bytes", name, len(data) - e.start)
            return data[: e.start].decode("utf-8-sig")
        return None
