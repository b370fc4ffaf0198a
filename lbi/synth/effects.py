"""What a span did, read for judging: what it acted on, what it changed, what it answered, what it saw.

`read_effects(steps, after)` reads a span's steps (dicts with ``action``, ``observation``, ``url``, ``error`` and,
when the span was replayed, ``effect``: a `lbi.envs.replay.StepEffect` as a dict) and the state that followed its
last step (``after``: observation, url, answer). A replayed span's changes are the real ones (database rows,
saved cells, the diff and the functions around its hunks); a span read only from its record gets the changes its
actions show (a write statement, a form sent, a saved document, a command that edits files).

Names are compared as a person would: `forms` lower-cases, splits CamelCase and snake_case, drops quotes and
possessives, reads "e-mail" as "email" and plurals as their singular ("names" = "name", "entries" = "entry").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbi.envs.actions import BID_ACTIONS
from lbi.observations import BID_ACTION, element_line

_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")
_WORD = re.compile(r"[a-z0-9]+")
_CELL = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,6})$")
_CELL_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9_])\$?([A-Z]{1,3})\$?(\d{1,6})(?::\$?([A-Z]{1,3})\$?(\d{1,6}))?"
    r"(?![A-Za-z0-9_])"
)
_CELL_LINE = re.compile(r'^\[([A-Z]{1,3}\d{1,6})\] cell "((?:[^"\\]|\\.)*)"')
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?![\w]|\.\d)")
WRITE_SQL = {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"}
READ_SQL = {"SELECT", "WITH", "PRAGMA", "EXPLAIN", "VALUES"}
_EDITS = re.compile(
    r"\bgit\s+(?:apply|am|checkout\s+--|mv|rm)\b|\bsed\s+-i|\bperl\s+-[a-z]*i|\bpatch\b|"
    r"(?<![<>2&])>{1,2}\s*[\w./-]|\btee\b|\b(?:mv|rm|cp|touch|mkdir)\s|write_text|\.write\("
)
_SAVE_KEYS = re.compile(r"ctrl\+(?:shift\+)?s\b", re.I)
_SUBMIT = re.compile(r"^(?:button|push button)\b|type=\"?submit", re.I)
GENERIC_ANSWERS = frozenset({"", "done", "ok", "okay", "yes", "finished", "complete", "completed", "success"})


def forms(text: str) -> list[str]:
    """The words of `text` as a person compares names: lower case, CamelCase and snake_case split, quotes and
    possessives dropped, 'e-mail' as 'email', plurals as singular."""
    text = re.sub(r"(?i)\be-mail", "email", text or "")
    text = re.sub(r"(?<=\w)'s\b", "", text)
    text = re.sub(r"\b([A-Z]{2,})s\b", r"\1S", text)  # IDs, URLs: an acronym's plural
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [stem(w) for w in _WORD.findall(text.lower())]


def stem(word: str) -> str:
    """A light stem: the singular without -ing, -ed, -er or a final -e (`owned`, `owner`, `owns` → `own`; `closed`,
    `close` → `clos`), so a word matches its forms; numbers and short words are kept."""
    word = singular(word)
    if word.isdigit() or len(word) <= 4:
        return word
    for suffix in ("ing", "ed", "er", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def singular(word: str) -> str:
    """`names` → `name`, `entries` → `entry`, `boxes` → `box`, `status` and `class` kept."""
    if len(word) == 3 and word.endswith("s") and word[1] not in "aeiouys" and not word[0].isdigit():
        return word[:2]  # ids → id
    if len(word) <= 3 or word.isdigit() or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def numbers(text: str) -> list[str]:
    """The numbers written in `text` (`7`, `1.1`, `3.4.5`), as written."""
    return _NUMBER.findall(text or "")


def quoted(text: str) -> list[str]:
    """The strings quoted in `text`, 'like this' or "like this" (an apostrophe inside a word is not a quote)."""
    out = []
    for match in re.finditer(r"""(?<![\w])'([^']+?)'(?![\w])|"([^"]+?)\"""", text or ""):
        value = match.group(1) or match.group(2)
        if value.strip():
            out.append(value.strip())
    return out


def action_args(action: str) -> list[str]:
    """The literal string arguments of an action call."""
    return [
        (a or b).encode().decode("unicode_escape", errors="replace") if "\\" in (a or b) else (a or b)
        for a, b in _QUOTED.findall(action or "")
    ]


