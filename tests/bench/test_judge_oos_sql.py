"""The held-out library bench builds what it says: a database with its titles as written, and a project whose 25
held-out tasks' reference solutions pass their own checks in lbi's SQL env."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from judge_oos_sql import make_project  # noqa: E402

from lbi.envs.replay import replay  # noqa: E402
from lbi.envs.tasks import check_task  # noqa: E402
from lbi.project import open_project  # noqa: E402


def test_the_library_project_has_25_tasks_whose_references_pass_their_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LBI_PROJECT", raising=False)
    project = open_project(make_project(tmp_path))
    conn = sqlite3.connect(tmp_path / "library.db")
    assert conn.execute("SELECT title FROM books WHERE book_id = 8").fetchone() == ("The Handmaid's Tale",)
    conn.close()
    tasks = project.tasks("heldout")
    assert len(tasks) == 25 and len({t.instruction for t in tasks}) == 25
    assert sum("write" in t.tags for t in tasks) == 4
    with project.make_env() as env:
        for task in tasks:
            rep = replay(env, task, list(task.reference))
            assert rep.last is not None and not any(s.error for s in rep.steps), task.id
            result = check_task(task, env, rep.last)
            assert result.success, (task.id, result.detail)
            wrong = replay(env, task, ["execute_sql('SELECT 1')", "stop('nothing')"])
            assert wrong.last is not None and not check_task(task, env, wrong.last).success, task.id
