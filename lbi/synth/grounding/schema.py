"""What a SQL span saw of its database and what its statements say about it: the database's name, the tables and
columns a page lists, the tables a query reads, the columns an INSERT fills, the rows a result shows.

These read any SQLite database as lbi's SQL environment shows it (`Connected to SQLite database shop.db` and a
`Tables:` list of `name(column, ...)` lines), not one database's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lbi.synth.effects import forms, singular, stem

MEDIUM_FILE = re.compile(r"(?<![\w.])([A-Za-z][\w-]*)\.(?:db|sqlite3?|xlsx?|ods|csv)\b")
"""A data file a page names (`library.db`, `grades.xlsx`): the medium the span works in."""
TABLE_LINE = re.compile(r"^\s*([A-Za-z_]\w*)\(([\w\s,]*)\)\s*$", re.M)
"""A table as a schema listing shows it: `loans(loan_id, book_id, member_id)`."""
READ_TABLES = re.compile(r"\b(?:FROM|JOIN)\s+[\"'`]?([A-Za-z_]\w*)", re.I)
INSERT = re.compile(
    r"^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+[\"'`]?\w+[\"'`]?\s*\(([^)]*)\)\s*VALUES\s*(.*)$", re.I | re.S
)
NAME_LIKE = re.compile(r"(?:^|_)(?:\w*name|title|label)$", re.I)
"""A column holding what a row is called (`name`, `full_name`, `username`, `title`)."""
PERSON_ROLES = frozenset(
    """author owner reporter assignee user member customer employee person creator editor sender recipient
    contact manager staff student teacher patient doctor driver pilot player artist singer writer""".split()
)
"""Columns that hold a person by their role: what a "who" question is answered with, besides a name."""


def medium_words(pages: str) -> set[str]:
    """The forms of the data files the pages name (`library.db` → library): an instruction's "the library" is
    the database the span worked in. A word that names a table too (`books.db` with a `books` table) is the
    table's."""
    named = {f for match in MEDIUM_FILE.finditer(pages) for f in forms(match.group(1))}
    return named - {f for table in tables(pages) for f in forms(table)}


def tables(pages: str) -> dict[str, list[str]]:
    """Table → columns, as a schema listing on the pages shows them."""
    return {m.group(1): [c.strip() for c in m.group(2).split(",") if c.strip()] for m in TABLE_LINE.finditer(pages)}


def read_tables(statements: Iterable[str]) -> set[str]:
    return {name.lower() for sql in statements for name in READ_TABLES.findall(sql)}


def abbreviates(short: str, word: str) -> bool:
    """A column's short form of a word (`dept` department, `emp` employee, `amt` amount): its first two letters,
    then the rest of its letters in order, at least two letters shorter."""
    if not 3 <= len(short) <= len(word) - 2 or short[:2] != word[:2]:
        return False
    rest = iter(word[2:])
    return all(ch in rest for ch in short[2:])


def _key(column: str) -> str | None:
    """What a key column is named for (its singular stem): `book_id` → book, `deptId` → dept; `paid` is no key."""
    key = re.fullmatch(r"(\w+?)_(?i:id)|([A-Za-z]+?)Id", column)
    return stem(singular((key.group(1) or key.group(2)).lower())) if key else None


def short_key(column: str, words: set[str]) -> bool:
    """A key column whose name is a short form of one of `words` (`dept_id` for department)."""
    key = _key(column)
    return key is not None and any(abbreviates(key, w) for w in words)


def _key_table(column: str, names: set[str]) -> str | None:
    """The table (its singular stem) a key column points to: `book_id` → book, `dept_id` → department."""
    key = _key(column)
    return next((n for n in sorted(names) if n == key or abbreviates(key, n)), None) if key else None


def tables_referred(statements: Iterable[str], pages: str) -> set[str]:
    """The forms of the tables that the tables the statements read refer to by a key (`loans(book_id, ...)` →
    book): "members who never borrowed a book", read from loans alone, names what the loans hold. A plain
    column the query left alone (`due_on` for "returned after their due date") is not among them."""
    listed = tables(pages)
    names = {stem(singular(t.lower())) for t in listed}
    read = read_tables(statements)
    return {
        table
        for name, cols in listed.items()
        if name.lower() in read
        for column in cols
        if (table := _key_table(column, names))
    }


def inserted(statement: str) -> list[tuple[str, str]]:
    """(column, value) of each quoted value an INSERT with a column list gives."""
    match = INSERT.match(statement)
    if not match:
        return []
    columns = [c.strip().strip("\"'`[]") for c in match.group(1).split(",")]
    out: list[tuple[str, str]] = []
    for group in re.findall(r"\(((?:[^()']|'(?:[^']|'')*')*)\)", match.group(2)):
        values = re.findall(r"\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)", group)
        for column, value in zip(columns, values, strict=False):
            if value.startswith("'"):
                out.append((column, value[1:-1].replace("''", "'")))
    return out


def named(column: str, said: set[str]) -> bool:
    """Whether an instruction's word forms name a column (`email` for `email`, "named" for `name`)."""
    return any(f in said or (f.endswith("e") and f[:-1] in said) for f in forms(column))


def unnamed_inserts(statements: Iterable[str], said: set[str]) -> set[str]:
    """The values an INSERT puts in columns the instruction does not name (a new row's join date, a default
    the agent spelled out): values the agent chose to fill the row, not values it was asked for."""
    return {value for sql in statements for column, value in inserted(sql) if not named(column, said)}


def person_column(column: str) -> bool:
    """A column a "who" question is answered with: a name (`full_name`) or a person's role (`author`)."""
    return bool(NAME_LIKE.search(column)) or stem(column.lower()) in {stem(r) for r in PERSON_ROLES}


def result_values(page: str) -> list[str]:
    """The value lines of a SQL result page: its header, rule and row count left out."""
    lines = [line.strip() for line in (page or "").splitlines() if line.strip()]
    return [line for line in lines[1:] if not re.fullmatch(r"-+(?:\s*\|\s*-+)*|\(\d+ rows?\)", line)]


def names_rows(table: str, pages: str) -> bool:
    """Whether the schema gives `table` (matched by its singular) a column holding what a row is called."""
    want = stem(table.lower())
    return any(stem(t.lower()) == want and any(NAME_LIKE.search(c) for c in cols) for t, cols in tables(pages).items())
