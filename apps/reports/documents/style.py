"""Docket's house style for PDF documents (reportlab platypus), shared by every document kind.

Every page has a header (system, Docket version, the checkpoint the document reflects) and a footer
("page X of Y"); long documents get a table of contents. Output is byte-for-byte reproducible:
reportlab runs in invariant mode (fixed creation date and document ID) and nothing on the page
depends on the clock — the time shown is the signed checkpoint's, never now().
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
ACCENT = colors.HexColor("#0b4f6c")
RULE = colors.HexColor("#cbd2d9")
ZEBRA = colors.HexColor("#f5f7fa")
MISSING_RED = colors.HexColor("#b42318")
PASS_GREEN = colors.HexColor("#1a7f37")

MISSING = "MISSING"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

_sample = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_sample["Title"], fontName="Helvetica-Bold", fontSize=20, leading=24,
                            textColor=ACCENT, alignment=TA_LEFT, spaceAfter=6),
    "subtitle": ParagraphStyle("subtitle", parent=_sample["Normal"], fontSize=11, leading=14, textColor=MUTED,
                               spaceAfter=10),
    "h1": ParagraphStyle("h1", parent=_sample["Heading1"], fontName="Helvetica-Bold", fontSize=14, leading=18,
                         textColor=ACCENT, spaceBefore=10, spaceAfter=4),
    "h2": ParagraphStyle("h2", parent=_sample["Heading2"], fontName="Helvetica-Bold", fontSize=11.5, leading=14,
                         textColor=INK, spaceBefore=8, spaceAfter=3),
    "body": ParagraphStyle("body", parent=_sample["Normal"], fontName="Helvetica", fontSize=9, leading=12,
                           textColor=INK, spaceAfter=4),
    "cell": ParagraphStyle("cell", parent=_sample["Normal"], fontName="Helvetica", fontSize=8, leading=10,
                           textColor=INK),
    "cell_bold": ParagraphStyle("cell_bold", parent=_sample["Normal"], fontName="Helvetica-Bold", fontSize=8,
                                leading=10, textColor=INK),
    "mono": ParagraphStyle("mono", parent=_sample["Normal"], fontName="Courier", fontSize=7.5, leading=9.5,
                           textColor=INK),
    "note": ParagraphStyle("note", parent=_sample["Normal"], fontName="Helvetica-Oblique", fontSize=8, leading=10,
                           textColor=MUTED, spaceAfter=4),
    "toc1": ParagraphStyle("toc1", fontName="Helvetica", fontSize=10, leading=14, leftIndent=6 * mm,
                           firstLineIndent=-6 * mm),
    "toc2": ParagraphStyle("toc2", fontName="Helvetica", fontSize=9, leading=12, leftIndent=12 * mm,
                           firstLineIndent=-6 * mm, textColor=MUTED),
}

# The standard PDF fonts cover Windows-1252 only; characters outside it would print as boxes.
_REPLACEMENTS = {"≥": ">=", "≤": "<=", "‖": "||", "→": "->", "←": "<-", "×": "x", "≠": "!=", "µ": "u",
                 "\u2212": "-", "\u00a0": " "}


def clean(value) -> str:
    """Text safe for a Paragraph: mark-up characters escaped, characters the fonts lack replaced."""
    text = "" if value is None else str(value)
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    text = text.encode("cp1252", errors="replace").decode("cp1252")
    return escape(text).replace("\n", "<br/>")


def para(text, style: str = "body", *, markup: bool = False) -> Paragraph:
    """A paragraph of plain text (escaped) or, with markup=True, of trusted reportlab mark-up."""
    return Paragraph(text if markup else clean(text), STYLES[style])


def missing_text(needed: str) -> str:
    """Mark-up for an item the registry does not hold: the marker and what would fill it."""
    return f'<font color="#b42318"><b>{MISSING}</b></font> — needed: {clean(needed)}'


def value_or_missing(value, needed: str, *, style: str = "cell") -> Paragraph:
    """The value, or a **MISSING** marker naming what is needed when the value is empty."""
    if value in (None, "", [], {}):
        return Paragraph(missing_text(needed), STYLES[style])
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(item) for item in value)
    return para(value, style)


def status_text(status: str) -> str:
    """Mark-up for a check or review status, coloured."""
    colour = {"passed": "#1a7f37", "approved": "#1a7f37", "failed": "#b42318", "rejected": "#b42318",
              "error": "#b42318"}.get(status, "#1f2933")
    return f'<font color="{colour}"><b>{clean(status)}</b></font>'


def number(value, digits: int = 4) -> str:
    """A figure as the documents print it: fixed decimals for floats, '—' for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


