"""The ``sheet`` check: what a spreadsheet saved by the desktop environment holds (read with openpyxl).

``{"kind": "sheet", "params": {"file": "grades.xlsx", ...}}`` reads ``file`` in the episode's working directory
(``Evidence.workdir``) and requires every given part to hold:

* ``sheets``: the sheet names, in order; ``has_sheets``: names that must be among them;
* ``cells``: ``{"B2": 91, "Notes!A1": "text", "E2": {"formula": "=SUM(B2:D2)", "value": 253, "bold": true}}`` —
  a bare value is compared with the cell's value (numbers within 1e-6, text stripped, case kept); ``formula`` is
  compared without spaces and case; ``value`` is what LibreOffice computed and stored when it saved;
* ``ranges``: ``{"A2:A7": ["Eve", "Alice", ...]}``, the values of a range in row order;
* ``sheet``: the sheet of references without ``Sheet!`` (default: the first).

:mod:`lbi.envs.checks` registers it by name, so task files name it without loading the desktop family.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbi.envs.checks import CheckResult


def _same(got: Any, want: Any) -> bool:
    if want is None:
        return got is None or got == ""
    if isinstance(want, bool) or isinstance(got, bool):
        return got == want
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(float(got) - float(want)) < 1e-6
    if isinstance(want, int | float) and isinstance(got, str):
        try:
            return abs(float(got.strip()) - float(want)) < 1e-6
        except ValueError:
            return False
    return str(got if got is not None else "").strip() == str(want).strip()


def _formula(text: Any) -> str:
    return "".join(str(text or "").split()).upper()


def check_sheet(task: Any, ev: Any, obs: Any, p: dict[str, Any]) -> CheckResult:
    from openpyxl import load_workbook

    if ev.workdir is None:
        return CheckResult(success=False, error="this environment has no working directory with documents")
    path = (Path(ev.workdir) / p["file"]).resolve()
    if not path.is_relative_to(Path(ev.workdir).resolve()):
        return CheckResult(success=False, error=f"{p['file']!r} is outside the working directory")
    if not path.is_file():
        return CheckResult(success=False, detail=f"{p['file']} was not saved")
    formulas = load_workbook(path, data_only=False)
    values = load_workbook(path, data_only=True)
    names = formulas.sheetnames
    problems: list[str] = []
    if "sheets" in p and names != list(p["sheets"]):
        problems.append(f"sheets are {names}, expected {p['sheets']}")
    missing = [s for s in p.get("has_sheets", []) if s not in names]
    if missing:
        problems.append(f"no sheet {missing} (sheets: {names})")
    default = p.get("sheet") or names[0]

    def where(ref: str) -> tuple[str, str]:
        sheet, _, cell = ref.rpartition("!")
        return (sheet or default).strip("'"), cell

    for ref, want in (p.get("cells") or {}).items():
        sheet, cell = where(ref)
        if sheet not in names:
            problems.append(f"{ref}: no sheet {sheet!r}")
            continue
        f_cell, v_cell = formulas[sheet][cell], values[sheet][cell]
        spec = want if isinstance(want, dict) else {"value": want}
        raw = f_cell.value
        if "formula" in spec and _formula(raw) != _formula(spec["formula"]):
            problems.append(f"{ref} holds {raw!r}, expected the formula {spec['formula']!r}")
        if "value" in spec:
            got = v_cell.value if isinstance(raw, str) and raw.startswith("=") else raw
            if not _same(got, spec["value"]):
                problems.append(f"{ref} is {got!r}, expected {spec['value']!r}")
        if "bold" in spec and bool(f_cell.font and f_cell.font.b) != bool(spec["bold"]):
            problems.append(f"{ref} bold is {bool(f_cell.font and f_cell.font.b)}, expected {spec['bold']}")
    for ref, want in (p.get("ranges") or {}).items():
        sheet, cells = where(ref)
        if sheet not in names:
            problems.append(f"{ref}: no sheet {sheet!r}")
            continue
        got = [c.value for row in values[sheet][cells] for c in row]
        if len(got) != len(want) or not all(_same(g, w) for g, w in zip(got, want, strict=False)):
            problems.append(f"{ref} is {got}, expected {list(want)}")
    if problems:
        return CheckResult(success=False, detail="; ".join(problems))
    return CheckResult(success=True, detail=f"{p['file']} matches")
