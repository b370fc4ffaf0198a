"""The agent loop on a real SQLite environment: how an episode ends, what the recorder sees, what it skips."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lbi.agent import Agent, Decision, Episode, History, Recorder
from lbi.agent.recorder import StoreRecorder
from lbi.envs.base import Env, Observation
from lbi.envs.sql import SqlEnv
from lbi.envs.tasks import CheckSpec, Task
from lbi.errors import ModelAuthError, ModelError
from lbi.project import Project

TASK = Task(
    id="count",
    env="sql",
    instruction="How many items are there?",
    check=CheckSpec(kind="answer", params={"expected": "2"}),
)


class Script:
    """A policy that plays a fixed list of actions (an exception in the list is raised instead)."""

    name = "script"

    def __init__(self, *actions: str | Exception) -> None:
        self.actions = list(actions)
        self.seen: list[tuple[str, int, str]] = []

    def act(self, env: Env, task: Task, obs: Observation, history: History, examples: str = "") -> Decision:
        self.seen.append((task.instruction, len(history), examples))
        action = self.actions.pop(0)
        if isinstance(action, Exception):
            raise action
        return Decision(action=action, reasoning="scripted")


class Keep(Recorder):
    def __init__(self, skip: bool = False) -> None:
        self.skip = skip
        self.steps: list[tuple[int, str, str | None]] = []
        self.finished: list[Episode] = []

    def begin(self, task: Task) -> str | None:
        return None if self.skip else super().begin(task)

    def step(self, index: int, obs: Observation, decision: Decision, after: Observation, seconds: float) -> None:
        self.steps.append((index, decision.action, after.last_action_error))

    def finish(self, episode: Episode) -> None:
        self.finished.append(episode)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items (name) VALUES (?)", [("pen",), ("ink",)])
    return path


def test_stop_ends_the_episode_with_the_answer_and_every_step_recorded(db: Path) -> None:
    policy, recorder = Script("execute_sql('SELECT COUNT(*) FROM items')", "stop('2')"), Keep()
    with SqlEnv(db) as env:
        episode = Agent(policy, env, recorder, max_steps=5, examples=lambda t, o, h: f"hint {len(h)}").run(TASK)
    assert episode.final is not None
    assert (episode.status, episode.steps, episode.final.answer, episode.crashed) == ("done", 2, "2", False)
    assert [s[:2] for s in recorder.steps] == [(0, "execute_sql('SELECT COUNT(*) FROM items')"), (1, "stop('2')")]
    assert policy.seen == [(TASK.instruction, 0, "hint 0"), (TASK.instruction, 1, "hint 1")]
    assert recorder.finished == [episode]


def test_the_step_limit_ends_the_episode_and_failed_actions_go_on(db: Path) -> None:
    policy, recorder = Script("SELECT nonsense FROM nowhere", "SELECT 1", "SELECT 2", "stop('never')"), Keep()
    with SqlEnv(db) as env:
        episode = Agent(policy, env, recorder, max_steps=3).run(TASK)
    assert episode.final is not None
    assert (episode.status, episode.steps, episode.final.answer) == ("done", 3, None)
    assert recorder.steps[0][2] and "no such" in recorder.steps[0][2]  # the error came back in the observation
    assert policy.actions == ["stop('never')"]


def test_a_model_failure_fails_the_episode_but_a_bad_key_stops_the_run(db: Path) -> None:
    with SqlEnv(db) as env:
        episode = Agent(Script("SELECT 1", ModelError("server gone")), env, Keep(), max_steps=5).run(TASK)
        assert (episode.status, episode.steps, episode.error) == ("failed", 1, "server gone")
        with pytest.raises(ModelAuthError):
            Agent(Script(ModelAuthError("refused")), env, Keep(), max_steps=5).run(TASK)


def test_an_episode_finished_before_is_skipped(db: Path) -> None:
    policy = Script("stop('2')")
    with SqlEnv(db) as env:
        episode = Agent(policy, env, Keep(skip=True)).run(TASK)
    assert episode.status == "skipped" and policy.seen == []


def test_the_store_recorder_writes_the_trajectory_once_and_resumes(project: Project, db: Path) -> None:
    project.store.add_tasks([{"id": TASK.id, "instruction": TASK.instruction, "env": "sql", "split": "heldout"}])
    with SqlEnv(db) as env:

        def run() -> str:
            recorder = StoreRecorder(project, "r/count", run_id=None, policy="llm", model="fake", max_steps=4)
            return Agent(Script("SELECT COUNT(*) FROM items", "stop('2')"), env, recorder, max_steps=4).run(TASK).status

        assert run() == "done"
        assert run() == "skipped"
    traj = project.store.query("SELECT id, status, answer, task_id, instruction FROM trajectories")
    assert [tuple(t)[1:] for t in traj] == [("done", "2", "count", TASK.instruction)]
    steps = project.store.query("SELECT idx, action, error FROM steps WHERE trajectory_id = ?", (traj[0]["id"],))
    assert [tuple(s) for s in steps] == [(0, "SELECT COUNT(*) FROM items", None), (1, "stop('2')", None)]