class Heading(Paragraph):
    """A section heading that is listed in the table of contents."""

    def __init__(self, text: str, level: int = 1):
        super().__init__(clean(text), STYLES["h1" if level == 1 else "h2"])
        self.toc_level = level - 1
        self.toc_text = text


def heading(text: str, level: int = 1) -> Heading:
    return Heading(text, level)


def table(header: Sequence[str] | None, rows: Iterable[Sequence], *, widths: Sequence[float] | None = None,
          mono_columns: Sequence[int] = ()) -> Table:
    """A zebra-striped table; cells that are strings are wrapped (monospaced in `mono_columns`)."""
    data = []
    if header:
        data.append([para(cell, "cell_bold") for cell in header])
    for row in rows:
        data.append([
            cell if isinstance(cell, Flowable) else para(cell, "mono" if index in mono_columns else "cell")
            for index, cell in enumerate(row)
        ])
    if not data:
        data = [[para("(none)", "cell")]]
    columns = len(data[0])
    if widths is None:
        widths = [CONTENT_WIDTH / columns] * columns
    else:
        total = sum(widths)
        widths = [CONTENT_WIDTH * width / total for width in widths]
    result = Table(data, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    commands = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        commands += [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e7eb")),
                     ("LINEBELOW", (0, 0), (-1, 0), 0.75, MUTED)]
    for index in range(1 if header else 0, len(data)):
        if index % 2 == 0:
            commands.append(("BACKGROUND", (0, index), (-1, index), ZEBRA))
    result.setStyle(TableStyle(commands))
    return result


def key_values(rows: Iterable[tuple[str, object]], *, label_width: float = 0.3) -> Table:
    """A two-column table of labels and values (values may be Paragraphs, e.g. a MISSING marker)."""
    return table(None, [(label, value if isinstance(value, Flowable) else para(value, "cell"))
                        for label, value in rows], widths=[label_width, 1 - label_width])


def png_image(data: bytes, *, max_width: float = CONTENT_WIDTH, max_height: float = 95 * mm) -> Image:
    """A PNG scaled to fit, keeping its aspect ratio."""
    image = Image(io.BytesIO(data))
    scale = min(max_width / image.imageWidth, max_height / image.imageHeight, 1.0)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    image.hAlign = "LEFT"
    return image


@dataclass(frozen=True)
class PageFrame:
    """What the header and footer of every page say."""

    title: str
    system: str
    docket_version: str
    as_of: str


def _numbered_canvas(frame: PageFrame):
    class NumberedCanvas(pdf_canvas.Canvas):
        """Defers each page until the total is known, then draws header and "page X of Y" on it."""

        def __init__(self, *args, **kwargs):
            kwargs["invariant"] = 1
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []

        def showPage(self):
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            top = PAGE_HEIGHT - MARGIN + 6 * mm
            self.setFont("Helvetica-Bold", 8)
            self.setFillColor(ACCENT)
            self.drawString(MARGIN, top, _latin(frame.title))
            self.setFont("Helvetica", 7.5)
            self.setFillColor(MUTED)
            self.drawRightString(PAGE_WIDTH - MARGIN, top, _latin(frame.system))
            self.drawString(MARGIN, top - 9, _latin(f"Docket {frame.docket_version}"))
            self.drawRightString(PAGE_WIDTH - MARGIN, top - 9, _latin(frame.as_of))
            self.line(MARGIN, top - 13, PAGE_WIDTH - MARGIN, top - 13)
            self.line(MARGIN, MARGIN - 6 * mm, PAGE_WIDTH - MARGIN, MARGIN - 6 * mm)
            self.drawString(MARGIN, MARGIN - 10 * mm, "Generated by Docket from the signed audit log")
            self.drawRightString(PAGE_WIDTH - MARGIN, MARGIN - 10 * mm, f"page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


def _latin(text: str) -> str:
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    return text.encode("cp1252", errors="replace").decode("cp1252")


class _DocTemplate(BaseDocTemplate):
    def __init__(self, buffer, frame: PageFrame, **kwargs):
        super().__init__(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + 6 * mm,
                         bottomMargin=MARGIN, title=frame.title, author="Docket", subject=frame.system,
                         creator="Docket", invariant=1, **kwargs)
        body = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate(id="page", frames=[body])])

    def afterFlowable(self, flowable):
        if isinstance(flowable, Heading):
            key = f"h{id(flowable)}"
            self.canv.bookmarkPage(key)
            self.notify("TOCEntry", (flowable.toc_level, flowable.toc_text, self.page, key))


