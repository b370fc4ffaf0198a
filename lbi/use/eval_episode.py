"""One evaluation episode: the agent on one held-out task in one retrieval mode, then the task's check on the env's
final state, both written to the store. Played here by `lbi.use.evaluate` and on Ray's episode actors by
`lbi.use.evaluate_ray`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lbi.agent import Agent, Episode
from lbi.agent.policies import LLMPolicy
from lbi.agent.recorder import StoreRecorder
from lbi.envs.base import Env
from lbi.envs.tasks import Task, check_task
from lbi.project import Project
from lbi.use.retrieval import Retriever


def eval_key(run: str, mode: str, task_id: str) -> str:
    """The resume key of a task's evaluation trajectory in one mode."""
    return f"{run}/{mode}/{task_id}"


def eval_recorder(
    project: Project,
    run: str,
    mode: str,
    task: Task,
    run_id: int,
    max_steps: int,
    written: Callable[[], None] | None = None,
) -> StoreRecorder:
    return StoreRecorder(
        project,
        eval_key(run, mode, task.id),
        run_id=run_id,
        policy="llm",
        model=project.config.models.for_role("agent"),
        max_steps=max_steps,
        written=written,
    )


def play_task(
    project: Project,
    env: Env,
    retriever: Retriever | None,
    task: Task,
    mode: str,
    run: str,
    run_id: int,
    max_steps: int,
    written: Callable[[], None] | None = None,
) -> tuple[Episode, dict[str, Any]]:
    """The agent on one held-out task in one mode, then the task's check on the env's final state; both are
    written to the store (an evaluation row per task and mode)."""
    model = project.config.models.for_role("agent")
    policy = LLMPolicy(
        project.llm(run_id),
        env_description=project.config.env.description,
        example=project.config.models.agent_example,
    )
    recorder = eval_recorder(project, run, mode, task, run_id, max_steps, written)
    agent = Agent(policy, env, recorder, max_steps=max_steps, examples=None if mode == "baseline" else retriever)
    episode = agent.run(task)
    if episode.final is None or episode.status == "failed":
        check = {"success": 0, "detail": "", "error": episode.error or "episode failed"}
    else:
        outcome = check_task(task, env, episode.final)
        check = {"success": int(outcome.success), "detail": outcome.detail, "error": outcome.error}
    project.store.add_evaluation(
        run_id=run_id,
        task_id=task.id,
        mode=mode,
        n_steps=episode.steps,
        trajectory_id=episode.trajectory_id,
        model=model,
        **check,
    )
    return episode, check
