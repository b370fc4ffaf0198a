"""Every held-out demo task's scripted reference solution passes its check, for real:
SQL tasks on the seeded Trac database, web tasks in Chromium on the running Trac demo.
A check must also fail on the untouched start state (so it is not trivially true)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lbi.demos import demo_tasks
from lbi.envs.sql import SqlEnv
from lbi.envs.tasks import Task, check_task, load_tasks, run_reference
from lbi.envs.web.trac_env import TracWebEnv
from lbi.observations import BID_ACTION
from lbi.prompts.messages import observation_text

SQL_TASKS = demo_tasks("sql")
WEB_TASKS = demo_tasks("trac")


def test_enough_heldout_tasks_of_mixed_difficulty() -> None:
    assert len(SQL_TASKS) >= 30 and len(WEB_TASKS) >= 30
    for tasks in (SQL_TASKS, WEB_TASKS):
        assert {t.difficulty for t in tasks} == {"easy", "medium", "hard"}
        assert all(t.split == "heldout" and t.reference for t in tasks)
    kinds = {t.check.kind for t in WEB_TASKS}
    assert {"answer", "db_query", "url", "all"} <= kinds
    assert load_tasks(Path("data/demo/tasks")) == demo_tasks()


@pytest.fixture(scope="module")
def sql_env(demo_db: Path) -> Iterator[SqlEnv]:
    with SqlEnv(demo_db) as env:
        yield env


@pytest.mark.parametrize("task", SQL_TASKS, ids=lambda t: t.id)
def test_sql_reference_solution(task: Task, sql_env: SqlEnv) -> None:
    start = sql_env.reset(task)
    assert not check_task(task, sql_env, start).success, "check passes without doing anything"
    obs, result = run_reference(task, sql_env)
    assert result.success, (result, obs.text[:500])


@pytest.mark.parametrize("task", WEB_TASKS, ids=lambda t: t.id)
def test_web_reference_solution(task: Task, trac_env: TracWebEnv) -> None:
    """The reference passes, and every element it acts on was in the observation the agent is shown (compact and
    cut to fit the prompt): an agent could have done what the reference did."""
    start = trac_env.reset(task)
    assert not check_task(task, trac_env, start).success, "check passes without doing anything"
    obs = start
    for action in task.reference:
        match = BID_ACTION.match(action)
        if match and trac_env.actions[match.group(1)].params[0][0] == "bid":
            assert f"[{match.group(2)}]" in observation_text(obs), f"{action} acts on an element the agent is not shown"
        obs = trac_env.step(action)
    result = check_task(task, trac_env, obs)
    assert result.success, (result, obs.url, obs.last_action_error)
    assert obs.screenshot and Path(obs.screenshot).exists()
