"""SQL environment: an SQLite database the agent queries one statement per step.

* Every episode starts from a pristine copy of the database (SQLite backup API), so the
  source file is never touched and ``reset`` is deterministic.
* Read-only by default (``mode=ro`` URI plus ``PRAGMA query_only``); a task may ask for
  a writable episode with ``start = {"writable": true}``.
* Each statement has a time limit (progress handler); a statement that runs longer is
  interrupted and reported as ``last_action_error``.
* Results are rendered as a text table truncated to ``max_rows`` rows with the count.

Registered as ``sql``; the ``db`` option is required (``lbi init DIR --env sql --option db=FILE``).
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from lbi.envs.actions import Action, ActionParseError, ActionSpec
from lbi.envs.base import COMMON_ACTIONS, BaseEnv, Candidate, EnvCrashed, Evidence, Observation, Task
from lbi.envs.registry import ConformanceContext, EnvOptions, EnvSpec
from lbi.paths import demo_data_dir

FETCH_CAP = 10_000
SQL_KEYWORDS = {
    "SELECT",
    "WITH",
    "INSERT",
    "UPDATE",
    "DELETE",
    "PRAGMA",
    "EXPLAIN",
    "CREATE",
    "DROP",
    "ALTER",
    "REPLACE",
    "VALUES",
}

SQL_ACTIONS: dict[str, ActionSpec] = {
    "execute_sql": ActionSpec(
        "execute_sql",
        (("query", str),),
        "Run one SQL statement (SQLite dialect) and see its result table or error.",
        "execute_sql(\"SELECT id, summary FROM ticket WHERE status = 'new'\")",
    ),
    **COMMON_ACTIONS,
}


@dataclass
class QueryResult:
    """Rows of the last statement (at most FETCH_CAP kept) and their total count."""

    query: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    total: int = 0
    capped: bool = False
    rowcount: int = -1


def statement_kind(query: str) -> str:
    """First keyword of a statement (``SELECT``, ``UPDATE``...), ``?`` if none."""
    body = re.sub(r"(--[^\n]*\n|/\*.*?\*/)", " ", query + "\n", flags=re.S).strip()
    match = re.match(r"[A-Za-z_]\w*", body)
    return match.group(0).upper() if match else "?"


def statement_tables(query: str) -> list[str]:
    """Table names after FROM/JOIN/INTO/UPDATE/TABLE (a heuristic for signatures)."""
    names = re.findall(r"\b(?:from|join|into|update|table)\s+[\"`\[]?([A-Za-z_][\w]*)", query, flags=re.I)
    return sorted({n.lower() for n in names})


def render_table(
    columns: list[str], rows: list[tuple[Any, ...]], total: int, max_rows: int, max_cell: int, capped: bool = False
) -> str:
    def cell(v: Any) -> str:
        s = "NULL" if v is None else (v.hex() if isinstance(v, bytes) else str(v))
        s = s.replace("\n", "\\n")
        return s if len(s) <= max_cell else s[:max_cell] + "…"

    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(cell(v) for v in row) for row in rows[:max_rows]]
    more = "more than " if capped else ""
    if total > max_rows:
        lines.append(f"({more}{total} rows; showing the first {max_rows})")
    else:
        lines.append(f"({total} row{'s' if total != 1 else ''})")
    return "\n".join(lines)


def copy_database(src: Path, dst: Path) -> None:
    """Consistent copy of an SQLite file (works while others have it open)."""
    dst.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def missing_db(db: Path) -> str:
    """Why `db` is not a database file to open: a folder given for the file, or nothing there."""
    if db.expanduser().is_dir():
        return (
            f"{db} is a folder: give the SQLite database file in it (e.g. db={db / 'shop.db'}); "
            "a new empty one is not created for you"
        )
    return f"the SQLite database {db} does not exist"


class SqlEnv(BaseEnv):
    """Query an SQLite database; see the module docstring."""

    name: ClassVar[str] = "sql"
    deterministic_reset: ClassVar[bool] = True
    actions = SQL_ACTIONS
    bare_action = ("execute_sql", ("sql", "sqlite", ""))
    intro = (
        "You are connected to an SQLite database. Run one statement per step with "
        "execute_sql; when you have the answer, call stop(answer)."
    )

    def __init__(
        self,
        db: str | Path,
        *,
        readonly: bool = True,
        time_limit_s: float = 5.0,
        max_rows: int = 50,
        max_cell_chars: int = 200,
        workdir: str | Path | None = None,
        describe_schema: bool = True,
    ) -> None:
        super().__init__()
        self.source = Path(db)
        if not self.source.is_file():
            raise EnvCrashed(missing_db(self.source))
        self.default_readonly = readonly
        self.readonly = readonly
        self.time_limit_s = time_limit_s
        self.max_rows = max_rows
        self.max_cell_chars = max_cell_chars
        self.describe_schema = describe_schema
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if not workdir:
            self._tmp = tempfile.TemporaryDirectory(prefix="lbi-sql-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "episode.db"
        self.pristine_db = self.source
        self.conn: sqlite3.Connection | None = None
        self.last_result: QueryResult | None = None
        self._deadline = 0.0
        self._signature = "sql:start"

    def parse(self, text: str) -> Action:
        """Also accepts a bare SQL statement (``SELECT ...``) as ``execute_sql``."""
        try:
            return super().parse(text)
        except ActionParseError:
            if isinstance(text, str) and statement_kind(text) in SQL_KEYWORDS:
                return Action("execute_sql", (text.strip(),), raw=text)
            raise

    # -- episode ------------------------------------------------------------------------
    def _reset(self, task: Task | None) -> Observation:
        self._disconnect()
        start = task.start if task else {}
        self.readonly = not start.get("writable", not self.default_readonly)
        try:
            copy_database(self.source, self.db_path)
            self.conn = self._connect()
        except sqlite3.Error as err:
            raise EnvCrashed(f"cannot open {self.source}: {err}") from err
        self.last_result = None
        self._signature = "sql:start"
        mode = "read-only" if self.readonly else "writable"
        text = f"Connected to SQLite database {self.source.name} ({mode})."
        if self.describe_schema:
            text += "\n\n" + self.schema_text()
        return self._make_obs(text)

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
        else:
            conn = sqlite3.connect(self.db_path, check_same_thread=False)
        conn.isolation_level = None  # autocommit: each statement is its own transaction
        conn.set_progress_handler(self._progress, 10_000)
        return conn

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def schema_text(self) -> str:
        assert self.conn is not None
        lines = ["Tables:"]
        tables = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        for (table,) in tables:
            cols = self.conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            lines.append(f"  {table}({', '.join(c[1] for c in cols)})")
        return "\n".join(lines)

    # -- actions ----------------------------------------------------------------------
    def _execute(self, action: Action) -> Observation:
        if action.name != "execute_sql":
            return self._error_obs(f"unsupported action {action.name}()")
        query = str(action.args[0]).strip()
        if not query:
            return self._error_obs("execute_sql(): the query is empty")
        result, error = self.run_query(query)
        kind = statement_kind(query)
        tables = statement_tables(query)
        self._signature = f"sql:{kind}:{','.join(tables)}"
        if error:
            obs = self._make_obs(f"Error: {error}")
            obs.last_action_error = error
            return obs
        assert result is not None
        self.last_result = result
        if result.columns:
            text = render_table(
                result.columns, result.rows, result.total, self.max_rows, self.max_cell_chars, result.capped
            )
        else:
            text = f"OK ({max(result.rowcount, 0)} row(s) affected)"
        obs = self._make_obs(text)
        obs.info.update(columns=result.columns, row_count=result.total)
        return obs

    def run_query(self, query: str) -> tuple[QueryResult | None, str | None]:
        """Execute one statement with the time limit; returns (result, error)."""
        if self.conn is None:
            return None, "no database connection (call reset first)"
        self._deadline = time.monotonic() + self.time_limit_s
        try:
            cur = self.conn.execute(query)
            columns = [d[0] for d in cur.description or ()]
            rows = cur.fetchmany(FETCH_CAP + 1) if columns else []
            capped = len(rows) > FETCH_CAP
            rows = rows[:FETCH_CAP]
            return QueryResult(query, columns, [tuple(r) for r in rows], len(rows), capped, cur.rowcount), None
        except sqlite3.OperationalError as err:
            if "interrupted" in str(err):
                return None, (f"statement exceeded the time limit of {self.time_limit_s:g}s and was interrupted")
            if "readonly" in str(err) or "query_only" in str(err):
                return None, f"{err} (this database is read-only)"
            return None, str(err)
        except (sqlite3.Error, sqlite3.Warning) as err:
            return None, str(err)

    def _observe(self) -> Observation:
        text = self.last_obs.text if self.last_obs else ""
        return self._make_obs(text)

    def _make_obs(self, text: str) -> Observation:
        return Observation(
            text=text, state_signature=self._signature, info={"db": str(self.source), "readonly": self.readonly}
        )

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]:
        if self.conn is None:
            return []
        out: list[Candidate] = []
        tables = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for table in tables:
            out.append(Candidate("action", name=table, action=f'execute_sql("SELECT * FROM {table} LIMIT 5")'))
            out.append(Candidate("action", name=table, action=f'execute_sql("SELECT COUNT(*) FROM {table}")'))
            cols = [c[1] for c in self.conn.execute(f'PRAGMA table_info("{table}")')]
            for col in cols[:6]:
                out.append(
                    Candidate(
                        "action",
                        name=f"{table}.{col}",
                        action=(
                            f'execute_sql("SELECT {col}, COUNT(*) AS n FROM {table} '
                            f'GROUP BY {col} ORDER BY n DESC LIMIT 10")'
                        ),
                    )
                )
        return out

    def evidence(self) -> Evidence:
        return Evidence(
            database=self.db_path,
            pristine_database=self.pristine_db,
            last_rows=self.last_result.rows if self.last_result else None,
        )

    def _disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _close(self) -> None:
        self._disconnect()
        if self._tmp is not None:
            self._tmp.cleanup()
        else:
            self.db_path.unlink(missing_ok=True)


class SqlOptions(EnvOptions):
    """Options of the ``sql`` environment."""

    db: Path = Field(description="The SQLite database file; every episode starts from a copy of it.")
    readonly: bool = Field(
        default=True, description="Episodes are read-only unless a task asks for start = {writable = true}."
    )
    time_limit_s: float = Field(default=5.0, description="Time limit of one statement, in seconds.")
    max_rows: int = Field(default=50, description="Rows shown in an observation.")
    max_cell_chars: int = Field(default=200, description="Characters shown of one cell.")
    workdir: Path | None = Field(
        default=None, description="Where the episode's copy lives (default: a temporary directory)."
    )
    describe_schema: bool = Field(default=True, description="List the tables and columns after reset.")

    @field_validator("db")
    @classmethod
    def _exists(cls, db: Path) -> Path:
        if not db.expanduser().is_file():
            raise ValueError(missing_db(db))
        return db.expanduser()


def _make(options: SqlOptions) -> SqlEnv:
    return SqlEnv(**options.kwargs("screenshot_dir"))  # a table has nothing to screenshot


def _demo_schema_docs() -> Path:
    return demo_data_dir() / "sql"


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    db = ctx.tmp_path / "conformance.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO item (name) VALUES (?)", [("pen",), ("ink",)])
    conn.close()
    return {"db": db}


SPEC = EnvSpec(
    name="sql",
    factory=_make,
    options=SqlOptions,
    shipped_options=("db",),
    description="An SQLite database, read-only by default (option db: the database file).",
    default_docs=_demo_schema_docs,  # the schema page of the demo database, which sql projects always got
    conformance=_conformance,
)

__all__ = [
    "SPEC",
    "QueryResult",
    "SqlEnv",
    "SqlOptions",
    "copy_database",
    "render_table",
    "statement_kind",
    "statement_tables",
]
