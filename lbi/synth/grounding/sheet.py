"""What a span did in a spreadsheet, read for judging: the cells it changed against the cells the instruction
names, a formula that left an error, the labels a cell is read by, a header that looks like an address."""

from __future__ import annotations

import re

from lbi.synth.effects import SpanEffects, forms
from lbi.synth.grounding.vocabulary import CELL_REF

ERROR_VALUE = re.compile(r"(?:^|[\s=])(#(?:NAME\?|VALUE!|REF!|DIV/0!|N/A|NUM!|NULL!)|Err:\d+)")
"""What a cell shows when its formula failed (LibreOffice and Excel)."""
_RANGE = re.compile(
    r"(?<![A-Za-z0-9_])([A-Z]{1,3})([1-9]\d{0,5})\s*(?::|\bto\b|\bthrough\b)\s*([A-Z]{1,3})([1-9]\d{0,5})(?![A-Za-z0-9_])"
)
_CELL_LINE = re.compile(r'^\s*\[([A-Z]{1,3})(\d{1,6})\] cell "((?:[^"\\]|\\.)*)"')


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def failed_cell(eff: SpanEffects) -> str | None:
    """A cell the span's change left showing an error (`B7 = #NAME?`), as written in the change, or None."""
    for change in eff.writes:
        if ERROR_VALUE.search(change.split("->")[-1]):
            return change[:60]
    return None


def _named_cells(instruction: str) -> tuple[set[tuple[int, int]], list[tuple[int, int, int, int]]]:
    """The single cells and the ranges ("A1 to C1", "B2:B6") an instruction names, as (column, row)."""
    ranges = [
        (min(_col(a), _col(c)), min(int(b), int(d)), max(_col(a), _col(c)), max(int(b), int(d)))
        for a, b, c, d in _RANGE.findall(instruction)
    ]
    cells = set()
    for ref in CELL_REF.findall(_RANGE.sub(" ", instruction)):
        match = re.fullmatch(r"([A-Z]{1,3})(\d+)", ref)
        if match:
            cells.add((_col(match.group(1)), int(match.group(2))))
    return cells, ranges


def cell_outside(instruction: str, eff: SpanEffects) -> str | None:
    """When the instruction names a range of cells, a cell the span changed that is neither in a range it names
    nor a cell it names ("make A1 to C1 bold" on a span that bolded A1:C2 → `A2`), or None."""
    cells, ranges = _named_cells(instruction)
    if not ranges or not eff.replayed:
        return None
    for change in eff.writes:
        match = re.match(r"^\S+\s+[^!\s]+!([A-Z]{1,3})(\d+)\b", change) or re.match(r"^([A-Z]{1,3})(\d+)\b", change)
        if not match:
            continue
        col, row = _col(match.group(1)), int(match.group(2))
        if (col, row) in cells or any(c1 <= col <= c2 and r1 <= row <= r2 for c1, r1, c2, r2 in ranges):
            continue
        return f"{match.group(1)}{row}"
    return None


def headers(page: str) -> set[str]:
    """The texts of a sheet's cells as shown (`[A1] cell "Q4"` → Q4)."""
    return {m.group(3) for line in page.splitlines() if (m := _CELL_LINE.match(line))}


def cell_labels(answer: str, page: str) -> set[str]:
    """The forms of the labels of the cells showing `answer`: its column's header (row 1) and its row's label
    (column A). Empty when no cell shows it."""
    grid: dict[tuple[str, int], str] = {}
    for line in page.splitlines():
        match = _CELL_LINE.match(line)
        if match:
            grid[(match.group(1), int(match.group(2)))] = match.group(3)
    out: set[str] = set()
    for (col, row), text in grid.items():
        if text.strip() == answer.strip():
            out |= set(forms(f"{grid.get((col, 1), '')} {grid.get(('A', row), '')}"))
    return out
