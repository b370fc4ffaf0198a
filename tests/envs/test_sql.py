"""SQL environment on a real SQLite file (and on the seeded Trac database)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from lbi.envs import EnvCrashed, EnvOptionsError, make_env
from lbi.envs.sql import SqlEnv, statement_kind, statement_tables
from lbi.envs.tasks import CheckSpec, Task


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    conn.executemany("INSERT INTO item (name, price) VALUES (?, ?)", [(f"item{i}", i * 1.5) for i in range(200)])
    conn.commit()
    conn.close()
    return path


def test_select_renders_truncated_table(db: Path) -> None:
    with SqlEnv(db, max_rows=10) as env:
        obs = env.reset()
        assert "item(id, name, price)" in obs.text
        obs = env.step('execute_sql("SELECT id, name FROM item")')
        assert obs.last_action_error is None
        assert obs.text.splitlines()[0] == "id | name"
        assert "(200 rows; showing the first 10)" in obs.text
        assert obs.info["row_count"] == 200
        assert obs.state_signature == "sql:SELECT:item"


def test_read_only_by_default_and_source_untouched(db: Path) -> None:
    before = db.read_bytes()
    with SqlEnv(db) as env:
        env.reset()
        obs = env.step("DELETE FROM item")
        assert obs.last_action_error and "read-only" in obs.last_action_error
        assert not obs.done
        obs = env.step("SELECT COUNT(*) FROM item")
        assert "200" in obs.text
    assert db.read_bytes() == before


def test_writable_task_and_pristine_reset(db: Path) -> None:
    task = Task(
        id="t",
        env="sql",
        instruction="x",
        start={"writable": True},
        check=CheckSpec(kind="answer", params={"expected": "x"}),
    )
    with SqlEnv(db) as env:
        env.reset(task)
        obs = env.step("DELETE FROM item WHERE id > 10")
        assert obs.last_action_error is None and "190 row(s) affected" in obs.text
        assert "10" in env.step("SELECT COUNT(*) FROM item").text
        env.reset()  # read-only again and pristine
        assert "200" in env.step("SELECT COUNT(*) FROM item").text
        assert env.step("DELETE FROM item").last_action_error


def test_time_limit_interrupts(db: Path) -> None:
    with SqlEnv(db, time_limit_s=0.5) as env:
        env.reset()
        start = time.monotonic()
        obs = env.step("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c")
        assert time.monotonic() - start < 3
        assert "time limit" in (obs.last_action_error or "")
        assert "1" in env.step("SELECT 1").text  # the episode goes on


@pytest.mark.parametrize(
    "query, error",
    [
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM nope", "no such table"),
        ("SELECT 1; SELECT 2", "one statement"),
    ],
)
def test_sql_errors_are_observations(db: Path, query: str, error: str) -> None:
    with SqlEnv(db) as env:
        env.reset()
        obs = env.step(f"execute_sql({query!r})")
        assert error in (obs.last_action_error or "")
        assert obs.text.startswith("Error:")


def test_bare_sql_and_parse_errors(db: Path) -> None:
    with SqlEnv(db) as env:
        env.reset()
        assert env.step("SELECT name FROM item WHERE id = 1").text.splitlines()[2] == "item0"
        assert env.step("```sql\nSELECT 2\n```").last_action_error is None
        assert "unknown action" in (env.step("drop_everything()").last_action_error or "")


def test_candidates_are_runnable(db: Path) -> None:
    with SqlEnv(db) as env:
        env.reset()
        cands = env.interactive_elements()
        assert cands and all(c.kind == "action" and c.action for c in cands)
        for cand in cands:
            assert cand.action and env.step(cand.action).last_action_error is None


def test_missing_database_raises(tmp_path: Path) -> None:
    with pytest.raises(EnvCrashed):
        SqlEnv(tmp_path / "missing.db")


def test_statement_helpers() -> None:
    assert statement_kind("  -- hi\n select 1") == "SELECT"
    assert statement_tables("SELECT * FROM a JOIN b ON 1 WHERE x IN (SELECT y FROM c)") == ["a", "b", "c"]


def test_the_database_is_an_option_the_user_gives(tmp_path: Path) -> None:
    with pytest.raises(EnvOptionsError, match="missing option 'db' \\(the SQLite database file"):
        make_env("sql")  # no default database: not even the Trac demo's
    with pytest.raises(EnvOptionsError, match=f"the SQLite database {tmp_path / 'nope.db'} does not exist"):
        make_env("sql", db=tmp_path / "nope.db")
    with pytest.raises(EnvOptionsError, match="unknown option 'max_row' \\(did you mean 'max_rows'\\?\\)"):
        make_env("sql", db=tmp_path / "nope.db", max_row=3)


def test_the_demo_database_by_its_option(demo_dir: Path) -> None:
    from lbi.demos import env_options

    with make_env("sql", **env_options("sql", demo_dir)) as env:
        obs = env.reset()
        assert "ticket(id, type, time" in obs.text
        assert "20" in env.step("SELECT COUNT(*) FROM ticket").text
