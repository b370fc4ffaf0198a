"""The recorder that writes an episode to the project's store: one trajectory row (keyed, so a run resumes),
one row per step with its screenshot, the model replies that could not be used, and the end state."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lbi.agent.loop import Decision, Episode, Recorder
from lbi.envs.base import Observation
from lbi.project import Project

if TYPE_CHECKING:
    from lbi.envs.tasks import Task


class StoreRecorder(Recorder):
    """Records under `key` (`<run>/<task id>`, `<run>/explore-<k>`, `<run>/<mode>/<task id>`); a key whose
    trajectory is finished is skipped, one left `running` by a killed process starts again. `written` is called
    after each step and at the end (a Ray worker sends what its store relay holds to the driver then)."""

    def __init__(
        self,
        project: Project,
        key: str,
        *,
        run_id: int | None,
        policy: str,
        model: str | None,
        max_steps: int,
        written: Callable[[], None] | None = None,
    ) -> None:
        self.project, self.key, self.run_id, self.written = project, key, run_id, written
        self.fields: dict[str, Any] = {
            "policy": policy,
            "model": model,
            "env": project.config.env.name,
            "config_json": {"max_steps": max_steps},
        }

    def begin(self, task: Task) -> str | None:
        synthetic_explore = self.fields["policy"] == "explore"
        self.trajectory_id, state = self.project.store.begin_trajectory(
            self.key,
            run_id=self.run_id,
            task_id=None if synthetic_explore else task.id,
            instruction=None if synthetic_explore else task.instruction,
            **self.fields,
        )
        return f"traj-{self.trajectory_id}" if state == "running" else None

    def _begun(self) -> int:
        if self.trajectory_id is None:
            raise RuntimeError("the recorder records after begin()")
        return self.trajectory_id

    def step(self, index: int, obs: Observation, decision: Decision, after: Observation, seconds: float) -> None:
        store, tid = self.project.store, self._begun()
        shot = after.info.get("action_screenshot") or obs.screenshot  # with the acted-on element boxed
        store.add_step(
            tid,
            index,
            observation=obs.text,
            screenshot=self.project.relative(shot),
            action=decision.action,
            reasoning=decision.reasoning,
            url=obs.url,
            state_signature=obs.state_signature,
            error=decision.error or after.last_action_error,
            latency_ms=seconds * 1000,
            prompt_system=decision.system,
            prompt_observation=decision.observation,
        )
        if decision.raw is not None:
            store.add_failure("act", decision.error or "", item=f"{tid}:{index}", raw=decision.raw, run_id=self.run_id)
        if self.written:
            self.written()

    def goal(self, goal: str, where: dict[str, Any]) -> None:
        self.project.store.set_trajectory_goal(
            self._begun(), goal, where, as_instruction=self.fields["policy"] != "explore"
        )

    def finish(self, episode: Episode) -> None:
        obs = episode.final
        final = (
            None
            if obs is None
            else {"observation": obs.text, "url": obs.url, "screenshot": self.project.relative(obs.screenshot)}
        )
        reward = obs.info.get("total_reward") if obs is not None else None
        self.project.store.finish_trajectory(
            self._begun(),
            status=episode.status,
            error=episode.error,
            answer=obs.answer if obs else None,
            final=final,
            reward=None if reward is None else float(reward),
        )
        if self.written:
            self.written()
