"""The agent loop: a policy acting in an environment on one task, every step handed to a recorder.

    episode = Agent(policy, env, recorder, max_steps=8).run(task)

Rollouts (synthesis) and evaluation (held-out tasks) both run this loop. How an episode ends is a typed
exception raised by `step` and caught by `run`: the policy stopped (`Submitted`), the step limit was reached
(`StepLimitReached`), or the environment crashed (`lbi.envs.EnvCrashed`, with the last observation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lbi.envs.base import Env, EnvCrashed, Observation
from lbi.errors import ModelAuthError, ModelError, UnknownModelError
from lbi.prompts.messages import history_text

if TYPE_CHECKING:
    from lbi.envs.tasks import Task


class AgentStop(Exception):
    """The episode is over; `obs` is the last observation."""

    def __init__(self, obs: Observation) -> None:
        super().__init__(obs.last_action_error or "")
        self.obs = obs


class Submitted(AgentStop):
    """The policy stopped (`stop(...)` / `send_msg_to_user(...)`)."""


class StepLimitReached(AgentStop):
    """`max_steps` actions were taken."""


@dataclass
class Decision:
    action: str
    reasoning: str = ""
    error: str | None = None  # the model's reply could not be used (recorded, the episode goes on)
    raw: str | None = None
    system: str | None = None  # the agent's system message at this step (`prompts.messages.agent_system`)
    observation: str | None = None  # the observation as the agent was shown it (`prompts.messages.observation_text`)


@dataclass
class History:
    entries: list[tuple[str, str | None]] = field(default_factory=list)  # (action, error)

    def add(self, action: str, error: str | None) -> None:
        self.entries.append((action, error))

    def render(self) -> str:
        return history_text(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class Policy(Protocol):
    """Chooses the next action; `examples` is retrieved text for the prompt (empty without retrieval)."""

    name: str

    def act(self, env: Env, task: Task, obs: Observation, history: History, examples: str = "") -> Decision: ...


Examples = Callable[["Task", Observation, History], str]


@dataclass
class Episode:
    status: str  # done | failed | skipped (finished by an earlier run)
    steps: int = 0
    final: Observation | None = None
    error: str | None = None
    trajectory_id: int | None = None
    crashed: bool = False  # the environment died: the caller builds a new one for the next episode


class Recorder:
    """Where an episode goes. This one keeps nothing; `lbi.agent.recorder.StoreRecorder` writes the store."""

    trajectory_id: int | None = None

    def begin(self, task: Task) -> str | None:
        """The episode id, or None when this episode was finished before (the agent then skips it)."""
        return f"{task.id}-{int(time.time() * 1000)}"

    def step(self, index: int, obs: Observation, decision: Decision, after: Observation, seconds: float) -> None:
        """One step: the observation acted on, the decision, the observation after it."""

    def goal(self, goal: str, where: dict[str, Any]) -> None:
        """The environment stated the task's goal at reset (a `goal_at_reset` task): the episode's instruction;
        `where` says which of the environment's tasks it was (browsergym: `task`, `seed`)."""

    def finish(self, episode: Episode) -> None:
        """The episode ended (also when it failed)."""


class Agent:
    def __init__(
        self,
        policy: Policy,
        env: Env,
        recorder: Recorder | None = None,
        *,
        max_steps: int = 8,
        examples: Examples | None = None,
    ) -> None:
        self.policy, self.env, self.recorder = policy, env, recorder or Recorder()
        self.max_steps, self.examples = max_steps, examples

    def run(self, task: Task) -> Episode:
        """Reset to the task, then step until the episode ends; a model failure that the next task would meet
        too (bad key, unknown model) is raised, any other ends this episode as failed."""
        episode_id = self.recorder.begin(task)
        if episode_id is None:
            return Episode("skipped", trajectory_id=self.recorder.trajectory_id)
        history = History()
        try:
            obs = self.env.reset(task, episode_id=episode_id)
            task = self._with_goal(task, obs)
            while True:
                obs = self.step(task, obs, history)
        except EnvCrashed as exc:
            if exc.obs is None:  # raised by reset: it never started
                episode = Episode("failed", error=f"environment did not start: {exc}", crashed=True)
            else:  # died mid-episode (browser or server gone)
                episode = Episode("failed", len(history), exc.obs, error=str(exc), crashed=True)
        except (Submitted, StepLimitReached) as stop:
            episode = Episode("done", len(history), stop.obs)
        except (ModelAuthError, UnknownModelError):
            raise
        except ModelError as exc:
            episode = Episode("failed", len(history), error=str(exc))
        episode.trajectory_id = self.recorder.trajectory_id
        self.recorder.finish(episode)
        return episode

    def _with_goal(self, task: Task, obs: Observation) -> Task:
        """A task whose goal the environment states at reset, with that goal as its instruction (recorded)."""
        goal = str(obs.info.get("goal") or "").strip()
        if not goal or not (task.goal_at_reset or not task.instruction.strip()):
            return task
        self.recorder.goal(goal, {k: obs.info[k] for k in ("task", "seed") if k in obs.info})
        return task.model_copy(update={"instruction": goal})

    def step(self, task: Task, obs: Observation, history: History) -> Observation:
        """One action: ask the policy (with retrieved examples), act, record; raise when the episode is over."""
        if len(history) >= self.max_steps:
            raise StepLimitReached(obs)
        started = time.perf_counter()
        examples = self.examples(task, obs, history) if self.examples else ""
        decision = self.policy.act(self.env, task, obs, history, examples)
        after = self.env.step(decision.action)
        self.recorder.step(len(history), obs, decision, after, time.perf_counter() - started)
        history.add(decision.action, decision.error or after.last_action_error)
        if after.info.get("crashed"):
            raise EnvCrashed(str(after.info["crashed"]), obs=after)
        if after.done:
            raise Submitted(after)
        return after
