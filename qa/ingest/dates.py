"""Issue dates as printed (2023年3月1日, 2023/03/01, 2023-03-01T08:00) and in file paths, normalised to ISO YYYY-MM-DD."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_SEP_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[T\s].*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# a date inside a path: 2023-05-25/, 2023_05_25, 20230525, 2023/05/25/ (folders per year, month, day)
_PATH_DATE = re.compile(r"(?<!\d)(\d{4})([-_./]?)(\d{2})\2(\d{2})(?!\d)")


def _valid(y: str, m: str, d: str) -> str | None:
    try:
        day = dt.date(int(y), int(m), int(d))
    except ValueError:
        return None
    return day.isoformat() if 1800 <= day.year <= 2200 else None


def iso_date(value: str) -> str | None:
    """An ISO date for a date as written, or None when ``value`` is not one.

    Args:
        value: e.g. ``2023-03-01``, ``2023/3/1``, ``2023.03.01``, ``2023年3月1日``,
            ``20230301`` or an ISO timestamp; full-width digits are accepted.

    Returns:
        ``YYYY-MM-DD``, or None.
    """
    s = unicodedata.normalize("NFKC", str(value)).strip()
    m = _SEP_DATE.match(s) or _COMPACT.match(s)
    return _valid(m[1], m[2], m[3]) if m else None


def path_date(rel_path: str) -> str | None:
    """The issue date a file's path names (``2023-05-25/01.txt``, ``2023/05/25/a.pdf``, ``20230525_01.txt``), if any.

    The last date in the path wins (the file name over its folders).
    """
    found = None
    for m in _PATH_DATE.finditer(rel_path):
        found = _valid(m[1], m[3], m[4]) or found
    return found
