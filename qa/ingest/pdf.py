"""PDF pages as text: the text layer (pdfminer.six layout analysis) in column reading order, OCR for image-only pages.

Why pdfminer.six: its layout analysis gives every text line with its box, so columns can
be put in reading order (``qa.ingest.layout``), and it decodes CJK CID fonts (Adobe-GB1,
e.g. STSong-Light) through the CMaps it ships. pypdf and pypdfium2 return text in
content-stream order: on a two-column page written row by row they run the two columns'
lines together (``左栏第一行 右栏第一行``), and pdfminer's own text-box order does the
same on such a page, hence our ordering of its lines. pdfplumber is a layer over
pdfminer.six that adds nothing needed here (and requires a newer Pillow than gradio
accepts). pypdfium2 is used only to render a page without a text layer, for OCR."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from qa.errors import CorpusError
from qa.ingest.layout import TextLine, reading_order

log = logging.getLogger(__name__)

# Render image-only pages at this resolution for OCR: small newspaper type needs ~200 dpi.
OCR_DPI = 200
# A scan with a few words of text layer (a page number or stamp added by the scanner) is
# still a scan: OCR it when images cover most of the page and the text layer is this short.
SCAN_MAX_TEXT = 40
SCAN_MIN_IMAGE_SHARE = 0.5


@dataclass(frozen=True)
class PdfPage:
    """One page's text in reading order."""

    number: int  # 1-based
    text: str
    ocr: bool  # the text came from OCR (the page had no text layer)


def pdf_pages(data: bytes, name: str, ocr: bool = True) -> list[PdfPage]:
    """Extract every page of a PDF.

    Args:
        data: the PDF file's bytes.
        name: the file's name, for messages.
        ocr: OCR pages without a text layer (else they are left empty).

    Returns:
        One entry per page that has text.

    Raises:
        CorpusError: for a damaged, encrypted or empty PDF.
    """
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTFigure, LTImage, LTTextBox, LTTextLine
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfexceptions import PDFException
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psexceptions import PSException

    # char_margin 1.0: Chinese has no spaces, so characters of one line touch; a gap of a
    # character's width is already a column gutter, which the default (2.0) would bridge
    params = LAParams(char_margin=1.0, line_margin=0.5, detect_vertical=False)
    pages: list[PdfPage] = []
    needs_ocr: list[int] = []
    try:
        for number, layout in enumerate(extract_pages(io.BytesIO(data), laparams=params), 1):
            height = layout.height
            lines = []
            image_area = 0.0
            for box in layout:
                if isinstance(box, (LTFigure, LTImage)):
                    image_area += _clipped_area(box.bbox, layout.bbox)
                if not isinstance(box, LTTextBox):
                    continue
                for ln in box:
                    if isinstance(ln, LTTextLine) and ln.get_text().strip():
                        x0, y0, x1, y1 = ln.bbox
                        lines.append(TextLine(ln.get_text().strip(), x0, height - y1, x1, height - y0))
            chars = sum(len(ln.text) for ln in lines)
            page_area = max(layout.width * layout.height, 1.0)
            if lines and not (chars <= SCAN_MAX_TEXT and image_area / page_area >= SCAN_MIN_IMAGE_SHARE):
                pages.append(PdfPage(number, "\n".join(ln.text for ln in reading_order(lines)), False))
            else:
                needs_ocr.append(number)
    except (PDFEncryptionError, PDFPasswordIncorrect) as e:
        raise CorpusError(f"{name}: encrypted PDF ({e or 'password needed'})") from None
    except (PDFException, PDFSyntaxError, PSException, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError) as e:
        # pdfminer raises a range of types on damaged files (truncated, not a PDF at all)
        raise CorpusError(f"{name}: damaged or not a PDF ({type(e).__name__}: {e})") from None
    if needs_ocr and ocr:
        pages.extend(_ocr_pages(data, name, needs_ocr))
        pages.sort(key=lambda p: p.number)
    elif needs_ocr:
        log.warning("%s: pages %s have no text layer (OCR off)", name, needs_ocr)
    if not pages and not needs_ocr:
        raise CorpusError(f"{name}: the PDF has no pages")
    return pages


def _clipped_area(box: tuple[float, float, float, float], page: tuple[float, float, float, float]) -> float:
    w = min(box[2], page[2]) - max(box[0], page[0])
    h = min(box[3], page[3]) - max(box[1], page[1])
    return max(w, 0.0) * max(h, 0.0)


def _ocr_pages(data: bytes, name: str, numbers: list[int]) -> list[PdfPage]:
    import pypdfium2 as pdfium

    from qa.ingest.ocr import ocr_lines

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise CorpusError(f"{name}: cannot render pages for OCR ({e})") from None
    out = []
    try:
        for n in numbers:
            image = doc[n - 1].render(scale=OCR_DPI / 72).to_pil()
            text = "\n".join(ln.text for ln in ocr_lines(image, f"{name}#p{n}"))
            if text.strip():
                out.append(PdfPage(n, text, True))
            else:
                log.warning("%s: page %d has neither a text layer nor recognisable text", name, n)
    finally:
        doc.close()
    return out
