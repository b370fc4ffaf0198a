"""The SQLite store: every record lbi makes, one database per project, and the only writer.

WAL mode lets the workbench read while a background run writes. Each thread gets its own
connection; every write is one short `BEGIN IMMEDIATE` transaction, waited on (not failed)
when another process holds the lock. Text passes through `secrets.redact` on its way in.
Reading helpers for pages and reports live in `lbi.store.read` and `lbi.store.committee`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lbi.errors import UserError
from lbi.secrets import redact, secret_values
from lbi.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

DB_NAME = "lbi.db"
BUSY_TIMEOUT_MS = 60_000
UNOPENABLE = ("SQLITE_NOTADB", "SQLITE_CANTOPEN", "SQLITE_CORRUPT")
"""SQLite's answers when `lbi.db` is not a database, a folder, or damaged: a StoreError, the file left alone."""


class StoreError(UserError):
    """The store cannot be opened or is newer than this version of lbi."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def valid_utf8(text: str) -> str:
    """`text` with lone surrogates (a model reply cut mid-character, bytes decoded with surrogateescape)
    replaced by U+FFFD: SQLite stores UTF-8 only and would refuse the whole row."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _clean(value: Any, secrets: Sequence[str] | None = None) -> Any:
    if isinstance(value, str):
        return valid_utf8(redact(value, secrets))
    if isinstance(value, (dict, list)):
        return valid_utf8(redact(json.dumps(value, ensure_ascii=False, default=str), secrets))
    return value