def build_pdf(story: list, frame: PageFrame, *, with_toc: bool) -> bytes:
    """Renders `story` in the house style and returns the PDF bytes. With `with_toc`, a table of contents
    of the headings follows the first flowables up to the first PageBreak (the cover)."""
    buffer = io.BytesIO()
    document = _DocTemplate(buffer, frame)
    flowables = list(story)
    if with_toc:
        toc = TableOfContents()
        toc.levelStyles = [STYLES["toc1"], STYLES["toc2"]]
        cover_end = next((i for i, f in enumerate(flowables) if isinstance(f, PageBreak)), 0)
        flowables[cover_end:cover_end] = [PageBreak(), para("Contents", "h1"), toc]
        document.multiBuild(flowables, canvasmaker=_numbered_canvas(frame))
    else:
        document.build(flowables, canvasmaker=_numbered_canvas(frame))
    return buffer.getvalue()


def verification_section(verification: dict) -> list:
    """The last page: what the document reflects and how a reader checks it against the audit log."""
    checkpoint = verification["checkpoint"]
    rows = [
        ("Content SHA-256 (canonical JSON of the facts shown)", para(verification["content_sha256"], "mono")),
        ("Audit log (checkpoint origin)", para(checkpoint["origin"], "mono")),
        ("Signed checkpoint: tree size", str(checkpoint["tree_size"])),
        ("Checkpoint root hash (base64)", para(checkpoint["root_hash"], "mono")),
        ("Checkpoint signed by key", para(f"{checkpoint['key_name']} ({checkpoint['key_id']})", "mono")),
        ("Checkpoint signed at", checkpoint["signed_at"]),
        ("Audit entries reflected", f"index {verification['audit_index_first']} to {verification['audit_index_last']}"),
    ]
    steps = [
        "1. Compute the SHA-256 of this PDF file (e.g. <font face='Courier'>sha256sum FILE.pdf</font>).",
        "2. Find the audit entry <font face='Courier'>reports.document.generated</font> whose "
        "<font face='Courier'>data.sha256</font> equals it (audit API: <font face='Courier'>GET /api/v1/audit/entries"
        "?action=reports.document.generated</font>, or the evidence pack that carries this document). The entry "
        "names the checkpoint, the index range and the content SHA-256 printed above.",
        "3. Verify that entry's inclusion proof against a checkpoint signed by Docket's verifier key, with "
        "<font face='Courier'>docket-verify</font> (evidence pack) or the proof from "
        "<font face='Courier'>GET /api/v1/audit/entries/&lt;index&gt;</font>.",
        "4. To check the content itself, regenerate the document from the same checkpoint "
        f"(tree size {checkpoint['tree_size']}): Docket produces the same bytes, so the same SHA-256.",
        "A PDF cannot print its own SHA-256 (printing it would change it); the log entry is where it is kept.",
    ]
    return [
        PageBreak(),
        heading("Verifying this document"),
        para("This document was built only from records in Docket and reflects the audit log up to the signed "
             "checkpoint below. Times in the document are those recorded in the log; the header shows the "
             "checkpoint's signing time, not the time the file was produced.", "body"),
        key_values(rows, label_width=0.38),
        Spacer(1, 4 * mm),
        KeepTogether([para(step, "body", markup=True) for step in steps]),
    ]
