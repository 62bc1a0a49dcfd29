"""OCR of page images (scans, image-only PDF pages) with RapidOCR (PP-OCR models shipped in its wheel, run offline)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from qa.errors import CorpusError
from qa.ingest.layout import TextLine, reading_order

log = logging.getLogger(__name__)

# Recognised lines below this confidence are noise (specks, ruled lines, photo texture).
MIN_CONFIDENCE = 0.5

_engine: Any = None
_lock = threading.Lock()


def _ocr_engine() -> Any:
    global _engine
    with _lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as e:
                raise CorpusError(f"reading scanned pages needs rapidocr-onnxruntime ({e}); install it with pip") from None
            _engine = RapidOCR()
        return _engine


def ocr_lines(image: Any, name: str) -> list[TextLine]:
    """Recognise the text lines of one page image.

    Args:
        image: a PIL image or an RGB ``numpy`` array.
        name: the page's name, for messages.

    Returns:
        Lines in reading order (``qa.ingest.layout.reading_order``).
    """
    import numpy as np

    arr = np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
    try:
        result, _ = _ocr_engine()(arr)
    except Exception as e:  # onnxruntime / opencv failures on odd images
        raise CorpusError(f"{name}: OCR failed ({type(e).__name__}: {e})") from None
    lines = []
    for box, text, score in result or ():
        if float(score) < MIN_CONFIDENCE or not str(text).strip():
            continue
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        lines.append(TextLine(str(text).strip(), min(xs), min(ys), max(xs), max(ys)))
    log.info("%s: OCR found %d lines", name, len(lines))
    return reading_order(lines)


def ocr_image_file(data: bytes, name: str) -> str:
    """OCR an image file (PNG, JPEG, TIFF...) into page text, one recognised line per text line.

    Raises:
        CorpusError: when the file is not a readable image.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            image = im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise CorpusError(f"{name}: not a readable image ({e})") from None
    return "\n".join(ln.text for ln in ocr_lines(image, name))
