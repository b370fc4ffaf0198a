"""The Trac demo's held-out tasks as BrowserGym tasks (lbi.envs.browsergym.trac_tasks): reference solutions replayed
through BrowserGym earn its reward from lbi's own checks, and the untouched start state earns none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from lbi.demos import demo_tasks
from lbi.envs import make_env
from lbi.envs.browsergym.env import BrowserGymEnv
from lbi.envs.checks import CheckSpec, check_task
from lbi.envs.tasks import Task

if TYPE_CHECKING:
    from lbi.envs.web.trac_server import TracDemo


@pytest.fixture(scope="module")
def lbi_bgym(trac_demo: TracDemo, browser: object) -> Iterator[BrowserGymEnv]:
    from lbi.envs.browsergym import trac_tasks

    trac_tasks.use_demo(trac_demo)
    assert len(trac_tasks.DEMO_TASK_IDS) == len(demo_tasks("trac")) == 33
    env = make_env("browsergym", task="lbi.trac-web-001", pre_observation_delay=0.0)
    assert isinstance(env, BrowserGymEnv)
    yield env
    env.close()


@pytest.mark.parametrize("task_id", ["trac-web-001", "trac-web-021"])  # an answer, a new ticket in the database
def test_reference_solution_through_browsergym(lbi_bgym: BrowserGymEnv, task_id: str) -> None:
    from lbi.envs.browsergym.trac_tasks import browsergym_action

    task = next(t for t in demo_tasks("trac") if t.id == task_id)
    bridged = Task(
        id=task.id,
        env="browsergym",
        instruction="",
        start={"task": f"lbi.{task.id}", "seed": 0},
        check=CheckSpec(kind="env_reward"),
        goal_at_reset=True,
    )
    obs = lbi_bgym.reset(bridged)
    assert obs.info["goal"] == task.instruction and "/trac" not in (obs.url or "x")
    assert not lbi_bgym.step("noop(0)").info["reward"]  # the start state does not pass the check
    page = lbi_bgym._gym.unwrapped.page
    for action in task.reference:
        obs = lbi_bgym.step(browsergym_action(action, page))
        # BrowserGym gives an element action 500 ms, navigation included: on a loaded machine a form post that
        # navigates is done but reported as timed out while "waiting for scheduled navigations to finish"
        assert obs.last_action_error is None or "waiting for scheduled navigations" in obs.last_action_error, (
            action,
            obs.last_action_error,
        )
    assert obs.done and obs.info["reward"] == 1.0
    assert check_task(bridged, lbi_bgym, obs).success
    assert lbi_bgym.task_info["error"] is None and lbi_bgym.task_info["detail"]


def test_a_wrong_answer_earns_nothing(lbi_bgym: BrowserGymEnv) -> None:
    bridged = Task(
        id="w",
        env="browsergym",
        instruction="",
        start={"task": "lbi.trac-web-001", "seed": 0},
        check=CheckSpec(kind="env_reward"),
        goal_at_reset=True,
    )
    lbi_bgym.reset(bridged)
    done = lbi_bgym.step("stop('no idea')")
    assert done.done and done.info["reward"] == 0.0 and "does not match" in lbi_bgym.task_info["detail"]
