"""Held-out evaluation on Ray (`lbi.use.evaluate` with `synth.executor = "ray"`): each (task, mode) is an episode
(`lbi.use.eval_episode`) on the episode actors of `lbi.cluster.episodes`, its check run there on the env's final
state, its evaluation row sent back like every other write.

Retrieval reads the project's index (chromadb) and store, which live on the driver's machine. A
`RetrievalServer` actor, pinned to the driver's node and taking no CPU slot, holds them and answers the
searches; the agent's search query (a model call, in agentic mode) is written on the worker, so its call is
logged like the agent's own. Every mode sees what it would locally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from lbi.cluster.episodes import run_episodes
from lbi.cluster.session import connect
from lbi.envs.base import Env, Observation
from lbi.envs.tasks import Task
from lbi.project import Project, open_project
from lbi.store import evals
from lbi.use.eval_episode import eval_key, eval_recorder, play_task
from lbi.use.retrieval import Hit, Retriever


@dataclass
class EvalItem:
    """One held-out task in one mode: its trajectory's resume key, the task (a dict) and the mode."""

    key: str
    task: dict[str, Any]
    mode: str


class RetrievalServer:
    """The index and the store's reads, on the driver's node, for the retrievers on the workers."""

    def __init__(self, project_dir: str, modes: Sequence[str]) -> None:
        from lbi.use.index import Index

        project = open_project(Path(project_dir))
        index = Index(project)
        self.retrievers = {m: Retriever(project, m, index=index) for m in modes if m != "baseline"}

    def ready(self) -> bool:
        return True

    def call(self, mode: str, method: str, *args: Any) -> list[Hit]:
        return getattr(self.retrievers[mode], method)(*args)


class RemoteRetriever(Retriever):
    """A retriever on a worker: the same `retrieve` as locally, its searches answered by the `RetrievalServer`."""

    def __init__(self, project: Project, mode: str, server: Any, run_id: int) -> None:
        super().__init__(project, mode, index=server, run_id=run_id)  # `index` only marks retrieval as available
        self.server = server

    def _ask(self, method: str, *args: Any) -> list[Hit]:
        return ray.get(self.server.call.remote(self.mode, method, *args))

    def by_observation(self, obs: Observation) -> list[Hit]:
        return self._ask("by_observation", obs)

    def by_query(self, query: str, source: str = "model") -> list[Hit]:
        return self._ask("by_query", query, source)

    def examples(self, text: str, source: str, vector: Any = None) -> list[Hit]:
        return self._ask("examples", text, source)

    def docs(self, text: str) -> list[Hit]:
        return self._ask("docs", text)


def play_eval(
    project: Project,
    env: Env,
    item: dict[str, Any],
    run_id: int,
    max_steps: int,
    written: Callable[[], None],
    *,
    run: str,
    server: Any,
) -> Any:
    """`play` for an evaluation item on an episode actor."""
    retriever = None if item["mode"] == "baseline" else RemoteRetriever(project, item["mode"], server, run_id)
    episode, _ = play_task(
        project, env, retriever, Task.model_validate(item["task"]), item["mode"], run, run_id, max_steps, written
    )
    return episode


def evaluate_on_ray(
    project: Project,
    modes: Sequence[str],
    tasks: Sequence[Task],
    run: str,
    run_id: int,
    max_steps: int,
    after_each: Callable[[], Any],
) -> Any:
    """Every (task, mode) not yet evaluated in this run, on the cluster; an episode whose worker died every
    time it ran is recorded as an error of that task, as a crashed episode is locally."""
    todo = [
        EvalItem(eval_key(run, mode, task.id), task.model_dump(mode="json"), mode)
        for mode in modes
        for task in tasks
        if not evals.evaluation(project.store, run_id, task.id, mode)
    ]
    if not todo:
        return None
    workers = max(1, project.config.ray.workers)
    connect(project.config, workers)
    server: Any = None  # the RetrievalServer actor (its methods are not typed for Ray: no @ray.method)
    if any(m != "baseline" for m in modes):
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        server = (
            ray.remote(num_cpus=0)(RetrievalServer)
            .options(scheduling_strategy=here)
            .remote(str(project.dir), list(modes))
        )
        ray.get(server.ready.remote())

    def open_trajectory(item: EvalItem) -> int | None:
        task = Task.model_validate(item.task)
        recorder = eval_recorder(project, run, item.mode, task, run_id, max_steps)
        return recorder.trajectory_id if recorder.begin(task) else None

    try:
        stats = run_episodes(
            project,
            todo,
            play=partial(play_eval, run=run, server=server),
            run_id=run_id,
            max_steps=max_steps,
            workers=workers,
            open_trajectory=open_trajectory,
            after_each=after_each,
        )
    finally:
        if server is not None:
            ray.kill(server, no_restart=True)
    model = project.config.models.for_role("agent")
    for item in todo:  # lost to dead workers: the trajectory says why
        task_id = item.task["id"]
        if evals.evaluation(project.store, run_id, task_id, item.mode) is None:
            row = project.store.query("SELECT id, error FROM trajectories WHERE key = ?", (item.key,))
            tid, error = row[0] if row else (None, None)
            project.store.add_evaluation(
                run_id=run_id,
                task_id=task_id,
                mode=item.mode,
                n_steps=0,
                trajectory_id=tid,
                model=model,
                success=0,
                detail="",
                error=error or "the episode did not finish on Ray",
            )
    return stats
