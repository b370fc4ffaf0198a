"""Writes the desktop demo's spreadsheets (data/demo/desktop/documents/*.xlsx) with openpyxl.

Run it again after changing it: ``.venv/bin/python data/demo/desktop/make_documents.py``. The tasks in
``data/demo/tasks/desktop.jsonl`` open these files; their checks read what LibreOffice saved."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent / "documents"


def grades() -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "Grades"
    rows = [
        ("Name", "Math", "Science", "English"),
        ("Alice", 91, 84, 78),
        ("Bob", 72, 65, 88),
        ("Chen", 85, 93, 90),
        ("Dana", 64, 70, 59),
        ("Eve", 98, 88, 95),
        ("Farid", 77, 81, 73),
    ]
    for row in rows:
        ws.append(row)
    return wb


def sales() -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "Sales"
    rows = [
        ("Region", "Q1", "Q2", "Q3", "Q4"),
        ("North", 1200, 1350, 1100, 1500),
        ("South", 900, 950, 1020, 980),
        ("East", 1500, 1420, 1610, 1700),
        ("West", 800, 870, 760, 910),
        ("Central", 1100, 1050, 1190, 1230),
    ]
    for row in rows:
        ws.append(row)
    notes = wb.create_sheet("Notes")
    notes["A1"] = "Figures in USD"
    return wb


def inventory() -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "Stock"
    rows = [
        ("Item", "Qty", "Price"),
        ("Stapler", 12, 7.5),
        ("Pens", 140, 0.8),
        ("Binder", 35, 3.2),
        ("Tape", 60, 1.9),
        ("Eraser", 80, 0.5),
        ("Marker", 48, 1.2),
        ("Folder", 200, 0.4),
        ("Scissors", 15, 4.8),
    ]
    for row in rows:
        ws.append(row)
    return wb


def blank() -> Workbook:
    wb = Workbook()
    wb.active.title = "Sheet1"
    return wb


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, build in (("grades", grades), ("sales", sales), ("inventory", inventory), ("blank", blank)):
        build().save(HERE / f"{name}.xlsx")


if __name__ == "__main__":
    main()
