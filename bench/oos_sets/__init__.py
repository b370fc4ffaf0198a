"""The held-out SQL sets of `bench/judge_oos_sql.py`: one module per set, each a `SqlSet` named `SET` (a database's
schema and rows, and the tasks on it as questions and writes with their reference solutions). Data only; the
machinery that makes a project of a set and scores the judges on it is `judge_oos_sql.py`'s."""

from __future__ import annotations

import importlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMES = ("clinic", "library")
"""The sets, by module name; the first is the one `judge_oos_sql.py` runs by default."""

Question = tuple[str, str, str | bool | None, str, str]
"""(instruction, query, answer, match, difficulty): the agent's last result must equal the query's, or, with an
answer, its final answer may match instead (True: the query's single value; a format such as "%.1f": that value
formatted; `match`: the answer check's match, e.g. "exact" or "number")."""
Write = tuple[str, str, str, list[list[Any]]]
"""(instruction, statement, check query, the rows the check query returns once the statement has run)."""


@dataclass(frozen=True)
class SqlSet:
    """A SQLite database and the tasks on it."""

    name: str
    """The set's name (`--set`) and its database's file name."""
    prefix: str
    """Its task ids: `<prefix>-001`, ..."""
    schema: str
    tables: dict[str, list[tuple[Any, ...]]]
    """Each table's rows, in the order they are inserted."""
    questions: list[Question]
    writes: list[Write]
    tuned_on: str = ""
    """Empty while the set is held out (nobody has read a judge's errors on it); otherwise since when someone has
    tuned a judge on it (its figures are then "tuned on", and its errors are printed)."""

    def build_db(self, path: Path) -> Path:
        """The set's database at `path` (rewritten)."""
        path.unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        try:
            conn.executescript(self.schema)
            for table, rows in self.tables.items():
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            conn.commit()
        finally:
            conn.close()
        return path


def load(name: str) -> SqlSet:
    """The set `name` (one of `NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"unknown set {name!r}; choose from {', '.join(NAMES)}")
    found = importlib.import_module(f".{name}", __name__).SET
    assert isinstance(found, SqlSet)
    return found