def _cells_of(text: str) -> list[str]:
    """Cell addresses written in `text`, ranges expanded (`B2:B4` → B2, B3, B4; at most 200)."""
    out: list[str] = []
    for col, row, col2, row2 in _CELL_IN_TEXT.findall(text or ""):
        if not col2:
            out.append(f"{col}{row}")
            continue
        c1, c2 = sorted((_col_number(col), _col_number(col2)))
        r1, r2 = sorted((int(row), int(row2)))
        for c in range(c1, c2 + 1):
            for r in range(r1, r2 + 1):
                if len(out) < 200:
                    out.append(f"{_col_name(c)}{r}")
    return out


def _col_number(col: str) -> int:
    n = 0
    for ch in col:
        n = n * 26 + ord(ch) - 64
    return n


def _col_name(n: int) -> str:
    name = ""
    while n:
        n, rem = divmod(n - 1, 26)
        name = chr(65 + rem) + name
    return name


def _meaningful_id(bid: str) -> bool:
    """An element id that is a name (`field-summary`, `B8`), not a number or a hash (`12`, `3k2q1`)."""
    return (
        bool(_CELL.match(bid))
        or (bool(re.search(r"[a-zA-Z]{3}", bid)) and not re.search(r"\d", bid))
        or bool(re.search(r"[-_]", bid))
    )


@dataclass
class SpanEffects:
    """What a span did: see the module docstring."""

    acted: list[str] = field(default_factory=list)
    """Texts acted on: the element lines of clicked/filled elements, typed values, chosen options, URLs opened,
    statements and commands run."""
    urls: list[str] = field(default_factory=list)
    answer: str | None = None
    writes: list[str] = field(default_factory=list)
    """The changes made: rows, saved cells, the diff (replayed), or the writing actions the record shows."""
    functions: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    """Lines the span made appear (new on the page after a step) and the end page's lines."""
    read: str = ""
    """Every page the span saw, its end state included."""
    cells: dict[str, str] = field(default_factory=dict)
    """Spreadsheet cells touched (clicked, typed into, named in a formula, changed) and what they show."""
    labels: list[str] = field(default_factory=list)
    """The column headers and row labels of the touched cells."""
    headings: list[str] = field(default_factory=list)
    """The headings of the pages the span reached (after each step, and the end page)."""
    chosen: list[tuple[str, str]] = field(default_factory=list)
    """Values the span chose itself — values a query compares with, options selected, text filled in or typed
    (not formulas) — each with the page it was chosen on (before the step acted)."""
    selected: list[str] = field(default_factory=list)
    """The columns the span's last read query returns (aliases and functions set aside: `t.owner` → owner)."""
    tests: tuple[list[str], list[str], list[str]] | None = None
    """(fixed, broken, unfixed): the tests the span's last code change made pass, made fail and left failing,
    against the start state, when the replay ran them."""
    replayed: bool = False
    query_result: bool = False
    """The span ended with a read-only query that returned rows (the result is its answer)."""
    empty_result: bool = False
    """The span ended with a read-only query that ran and returned no rows (an answer to "which ...?": none)."""
    errors: int = 0

    def acted_forms(self) -> set[str]:
        return set(forms(" ".join(self.acted + self.urls + list(self.cells) + self.labels + self.functions)))

    def changed_forms(self) -> set[str]:
        return set(forms(" ".join(self.writes + [self.answer or ""])))

    def shown_forms(self) -> set[str]:
        return set(forms(" ".join(self.shown)))

    def read_forms(self) -> set[str]:
        return set(forms(self.read))


def _target(step: dict[str, Any], bid: str) -> str:
    line = element_line(step.get("observation") or "", bid) or ""
    return line


def _grid(observations: Iterable[str]) -> dict[str, str]:
    """Cell address → shown text, from every desktop observation (`[B5] cell "42"` lines)."""
    grid: dict[str, str] = {}
    for obs in observations:
        for line in (obs or "").splitlines():
            match = _CELL_LINE.match(line.strip())
            if match:
                grid[match.group(1)] = match.group(2)
    return grid


