"""CSV files for spreadsheets: what every audit export shares."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

# A cell starting with one of these is run as a formula by Excel, LibreOffice
# and Google Sheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """The cell as text; one a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_text(header: Iterable, rows: Iterable[Iterable]) -> str:
    """A whole (small) CSV file, every cell made spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in (header, *rows):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()
