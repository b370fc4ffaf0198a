"""Every held-out desktop task's scripted reference solution passes its check in the real LibreOffice Calc, and
the check fails on the untouched document (so it is not trivially true). One Calc on one desktop serves every
task, reset between them (the application restarted on a pristine profile and document)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbi.demos import demo_tasks
from lbi.envs.desktop.env import DesktopEnv
from lbi.envs.tasks import Task, check_task, run_reference

pytestmark = pytest.mark.desktop  # starts it in the tests' own bodies (tests/tiers.py)

TASKS = demo_tasks("desktop")


def test_enough_spreadsheet_tasks_of_every_kind() -> None:
    assert len(TASKS) >= 20
    assert {t.difficulty for t in TASKS} == {"easy", "medium", "hard"}
    kinds = {t.check.kind for t in TASKS}
    assert {"sheet", "answer", "page_contains", "all"} <= kinds
    assert all(t.split == "heldout" and t.reference and t.start.get("document") for t in TASKS)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_desktop_reference_solution(task: Task, desktop_env: DesktopEnv) -> None:
    start = desktop_env.reset(task)
    assert not check_task(task, desktop_env, start).success, "check passes without doing anything"
    obs, result = run_reference(task, desktop_env)
    assert result.success, (result, obs.last_action_error, obs.text[:1500])
    assert obs.screenshot and Path(obs.screenshot).exists()