def _typed_cells(start: str, text: str) -> list[str]:
    """The cells a text typed from cell `start` lands in (Enter moves down to the row's first column, Tab right)."""
    match = _CELL.match(start)
    if not match:
        return []
    col0, row = _col_number(match.group(1)), int(match.group(2))
    col = col0
    out = [f"{_col_name(col)}{row}"]
    for ch in text:
        if ch == "\n":
            row, col = row + 1, col0
        elif ch == "\t":
            col += 1
        else:
            continue
        cell = f"{_col_name(col)}{row}"
        if cell not in out:
            out.append(cell)
    return out[:-1] if text.endswith(("\n", "\t")) and len(out) > 1 else out


def _sql_kind(query: str) -> str:
    body = re.sub(r"(--[^\n]*\n|/\*.*?\*/)", " ", query + "\n", flags=re.S).strip()
    match = re.match(r"[A-Za-z_]\w*", body)
    return match.group(0).upper() if match else "?"


_SQL_WORDS = frozenset(
    """select distinct all as case when then else end and or not null is in like between
cast integer real text over partition by order asc desc from where group having limit""".split()
)


def selected_columns(query: str) -> list[str]:
    """The columns a SELECT returns: the names in its select list that are not functions, keywords or aliases."""
    match = re.search(r"^\s*SELECT\s+(.*?)\s+FROM\b", query, re.I | re.S)
    if not match:
        return []
    body = re.sub(r"'[^']*'", "''", match.group(1))
    out: list[str] = []
    for item in _split_top(body):
        item = re.sub(r"\s+AS\s+\w+\s*$", "", item.strip(), flags=re.I)
        for name in re.findall(r"(?<![\w.'])(?:\w+\.)?([A-Za-z_]\w*)\b(?!\s*(?:\(|=|!=|<>|<|>))", item):
            if name.lower() not in _SQL_WORDS and name not in out:
                out.append(name)
    return out


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _effect(step: dict[str, Any]) -> dict[str, Any] | None:
    eff = step.get("effect")
    if eff is None:
        return None
    return eff if isinstance(eff, dict) else eff.model_dump()


def _written(change: str) -> str:
    """What a change wrote, without what it replaced: an updated row's new values (`~ticket(id=9): priority: minor
    -> major` → `ticket id=9 priority major`), a cell's new content (`f Grades!E1:  -> Total` → `f Grades!E1 Total`)."""
    if change.startswith("~"):
        head, _, body = change.partition("): ")
        parts = []
        for part in body.split("; "):
            column, _, values = part.partition(": ")
            parts.append(f"{column} {values.split(' -> ')[-1]}")
        return head[1:].replace("(", " ") + " " + " ".join(parts)
    if " -> " in change and not change.startswith(("+", "-")):
        key, _, values = change.partition(": ")
        return f"{key} {values.split(' -> ')[-1]}"
    return change


