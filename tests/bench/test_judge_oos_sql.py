"""The held-out SQL sets build what they say: a database holding each set's rows as written, and a project whose
held-out tasks (at least 20 questions and 4 writes) have reference solutions that pass their own checks in lbi's
SQL env, and a wrong span that fails them."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from judge_oos_sql import make_project  # noqa: E402
from oos_sets import NAMES, load  # noqa: E402

from lbi.envs.replay import replay  # noqa: E402
from lbi.envs.tasks import check_task  # noqa: E402
from lbi.project import open_project  # noqa: E402


@pytest.mark.parametrize("name", NAMES)
def test_each_set_has_tasks_whose_references_pass_their_checks(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LBI_PROJECT", raising=False)
    oos = load(name)
    project = open_project(make_project(oos, tmp_path))
    conn = sqlite3.connect(tmp_path / f"{name}.db")
    for table, rows in oos.tables.items():
        assert conn.execute(f"SELECT * FROM {table}").fetchall() == rows, table
    conn.close()
    tasks = project.tasks("heldout")
    assert len(tasks) == len(oos.questions) + len(oos.writes) and len({t.instruction for t in tasks}) == len(tasks)
    assert sum("write" in t.tags for t in tasks) == len(oos.writes) >= 4 and len(oos.questions) >= 20
    with project.make_env() as env:
        for task in tasks:
            rep = replay(env, task, list(task.reference))
            assert rep.last is not None and not any(s.error for s in rep.steps), task.id
            result = check_task(task, env, rep.last)
            assert result.success, (task.id, result.detail)
            wrong = replay(env, task, ["execute_sql('SELECT 1')", "stop('nothing')"])
            assert wrong.last is not None and not check_task(task, env, wrong.last).success, task.id
