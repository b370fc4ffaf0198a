"""Task files and success checks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lbi.envs import Observation
from lbi.envs.checks import CheckResult, CheckSpec, check_kinds, check_task, register_check
from lbi.envs.sql import SqlEnv
from lbi.envs.tasks import Task, TaskFileError, load_tasks, save_tasks

TASK = {
    "id": "a",
    "env": "sql",
    "instruction": "Count items",
    "check": {"kind": "answer", "params": {"expected": "3", "match": "number"}},
    "reference": ["execute_sql('SELECT COUNT(*) FROM t')", "stop('3')"],
}


def _task(kind: str, **params: object) -> Task:
    return Task(id="x", env="sql", instruction="x", check=CheckSpec(kind=kind, params=params))


def test_load_jsonl_json_toml_and_dir(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(TASK) + "\n\n")
    (tmp_path / "b.json").write_text(json.dumps([{**TASK, "id": "b"}]))
    (tmp_path / "c.toml").write_text("""
[[task]]
id = "c"
env = "shell"
instruction = "Make a file"
start = { files = { "in.txt" = "x" } }
reference = ["run('cp in.txt out.txt')"]
check = { kind = "file", params = { path = "out.txt", equals = "x" } }
""")
    tasks = load_tasks(tmp_path)
    assert [t.id for t in tasks] == ["a", "b", "c"]
    assert tasks[2].start["files"] == {"in.txt": "x"} and tasks[0].split == "heldout"
    save_tasks(tasks, tmp_path / "out.jsonl")
    assert load_tasks(tmp_path / "out.jsonl") == tasks


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a"}\n', "a.jsonl:1: invalid task"),
        ("not json\n", "a.jsonl"),
        (json.dumps(TASK) + "\n" + json.dumps(TASK) + "\n", "duplicate task id 'a'"),
    ],
)
def test_bad_task_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(content)
    with pytest.raises(TaskFileError, match=message):
        load_tasks(path)


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="no such file"):
        load_tasks(tmp_path / "nope.jsonl")
    (tmp_path / "t.yaml").write_text("x")
    with pytest.raises(TaskFileError, match="unsupported"):
        load_tasks(tmp_path / "t.yaml")


@pytest.mark.parametrize(
    "params, answer, ok",
    [
        ({"expected": "bob", "match": "exact"}, "Bob.", True),
        ({"expected": "bob", "match": "exact"}, "bob and alice", False),
        ({"expected": ["dave", "Dave Diaz"]}, "It is Dave Diaz", True),
        ({"expected": "8", "match": "number"}, "There are 8 open tickets", True),
        ({"expected": "8", "match": "number"}, "18", False),
        ({"expected": "alice, bob", "match": "set"}, "bob and alice", True),
        ({"expected": r"\b2\.0\b", "match": "regex"}, "milestone 2.0", True),
        ({"expected": "x"}, None, False),
    ],
)
def test_answer_check(params: dict, answer: str | None, ok: bool) -> None:
    obs = Observation(text="", answer=answer, done=answer is not None)
    assert check_task(_task("answer", **params), None, obs).success is ok


def test_url_and_page_checks() -> None:
    obs = Observation(text='heading "Roadmap"', url="http://127.0.0.1:1/query?component=docs&x=1")
    assert check_task(_task("url", path="/query", query={"component": "docs"}), None, obs).success
    assert not check_task(_task("url", path="/roadmap"), None, obs).success
    assert check_task(_task("url", regex=r"component=docs"), None, obs).success
    assert check_task(_task("page_contains", text=["roadmap"]), None, obs).success
    res = check_task(_task("page_contains", text="x", absent="Roadmap"), None, obs)
    assert not res.success and "unexpected" in res.detail


def test_sql_and_db_checks(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x"), (2, "y"), (3, "z")])
    conn.close()
    with SqlEnv(db) as env:
        obs = env.reset()
        spec = _task("sql_result", query="SELECT a FROM t ORDER BY a DESC")
        assert not check_task(spec, env, obs).success  # nothing run yet
        obs = env.step("SELECT a FROM t")
        assert check_task(spec, env, obs).success  # unordered by default
        ordered = _task("sql_result", query="SELECT a FROM t ORDER BY a DESC", ordered=True)
        assert not check_task(ordered, env, obs).success
        assert check_task(_task("sql_result", rows=[[1], [2], [3]]), env, obs).success
        assert check_task(_task("db_query", query="SELECT COUNT(*) FROM t", expected=[[3]]), env, obs).success
        assert check_task(
            _task(
                "all",
                checks=[
                    {"kind": "db_query", "params": {"query": "SELECT 1", "expected": [[1]]}},
                    {"kind": "sql_result", "params": {"rows": [[1], [2], [3]]}},
                ],
            ),
            env,
            obs,
        ).success
        assert check_task(
            _task(
                "any",
                checks=[
                    {"kind": "answer", "params": {"expected": "nope"}},
                    {"kind": "sql_result", "params": {"rows": [[1], [2], [3]]}},
                ],
            ),
            env,
            obs,
        ).success


def test_checks_that_cannot_run_return_errors(tmp_path: Path) -> None:
    obs = Observation(text="")
    res = check_task(_task("no-such-kind"), None, obs)
    assert not res.success and "unknown check kind" in (res.error or "")
    res = check_task(_task("answer"), None, Observation(text="", answer="x"))
    assert res.error and "KeyError" in res.error  # missing 'expected'
    res = check_task(_task("db_query", query="SELECT 1", expected=[[1]]), None, obs)
    assert res.error and "no database" in res.error
    db = tmp_path / "t.db"
    sqlite3.connect(db).close()
    with SqlEnv(db) as env:
        env.reset()
        res = check_task(_task("db_query", query="SELECT nope FROM nowhere", expected=[]), env, obs)
        assert not res.success and "no such table" in (res.error or "")
    res = check_task(_task("file", path="x"), None, obs)
    assert res.error and "sandbox" in res.error
    res = check_task(_task("sql_result", query="SELECT 1"), None, obs)
    assert not res.success and "no query result" in res.detail


def test_register_custom_check() -> None:
    register_check("always", lambda task, env, obs, p: CheckResult(success=True, detail="yes"))
    assert "always" in check_kinds()
    assert check_task(_task("always"), None, Observation(text="")).success


@pytest.mark.parametrize(
    "check, message",
    [
        (
            {"kind": "db_querry", "params": {"query": "SELECT 1", "expected": []}},
            r"b.jsonl:2: task 'b': check: unknown check kind 'db_querry'; known: all, .*db_query",
        ),
        (
            {
                "kind": "all",
                "params": {
                    "checks": [
                        {"kind": "answer", "params": {"expected": "1"}},
                        {"kind": "any", "params": {"checks": [{"kind": "nope"}]}},
                    ]
                },
            },
            r"b.jsonl:2: task 'b': check.checks\[1\].checks\[0\]: unknown check kind 'nope'",
        ),
        (
            {"kind": "answer", "params": {"expectd": "3"}},
            r"b.jsonl:2: task 'b': check: the answer check needs 'expected'",
        ),
        ({"kind": "any", "params": {"checks": []}}, r"any.checks must be a non-empty list"),
        ({"kind": "url", "params": {}}, r"the url check needs one of 'path', 'regex', 'query'"),
    ],
)
def test_checks_that_cannot_run_are_refused_at_load(tmp_path: Path, check: dict, message: str) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(TASK) + "\n" + json.dumps({**TASK, "id": "b", "check": check}) + "\n")
    with pytest.raises(TaskFileError, match=message):
        load_tasks(path)


def test_toml_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("""# two tasks
[[task]]
id = "ok"
env = "sql"
instruction = "x"
check = { kind = "answer", params = { expected = "1" } }

[[task]]
id = "bad"
env = "sql"
instruction = "y"
check = { kind = "page_contain", params = { text = "x" } }
""")
    with pytest.raises(TaskFileError, match=r"t.toml:8: task 'bad': check: unknown check kind 'page_contain'"):
        load_tasks(path)
