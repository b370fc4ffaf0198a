"""The ``replay`` judge: a span must come out the same when its actions are re-run from its start state.

A span's start state is restored by replaying its trajectory from the task's reset: the prefix before the span,
then the span (`lbi.envs.replay`). Each trajectory is replayed once, in a fresh environment of the project's
kind (no screenshots), and every example on it is judged from that one replay: the start state restored, the same
errors step by step, the same end state (URL, answer, observation up to times and dates). A span that only worked
by accident — a page that raced, a state nobody can restore — is not a lesson. An environment whose reset is not
deterministic (a BrowserGym task drawing its goal from a random seed, a live site) cannot be replayed: the
verdict is then no, with that reason.

The replay also reads what each step really did (rows, saved cells, the diff, and in a repository the tests each
code change makes pass or fail); the committee hands those effects to the ``grounding`` judge when both sit on
it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbi.envs import make_env
from lbi.envs.base import Env, EnvError
from lbi.envs.replay import Probe, Replay, ReplayError, Reproduction, cannot_replay, replay, reproduces
from lbi.envs.tasks import CheckSpec, Task
from lbi.project import Project

REPLAY = "replay"
"""The focus of the replay judge in `[[models.judges]]`."""
TEST_PATHS = {"repo": ("tests",)}
"""Environments whose replays run the repository's tests (the folder named) on each code change: the grounding rule
then asks a fix to make a failing test pass and break none."""


def after_span(steps: list[dict[str, Any]], end: int, trajectory: dict[str, Any]) -> dict[str, Any]:
    """What followed step `end`: the next step's observation and URL, or the trajectory's end state."""
    if end + 1 < len(steps):
        return {"observation": steps[end + 1].get("observation"), "url": steps[end + 1].get("url"), "answer": None}
    return {
        "observation": trajectory.get("final_observation"),
        "url": trajectory.get("final_url"),
        "answer": trajectory.get("answer"),
    }


@dataclass
class Replays:
    """Replays of a project's trajectories, one each, in one environment opened when first needed."""

    project: Project
    env: Env | None = None
    probe: Probe = field(default_factory=Probe)
    done: dict[int, Replay | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.project.config.env.name in TEST_PATHS and not self.probe.tests:
            self.probe.tests = TEST_PATHS[self.project.config.env.name]

    def trajectory(self, trajectory_id: int) -> dict[str, Any]:
        rows = self.project.store.query(
            "SELECT id, key, task_id, env, policy, answer, final_observation, final_url FROM trajectories WHERE id = ?",
            (trajectory_id,),
        )
        return dict(rows[0]) if rows else {}

    def task(self, trajectory: dict[str, Any]) -> Task:
        task = self.project.task(trajectory["task_id"]) if trajectory.get("task_id") else None
        return task or Task(
            id=str(trajectory.get("key") or trajectory.get("id")),
            env=trajectory.get("env") or "",
            instruction="",
            check=CheckSpec(kind="none"),
            split="synthetic",
        )

    def of(self, trajectory_id: int, steps: list[dict[str, Any]]) -> Replay | str:
        """The trajectory's replay, or why it cannot be replayed."""
        if trajectory_id in self.done:
            return self.done[trajectory_id]
        trajectory = self.trajectory(trajectory_id)
        task = self.task(trajectory)
        if trajectory.get("env") and trajectory["env"] != self.project.config.env.name:
            result: Replay | str = (
                f"the trajectory ran in {trajectory['env']}, the project's environment is "
                f"{self.project.config.env.name}"
            )
        else:
            try:
                env = self._env()
                why = cannot_replay(env, task)
                result = why or replay(env, task, [s.get("action") or "" for s in steps], probe=self.probe)
            except (ReplayError, EnvError) as err:
                result = str(err)
        self.done[trajectory_id] = result
        return result

    def _env(self) -> Env:
        if self.env is None:
            options = {k: v for k, v in self.project.env_options().items() if k != "screenshot_dir"}
            self.env = make_env(self.project.config.env.name, **options)  # a replay takes no screenshots
        return self.env

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


def judge_span(
    replays: Replays, trajectory_id: int, steps: list[dict[str, Any]], start: int, end: int
) -> tuple[Reproduction, list[dict[str, Any]] | None]:
    """The replay verdict of steps `start..end` of a trajectory, and the replayed span (steps with their effects)
    when it reproduced."""
    got = replays.of(trajectory_id, steps)
    if isinstance(got, str):
        return Reproduction(False, f"cannot be replayed: {got}"), None
    after = after_span(steps, end, replays.trajectory(trajectory_id))
    verdict = reproduces(steps, got, start, end, after)
    if not verdict.same:
        return verdict, None
    return verdict, [s.model_dump() for s in got.steps[start : end + 1]]