class Store:
    """Open (creating and migrating if needed) `<project_dir>/lbi.db`."""

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        path = Path(path)
        self.path = path / DB_NAME if path.is_dir() or path.suffix != ".db" else path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        if migrate:
            self.migrate()

    # -- connections -------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; writes use `transaction()`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorname", "") not in UNOPENABLE:
                    raise  # e.g. locked past the busy timeout: not the user's file at fault
                raise StoreError(
                    f"cannot open the store {self.path}: {exc}; move it aside (lbi then starts an "
                    "empty one) or restore it from a backup"
                ) from exc
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def version(self) -> int:
        return self.connect().execute("PRAGMA user_version").fetchone()[0]

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply pending migrations up to `target`; return the version reached."""
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this lbi ({SCHEMA_VERSION}): upgrade lbi."
            )
        for number in range(current, target):
            with self.transaction() as conn:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
        return self.version

    # -- generic helpers ---------------------------------------------------------------
    def _insert(
        self, conn: sqlite3.Connection, table: str, row: dict[str, Any], *, ignore: bool = False, replace: bool = False
    ) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        verb = "INSERT OR IGNORE" if ignore else "INSERT OR REPLACE" if replace else "INSERT"
        cur = conn.execute(f"{verb} INTO {table} ({cols}) VALUES ({marks})", [_clean(v) for v in row.values()])
        return int(cur.lastrowid or 0) if cur.rowcount else 0

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.connect().execute(sql, params).fetchall()

    def dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """`query`, each row as a dict (column name → value)."""
        return [dict(r) for r in self.query(sql, params)]

    def counts(self) -> dict[str, int]:
        conn = self.connect()
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}

    # -- runs --------------------------------------------------------------------------
    def start_run(self, name: str, kind: str, config: dict[str, Any] | None = None, *, pid: int | None = None) -> int:
        """Create the run, or reopen it (same name) for resuming; return its id. `pid` (default: this
        process) lets readers tell a run in progress from one whose process is gone."""
        pid = pid or os.getpid()
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
            if row:
                conn.execute(
                    "UPDATE runs SET status='running', pid=?, updated_at=? WHERE id=?", (pid, now(), row["id"])
                )
                return int(row["id"])
            return self._insert(
                conn,
                "runs",
                {
                    "name": name,
                    "kind": kind,
                    "status": "running",
                    "config_json": config or {},
                    "pid": pid,
                    "created_at": now(),
                    "updated_at": now(),
                },
            )

    def update_run(
        self,
        run_id: int,
        *,
        done: int | None = None,
        total: int | None = None,
        status: str | None = None,
        message: str | None = None,
    ) -> None:
        sets, params = ["updated_at = ?"], [now()]
        changes = {"progress_done": done, "progress_total": total, "status": status, "message": message}
        for col, value in changes.items():
            if value is not None:
                sets.append(f"{col} = ?")
                params.append(_clean(value))
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", [*params, run_id])

    # -- documents, chunks, tasks ------------------------------------------------------
    def add_document(self, doc: dict[str, Any], chunks: Iterable[dict[str, Any]]) -> bool:
        """Store a document and its chunks; False if a document with this id exists already."""
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc["id"],)).fetchone():
                return False
            self._insert(conn, "documents", {**doc, "created_at": now()})
            for chunk in chunks:
                self._insert(conn, "chunks", chunk, ignore=True)
            return True

    def add_tasks(self, tasks: Iterable[dict[str, Any]]) -> int:
        """Insert tasks (ignoring ids already present); return how many were new."""
        added = 0
        with self.transaction() as conn:
            for task in tasks:
                added += bool(self._insert(conn, "tasks", {**task, "created_at": now()}, ignore=True))
        return added

    def update_task(self, task_id: str, **fields: Any) -> None:
        allowed = {"instruction", "split", "spec_json", "env"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update task fields {sorted(unknown)}")
        with self.transaction() as conn:
            for col, value in fields.items():
                conn.execute(f"UPDATE tasks SET {col} = ? WHERE id = ?", (_clean(value), task_id))

    def delete_tasks(self, task_ids: Iterable[str]) -> None:
        with self.transaction() as conn:
            conn.executemany("DELETE FROM tasks WHERE id = ?", [(t,) for t in task_ids])

    # -- trajectories and steps --------------------------------------------------------
    def begin_trajectory(self, key: str, **fields: Any) -> tuple[int, str]:
        """Create the trajectory with this resume key, or return the existing one and its status.

        A trajectory left `running` by a killed process is restarted clean: its steps are removed.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT id, status FROM trajectories WHERE key = ?", (key,)).fetchone()
            if row and row["status"] != "running":
                return int(row["id"]), str(row["status"])
            if row:
                conn.execute("DELETE FROM steps WHERE trajectory_id = ?", (row["id"],))
                return int(row["id"]), "running"
            tid = self._insert(conn, "trajectories", {"key": key, **fields, "created_at": now()})
            return tid, "running"

    def add_step(self, trajectory_id: int, idx: int, **fields: Any) -> int:
        with self.transaction() as conn:
            return self._insert(
                conn, "steps", {"trajectory_id": trajectory_id, "idx": idx, **fields, "created_at": now()}
            )

    def set_trajectory_goal(
        self, trajectory_id: int, goal: str, where: dict[str, Any], *, as_instruction: bool
    ) -> None:
        """The goal the environment stated at reset: in `config_json` (`goal`, and `where` it came from as
        `env_task`, `seed`), and as the trajectory's instruction unless it has none by design (an explore walk,
        which backward construction labels)."""
        with self.transaction() as conn:
            row = conn.execute("SELECT config_json FROM trajectories WHERE id = ?", (trajectory_id,)).fetchone()
            config = {
                **json.loads(row["config_json"] or "{}"),
                "goal": _clean(goal),
                **({"env_task": where["task"]} if "task" in where else {}),
                **({"seed": where["seed"]} if "seed" in where else {}),
            }
            conn.execute("UPDATE trajectories SET config_json = ? WHERE id = ?", (json.dumps(config), trajectory_id))
            if as_instruction:
                conn.execute("UPDATE trajectories SET instruction = ? WHERE id = ?", (_clean(goal), trajectory_id))

    def finish_trajectory(
        self,
        trajectory_id: int,
        *,
        status: str,
        error: str | None = None,
        answer: str | None = None,
        final: dict[str, Any] | None = None,
        reward: float | None = None,
    ) -> None:
        """Mark a trajectory done/failed; `final` may hold observation, url, screenshot of its end state; `reward`,
        the environment's own total reward for the episode (a BrowserGym task's), goes in `config_json`."""
        final = final or {}
        with self.transaction() as conn:
            if reward is not None:
                row = conn.execute("SELECT config_json FROM trajectories WHERE id = ?", (trajectory_id,)).fetchone()
                config = {**json.loads(row["config_json"] or "{}"), "reward": float(reward)}
                conn.execute(
                    "UPDATE trajectories SET config_json = ? WHERE id = ?", (json.dumps(config), trajectory_id)
                )
            conn.execute(
                "UPDATE trajectories SET status=?, error=?, answer=?, finished_at=?, final_observation=?, "
                "final_url=?, final_screenshot=? WHERE id=?",
                (
                    status,
                    _clean(error),
                    _clean(answer),
                    now(),
                    _clean(final.get("observation")),
                    final.get("url"),
                    final.get("screenshot"),
                    trajectory_id,
                ),
            )

    # -- examples, verdicts, overrides -------------------------------------------------
    def add_examples(self, examples: Iterable[dict[str, Any]]) -> list[int]:
        """Insert examples, skipping any (trajectory, span, mode) already present; return new ids."""
        ids: list[int] = []
        with self.transaction() as conn:
            for ex in examples:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO examples (trajectory_id, span_start, span_end, instruction, mode, "
                    "model, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ex["trajectory_id"],
                        ex["span_start"],
                        ex["span_end"],
                        _clean(ex["instruction"]),
                        ex["mode"],
                        ex.get("model"),
                        ex.get("run_id"),
                        now(),
                    ),
                )
                if cur.rowcount:
                    ids.append(int(cur.lastrowid or 0))
        return ids

    def edit_example(self, example_id: int, instruction: str, *, who: str) -> None:
        """Change an example's instruction, keeping the old one in `example_edits`."""
        with self.transaction() as conn:
            row = conn.execute("SELECT instruction FROM examples WHERE id = ?", (example_id,)).fetchone()
            if row is None:
                raise KeyError(f"no example {example_id}")
            self._insert(
                conn,
                "example_edits",
                {
                    "example_id": example_id,
                    "old_instruction": row["instruction"],
                    "new_instruction": instruction,
                    "who": who,
                    "at": now(),
                },
            )
            conn.execute("UPDATE examples SET instruction = ? WHERE id = ?", (_clean(instruction), example_id))
            conn.execute("DELETE FROM similar_examples WHERE example_id = ? OR other_id = ?", (example_id, example_id))

    def set_vectors(self, rows: Iterable[tuple[int, str, str, bytes]]) -> None:
        """Store instruction embeddings: (example id, embedder, the exact text embedded, float32 bytes)."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO example_vectors (example_id, model, text, vector) VALUES (?, ?, ?, ?)",
                list(rows),
            )

    def set_similar(self, pairs: Iterable[tuple[int, int, float]], *, replace_for: Iterable[int] = ()) -> None:
        """Record near-duplicate pairs (example, earlier example, similarity), replacing every pair that
        involves an example of `replace_for`."""
        with self.transaction() as conn:
            conn.executemany(
                "DELETE FROM similar_examples WHERE example_id = ? OR other_id = ?", [(i, i) for i in replace_for]
            )
            conn.executemany(
                "INSERT OR REPLACE INTO similar_examples (example_id, other_id, similarity) VALUES (?, ?, ?)",
                [(max(a, b), min(a, b), s) for a, b, s in pairs if a != b],
            )

    def set_verdict(
        self,
        example_id: int,
        judge: str,
        verdict: bool,
        reason: str,
        *,
        model: str | None = None,
        run_id: int | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO verdicts (example_id, judge, verdict, reason, model, run_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (example_id, judge) DO UPDATE SET "
                "verdict=excluded.verdict, reason=excluded.reason, model=excluded.model, "
                "run_id=excluded.run_id, created_at=excluded.created_at",
                (example_id, judge, int(verdict), _clean(reason), model, run_id, now()),
            )

    def add_override(self, example_id: int, verdict: str, *, who: str, note: str = "") -> int:
        """Record a human keep/drop decision; the newest override of an example (not undone) wins."""
        if verdict not in ("keep", "drop"):
            raise ValueError("override verdict must be 'keep' or 'drop'")
        with self.transaction() as conn:
            return self._insert(
                conn, "overrides", {"example_id": example_id, "verdict": verdict, "note": note, "who": who, "at": now()}
            )

    # -- the leakage check ------------------------------------------------------------
    def set_leak_checks(self, kind: str, rows: Iterable[dict[str, Any]]) -> None:
        """Record the leakage check of items of `kind` (`example`, `task`, `chunk`): each row's `item`, `digest`
        (of what was checked), `flagged` and `hits` (a list of dicts), replacing an earlier check of the item."""
        with self.transaction() as conn:
            for row in rows:
                self._insert(
                    conn,
                    "leak_checks",
                    {
                        "kind": kind,
                        "item": str(row["item"]),
                        "digest": row["digest"],
                        "flagged": int(bool(row["flagged"])),
                        "hits_json": row["hits"],
                        "checked_at": now(),
                    },
                    replace=True,
                )

    def add_leak_override(self, kind: str, item: str, verdict: str, *, who: str, note: str = "") -> int:
        """Record a person's decision on an item the leakage check flagged (`allow`: it may be used) or missed
        (`block`); the newest decision on an item (not undone) wins."""
        if verdict not in ("allow", "block"):
            raise ValueError("leak override verdict must be 'allow' or 'block'")
        with self.transaction() as conn:
            return self._insert(
                conn,
                "leak_overrides",
                {"kind": kind, "item": str(item), "verdict": verdict, "note": note, "who": who, "at": now()},
            )

    def undo_leak_override(self, override_id: int, *, who: str) -> bool:
        """Take back a person's leak decision: it stays on record, marked undone by `who`, and no longer counts, so
        the item's previous decision (or, without one, the check's flag) decides again. False when it was undone
        already (or there is no such decision)."""
        with self.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE leak_overrides SET undone_at = ?, undone_by = ? WHERE id = ? AND undone_at IS NULL",
                    (now(), _clean(who), int(override_id)),
                ).rowcount
                == 1
            )

    def add_overrides(self, example_ids: Iterable[int], verdict: str, *, who: str, note: str = "", batch: str) -> int:
        """One bulk decision: the same keep/drop override on every example, one row each, all under `batch` (so
        `undo_overrides(batch=...)` takes them back as one); one transaction. Returns how many were recorded."""
        if verdict not in ("keep", "drop"):
            raise ValueError("override verdict must be 'keep' or 'drop'")
        if not batch:
            raise ValueError("a bulk decision needs a batch id")
        at, note, who = now(), _clean(note), _clean(who)
        with self.transaction() as conn:
            cur = conn.executemany(
                "INSERT INTO overrides (example_id, verdict, note, who, at, batch) VALUES (?, ?, ?, ?, ?, ?)",
                [(int(i), verdict, note, who, at, batch) for i in example_ids],
            )
            return cur.rowcount

    def undo_overrides(self, *, who: str, ids: Iterable[int] = (), batch: str | None = None) -> int:
        """Take back overrides (by row id, or every one of a batch): they stay on record, marked undone by `who`,
        and no longer count, so each example's previous override (or the committee) decides again. Returns how
        many were undone (those undone already are left as they were)."""
        at, who = now(), _clean(who)
        with self.transaction() as conn:
            count = conn.executemany(
                "UPDATE overrides SET undone_at = ?, undone_by = ? WHERE id = ? AND undone_at IS NULL",
                [(at, who, int(i)) for i in ids],
            ).rowcount
            if batch:
                count += conn.execute(
                    "UPDATE overrides SET undone_at = ?, undone_by = ? WHERE batch = ? AND undone_at IS NULL",
                    (at, who, batch),
                ).rowcount
            return max(count, 0)

    def set_clusters(self, run_id: int, rows: Iterable[tuple[int, int, int, float]]) -> None:
        """The result of a clustering run: (example id, cluster, near-duplicate group, closeness to the centre)
        per example. It replaces every earlier clustering (one is kept: the newest)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM clusters WHERE run_id != ?", (run_id,))
            conn.execute("DELETE FROM clusters WHERE run_id = ?", (run_id,))
            conn.executemany(
                "INSERT INTO clusters (run_id, example_id, cluster, near_dup, score) VALUES (?, ?, ?, ?, ?)",
                [(run_id, int(e), int(c), int(g), float(s)) for e, c, g, s in rows],
            )

    def insert_many(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Many rows of one table (all with the same columns) in one transaction, text cleaned as every write
        is: for imports and for building large synthetic stores (`bench/`). Returns how many were inserted."""
        if table not in TABLES:
            raise ValueError(f"no table {table!r}")
        if not rows:
            return 0
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        secrets = secret_values()
        with self.transaction() as conn:
            return conn.executemany(sql, [[_clean(row[c], secrets) for c in cols] for row in rows]).rowcount

    # -- usage, failures, evaluations --------------------------------------------------
    def log_llm_call(self, **fields: Any) -> int:
        with self.transaction() as conn:
            return self._insert(conn, "llm_calls", {"at": now(), **fields})

    def add_failure(
        self, stage: str, error: str, *, item: str | None = None, raw: str | None = None, run_id: int | None = None
    ) -> int:
        with self.transaction() as conn:
            return self._insert(
                conn,
                "failures",
                {"run_id": run_id, "stage": stage, "item": item, "error": error, "raw": raw, "created_at": now()},
            )

    def set_train_run(self, run_id: int, **fields: Any) -> None:
        """Create or update the training record of run `run_id` (`train_runs` columns)."""
        row = {k: _clean(v) for k, v in {"run_id": run_id, **fields, "updated_at": now()}.items()}
        cols = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c != "run_id")
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO train_runs ({cols}) VALUES ({', '.join('?' * len(row))}) "
                f"ON CONFLICT(run_id) DO UPDATE SET {updates}",
                list(row.values()),
            )

    def add_train_log(self, run_id: int, rows: Iterable[dict[str, Any]]) -> None:
        """Record points of a training run's loss curve (a step logged again, after a resume, is replaced)."""
        with self.transaction() as conn:
            for row in rows:
                self._insert(conn, "train_log", {"run_id": run_id, **row}, replace=True)

    def clear_train_log(self, run_id: int) -> None:
        """Forget a training run's loss curve (the run starts over)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM train_log WHERE run_id = ?", (run_id,))

    def add_evaluation(self, **fields: Any) -> int:
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM evaluations WHERE run_id IS ? AND task_id = ? AND mode = ?",
                (fields.get("run_id"), fields["task_id"], fields["mode"]),
            )
            return self._insert(conn, "evaluations", {**fields, "created_at": now()})