def read_effects(steps: Sequence[dict[str, Any]], after: dict[str, Any] | None = None) -> SpanEffects:
    """The effects of a span (see the module docstring)."""
    out = SpanEffects()
    after = after or {}
    observations = [s.get("observation") or "" for s in steps]
    end_page = after.get("observation") or ""
    answering = next(
        (
            k
            for k, s in enumerate(steps)
            if (s.get("action") or "").lstrip().startswith(("stop(", "send_msg_to_user(")) and not s.get("error")
        ),
        None,
    )
    answered_on = [observations[answering]] if answering is not None else []
    out.read = "\n".join(dict.fromkeys([*answered_on, end_page]))  # the page answered on is often the end page
    grid = _grid([*observations, end_page])
    touched: list[str] = []
    cursor: str | None = None
    typed: list[str] = []
    pending_write = False
    for k, step in enumerate(steps):
        action = (step.get("action") or "").strip()
        next_obs = observations[k + 1] if k + 1 < len(steps) else end_page
        eff = _effect(step)
        if step.get("error"):
            out.errors += 1
            continue
        name = action.split("(", 1)[0].strip()
        args = action_args(action)
        match = BID_ACTION.match(action)
        if name in ("stop", "send_msg_to_user"):
            out.answer = args[0] if args else ""
            continue
        if match and match.group(1) in BID_ACTIONS and args and args[0] == match.group(2):
            bid = match.group(2)
            line = _target(step, bid)
            out.acted.append(line)
            if _meaningful_id(bid):
                out.acted.append(bid)
            out.acted += args[1:]
            for cell_id in [a for a in args if _CELL.match(a)]:
                touched.append(cell_id)
                cursor = cell_id
            if name in ("fill", "select_option"):
                typed += args[1:]
                out.chosen += [(a, step.get("observation") or "") for a in args[1:]]
                pending_write = True
            elif name in ("click", "press") and pending_write and (_SUBMIT.search(line) or name == "press"):
                out.writes += typed + [line]
                typed, pending_write = [], False
        elif name == "type" and args:
            out.acted.append(args[0])
            out.chosen += [
                (part, step.get("observation") or "")
                for part in re.split(r"[\n\t]+", args[0])
                if part and not part.startswith("=")
            ]
            typed.append(args[0])
            if cursor:
                touched += _typed_cells(cursor, args[0])
            touched += _cells_of(args[0])
        elif name == "hotkey" and args:
            if _SAVE_KEYS.search(args[0]) and typed:
                out.writes += typed
                typed = []
            elif re.search(r"ctrl\+[bi]\b", args[0]):
                typed.append(args[0])
        elif name == "execute_sql" and args:
            out.acted.append(args[0])
            out.chosen += [
                (v, step.get("observation") or "")
                for v in re.findall(r"(?:=|!=|<>|\bIN\s*\(|,|\bLIKE)\s*'([^']*\w[^']*)'", args[0], re.I)
            ]
            kind = _sql_kind(args[0])
            if kind in WRITE_SQL:
                out.writes.append(args[0])
            if kind in ("SELECT", "WITH"):
                out.selected = selected_columns(args[0])
            empty = re.search(r"^\(0 rows\)", next_obs.strip().splitlines()[-1] if next_obs.strip() else "(0 rows)")
            out.query_result = kind in READ_SQL and not empty
            out.empty_result = kind in READ_SQL and bool(empty) and bool(next_obs.strip())
        elif name in ("goto",) and args:
            out.acted.append(args[0])
        elif name == "bash" and args:
            out.acted.append(args[0])
            if _EDITS.search(args[0]):
                out.writes.append(args[0])
        else:
            out.acted += args
        if name != "execute_sql":
            out.query_result = out.empty_result = False
        if eff is not None:
            out.replayed = True
            if eff.get("url"):
                out.urls.append(eff["url"])
            out.shown += eff.get("new_lines") or []
            out.functions += eff.get("functions") or []
            if eff.get("fixed") is not None or eff.get("broken") is not None:
                out.tests = (
                    list(eff.get("fixed") or []),
                    list(eff.get("broken") or []),
                    list(eff.get("unfixed") or []),
                )
            touched += [key.split("!")[-1].split(":")[0] for key in eff.get("cells") or [] if "!" in key]
        else:
            if step.get("url") != (steps[k + 1].get("url") if k + 1 < len(steps) else after.get("url")):
                url = steps[k + 1].get("url") if k + 1 < len(steps) else after.get("url")
                if url:
                    out.urls.append(url)
            old = {line.strip() for line in (step.get("observation") or "").splitlines()}
            out.shown += [line.strip() for line in next_obs.splitlines() if line.strip() and line.strip() not in old]
    if out.replayed:
        out.writes = []  # a replayed span's changes are the real ones, not the record's guesses
        for step in steps:
            eff = _effect(step) or {}
            if step.get("error"):
                continue
            out.writes += [_written(row) for row in eff.get("rows") or []]
            out.writes += [_written(cell) for cell in eff.get("cells") or []]
            diff = eff.get("diff") or ""
            out.writes += [
                line[1:] for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
            ]
    for page in [*observations[1:], end_page]:
        for line in page.splitlines():
            heading = re.match(r'^\s*(?:\[[^\]]+\]\s*)?heading "((?:[^"\\]|\\.)*)"', line)
            if heading and heading.group(1) not in out.headings:
                out.headings.append(heading.group(1))
    seen: set[str] = set()
    for cell in touched:
        if cell in seen:
            continue
        seen.add(cell)
        out.cells[cell] = grid.get(cell, "")
        match = _CELL.match(cell)
        if match:
            col, row = match.group(1), match.group(2)
            for label in (grid.get(f"{col}1"), grid.get(f"A{row}")):
                if label and label not in out.labels:
                    out.labels.append(label)
    return out
