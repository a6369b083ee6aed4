"""Reading an uploaded CSV into a source's records, or refusing the file
with a message a security admin can act on. Cells are text and stay text:
nothing is evaluated, so a cell that looks like a spreadsheet formula
(``=HYPERLINK(...)``) is stored as the characters it holds."""

from __future__ import annotations

import csv
import io

from .mapping import Mapping, required_attributes

DELIMITERS = ",;\t"


class CsvRefused(ValueError):
    """The file cannot be read as the source's records; nothing was changed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def read_csv(data: bytes, mapping: Mapping, max_bytes: int) -> tuple[list[dict], list[int]]:
    """The file's records (one dict per row, keyed by the header) and each
    one's line number in the file."""
    if len(data) > max_bytes:
        raise CsvRefused(f"The file is {len(data) // 1024} KB; the largest accepted is "
                         f"{max_bytes // 1024} KB. Split it, or use an LDAP or SCIM source.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as wrong:
        line = data[:wrong.start].count(b"\n") + 1
        raise CsvRefused(f"The file is not UTF-8 text (line {line}). Save it as “CSV UTF-8” "
                         "and upload it again.") from wrong
    if "\x00" in text:
        raise CsvRefused("The file holds NUL characters: it is not a CSV text file.")
    if not text.strip():
        raise CsvRefused("The file is empty.")
    first = text.splitlines()[0]
    delimiter = max(DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        return _rows(reader, header, mapping)
    except csv.Error as broken:
        raise CsvRefused(f"Line {reader.line_num}: the file is not valid CSV ({broken}).") \
            from broken


def _rows(reader, header: list[str], mapping: Mapping) -> tuple[list[dict], list[int]]:
    duplicated = sorted({name for name in header if header.count(name) > 1 and name})
    if duplicated:
        raise CsvRefused(f"The header names these columns twice: {', '.join(duplicated)}.")
    missing = [name for name in required_attributes(mapping) if name not in header]
    if missing:
        raise CsvRefused(
            f"Missing columns: {', '.join(missing)}. The source's mapping reads them: add "
            "them (empty cells are fine) or change the mapping. The header has: "
            f"{', '.join(h for h in header if h) or 'nothing'}.")
    records, lines = [], []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != len(header):
            raise CsvRefused(f"Line {reader.line_num} has {len(cells)} cells; the header has "
                             f"{len(header)}.")
        records.append({name: cell for name, cell in zip(header, cells, strict=True) if name})
        lines.append(reader.line_num)
    if not records:
        raise CsvRefused("The file has a header but no people.")
    return records, lines
