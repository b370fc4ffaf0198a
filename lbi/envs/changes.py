"""What changed between two readings of an environment's evidence: database rows (`database_rows`,
`rows_changed`), saved spreadsheet cells (`sheet_cells`, `cells_changed`), the functions a diff touches
(`diff_functions`, `enclosing`) and the lines that appeared in an observation (`new_lines`). `lbi.envs.replay`
reads a step's effect with these."""

from __future__ import annotations

import ast
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

IGNORED_TABLES = frozenset({"cache"})
"""Tables whose rows change on their own (Trac bumps its cache generations on every reset): not effects."""
MAX_VALUE = 80
MAX_ROWS = 40
MAX_NEW_LINES = 40


def _short(value: Any) -> str:
    text = "NULL" if value is None else (value.hex() if isinstance(value, bytes) else str(value))
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


Rows = dict[str, tuple[tuple[str, ...], Counter[tuple[str, ...]]]]
"""table → (its columns, the multiset of its rows, each value rendered short)."""


def database_rows(path: Path, ignored: frozenset[str] = IGNORED_TABLES) -> Rows:
    """Every table's columns and rows (values rendered short)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        out: Rows = {}
        for table in tables:
            if table in ignored:
                continue
            cur = conn.execute(f'SELECT * FROM "{table}"')
            columns = tuple(d[0] for d in cur.description or ())
            out[table] = (columns, Counter(tuple(_short(v) for v in row) for row in cur.fetchall()))
        return out
    finally:
        conn.close()


def sheet_cells(path: Path) -> dict[str, str]:
    """The cells of a saved workbook: `'file Sheet!B8' -> '=AVERAGE(B2:B7) = 81.17'` (value, formula and value, and
    ' (bold)'), plus `'file sheets' -> 'Grades, Notes'`."""
    from openpyxl import load_workbook

    try:
        formulas = load_workbook(path, data_only=False)
        values = load_workbook(path, data_only=True)
    except (OSError, ValueError, KeyError) as err:  # a half-written or foreign file: nothing readable
        return {f"{path.name} unreadable": str(err)[:80]}
    out = {f"{path.name} sheets": ", ".join(formulas.sheetnames)}
    for sheet in formulas.worksheets:
        shown = values[sheet.title]
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None and not (cell.font and cell.font.b):
                    continue
                raw = cell.value
                text = _short(raw) if raw is not None else ""
                if isinstance(raw, str) and raw.startswith("="):
                    text += f" = {_short(shown[cell.coordinate].value)}"
                if cell.font and cell.font.b:
                    text += " (bold)"
                out[f"{path.name} {sheet.title}!{cell.coordinate}"] = text
    return out


def rows_changed(before: Rows | None, after: Rows | None) -> list[str]:
    """The rows a step changed: ``+table(col=value, ...)`` added, ``-table(...)`` deleted, and
    ``~table(first_col=key): col: old -> new; ...`` for a row whose first value stayed (an update)."""
    if before is None or after is None:
        return []
    changed: list[str] = []
    for table in sorted(set(before) | set(after)):
        columns, old = before.get(table, ((), Counter()))
        columns, new = after.get(table, (columns, Counter()))
        if old == new:
            continue
        removed, added = sorted((old - new).elements()), sorted((new - old).elements())
        for row in list(added):
            twin = next((r for r in removed if r[:1] == row[:1] and len(r) == len(row)), None)
            if twin is None:
                continue
            removed.remove(twin)
            added.remove(row)
            diffs = [f"{c}: {a} -> {b}" for c, a, b in zip(columns, twin, row, strict=False) if a != b]
            changed.append(f"~{table}({columns[0] if columns else '?'}={row[0] if row else ''}): " + "; ".join(diffs))
        changed += [
            f"-{table}(" + ", ".join(f"{c}={v}" for c, v in zip(columns, r, strict=False)) + ")" for r in removed
        ]
        changed += [f"+{table}(" + ", ".join(f"{c}={v}" for c, v in zip(columns, r, strict=False)) + ")" for r in added]
    return changed[:MAX_ROWS]


def cells_changed(before: dict[str, str] | None, after: dict[str, str] | None) -> list[str]:
    if before is None or after is None:
        return []
    keys = sorted(set(before) | set(after), key=_cell_order)
    return [f"{k}: {before.get(k, '')} -> {after.get(k, '')}" for k in keys if before.get(k) != after.get(k)][:MAX_ROWS]


def _cell_order(key: str) -> tuple[str, int, str]:
    match = re.search(r"!([A-Z]+)(\d+)$", key)
    return (key.split("!")[0], int(match.group(2)), match.group(1)) if match else (key, 0, "")


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)
_DEF = re.compile(r"^(\s*)(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)")


def diff_functions(patch: str, tree: Path | None) -> list[str]:
    """The Python functions (`Class.method`) around each hunk of `patch`, read from the files in `tree`."""
    if not patch or tree is None:
        return []
    names: list[str] = []
    for part in re.split(r"(?m)^diff --git ", patch):
        header = re.search(r"(?m)^\+\+\+ b/(.+)$", part)
        if not header or not header.group(1).strip().endswith(".py"):
            continue
        try:
            lines = (Path(tree) / header.group(1).strip()).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        hunks = list(_HUNK.finditer(part))
        for n, hunk in enumerate(hunks):
            body = part[hunk.end() : hunks[n + 1].start() if n + 1 < len(hunks) else len(part)].splitlines()[1:]
            offset = 0
            for line in body:
                if line.startswith(("+", "-")):
                    break
                offset += 1
            name = enclosing(lines, int(hunk.group(1)) - 1 + offset)
            if name and name not in names:
                names.append(name)
    return names


def enclosing(lines: Sequence[str], index: int) -> str:
    """The dotted name of the `def`/`class` blocks around line `index` (0-based) of a Python file: read from its
    syntax tree, or from indentation when it does not parse."""
    if not lines:
        return ""
    index = min(max(index, 0), len(lines) - 1)
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return _enclosing_by_indent(lines, index)
    names: list[str] = []
    nodes: list[ast.AST] = list(tree.body)
    while nodes:
        inner = [
            n
            for n in nodes
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.lineno - 1 - len(n.decorator_list) <= index <= (n.end_lineno or n.lineno) - 1
        ]
        if not inner:
            break
        names.append(inner[0].name)
        nodes = list(inner[0].body)
    return ".".join(names)


def _enclosing_by_indent(lines: Sequence[str], index: int) -> str:
    own = lines[index]
    limit = len(own) - len(own.lstrip()) if own.strip() else 1 << 30
    parts: list[str] = []
    for k in range(index - 1, -1, -1):
        text = lines[k]
        stripped = text.strip()
        if not stripped or stripped.startswith(("#", ")", "]", "}", "@")):
            continue
        width = len(text) - len(text.lstrip())
        if width >= limit:
            continue
        match = _DEF.match(text)
        if match:
            parts.insert(0, match.group(3))
        limit = width
        if width == 0:
            break
    return ".".join(parts)


def new_lines(before: str, after: str) -> list[str]:
    """Lines (stripped) of `after` that `before` does not have, in order, at most MAX_NEW_LINES."""
    old = {line.strip() for line in before.splitlines()}
    out: list[str] = []
    for line in after.splitlines():
        text = line.strip()
        if text and text not in old and text not in out:
            out.append(text)
            if len(out) >= MAX_NEW_LINES:
                break
    return out
