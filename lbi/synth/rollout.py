"""Rollouts: run a policy in the environment and record every step in the store.

A run is named; each of its trajectories has a resume key (`<run>/<task id>` or
`<run>/explore-<k>`). Trajectories commit one by one, so re-running a run skips the finished
ones and restarts any left unfinished by a killed process. With `concurrency > 1` the work is
shared by worker processes, each with its own environment (and its own browser and server), or with
`synth.executor = "ray"` by actors on a Ray cluster (`lbi.cluster.episodes`: this process stays the only
writer of the store); the parent reports progress in the `runs` row (for the pages) and on a tqdm bar (for the CLI).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lbi.agent import Agent, Episode
from lbi.agent.policies import ExplorePolicy, LLMPolicy
from lbi.agent.recorder import StoreRecorder
from lbi.envs.base import Env
from lbi.envs.tasks import Task
from lbi.errors import ModelError, UserError, check_choice
from lbi.procs import die_with_parent
from lbi.project import Project, open_project, task_from_row
from lbi.store import leaks

Progress = Callable[[int, int], None]
POLICIES = ("llm", "explore")
EXPLORE_STARTS = ("env", "tasks")
"""Where an explore walk starts: the environment's own start (its reset without a task), or, in turn, where each
synthetic task starts (its `start`: a BrowserGym task id and seed, a page, a document), so walks cover every
kind of task the project synthesizes for; the walk still ignores the task's instruction."""


@dataclass
class WorkItem:
    """One trajectory to roll out: its resume key, the policy, and the task (a dict, so it crosses to workers)."""

    key: str
    policy: str
    task: dict[str, Any]


@dataclass
class RolloutReport:
    planned: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    steps: int = 0
    seconds: float = 0.0
    executor: str = "local"
    workers: int = 1
    ray: Any = None  # lbi.cluster.episodes.EpisodeStats of a Ray run (per-episode CPU and model time, retries)


def plan(
    project: Project,
    run_name: str,
    *,
    policy: str,
    task_ids: Sequence[str] | None = None,
    episodes: int = 0,
    limit: int | None = None,
    explore_from: str = "env",
) -> list[WorkItem]:
    """Work items of a run: one per synthetic task (llm policy) or `episodes` walks (explore: no instruction;
    `explore_from`: see `EXPLORE_STARTS`)."""
    env = project.config.env.name
    blocked = leaks.blocked(project.store, "task")  # a task the leakage check flagged: too close to a held-out one
    if policy == "explore":
        starts: list[dict[str, str]] = [{}]
        if check_choice("explore start", explore_from, EXPLORE_STARTS) == "tasks":
            tasks = [t for t in project.tasks("synthetic", task_ids, env=env) if t.id not in blocked]
            if not tasks:
                raise UserError(
                    "explore from tasks: the project has no synthetic tasks to start from (lbi tasks import "
                    "--split synthetic, or lbi tasks generate)"
                )
            starts = [{"spec_json": json.dumps({"start": t.start})} for t in tasks]
        keys = [f"{run_name}/explore-{k}" for k in range(episodes)]
        return [
            WorkItem(
                key,
                "explore",
                task_from_row({"id": key, "instruction": "", "env": env, **starts[k % len(starts)]}).model_dump(
                    mode="json"
                ),
            )
            for k, key in enumerate(keys)
        ]
    items = [
        WorkItem(f"{run_name}/{t.id}", "llm", t.model_dump(mode="json"))
        for t in project.tasks("synthetic", task_ids, env=env)
        if t.id not in blocked
    ]
    return items[:limit] if limit else items


def build_policy(project: Project, name: str, seed: str, run_id: int | None) -> LLMPolicy | ExplorePolicy:
    llm = project.llm(run_id)
    describe = project.config.env.description
    if name == "explore":
        writer = llm if project.config.synth.explore_fill == "model" else None  # None: words drawn at random
        return ExplorePolicy(seed, llm=writer, env_description=describe, example=project.config.models.agent_example)
    return LLMPolicy(llm, env_description=describe, example=project.config.models.agent_example)


def recorder_for(
    project: Project, item: WorkItem, run_id: int, max_steps: int, written: Callable[[], None] | None = None
) -> StoreRecorder:
    return StoreRecorder(
        project,
        item.key,
        run_id=run_id,
        policy=item.policy,
        model=project.config.models.for_role("agent"),
        max_steps=max_steps,
        written=written,
    )


def play(
    project: Project, env: Env, item: WorkItem, run_id: int, max_steps: int, written: Callable[[], None] | None = None
) -> Episode:
    """One episode of a work item in `env`, recorded in the project's store."""
    recorder = recorder_for(project, item, run_id, max_steps, written)
    policy = build_policy(project, item.policy, item.key, run_id)
    return Agent(policy, env, recorder, max_steps=max_steps).run(Task.model_validate(item.task))


def play_item(
    project: Project,
    env: Env,
    item: dict[str, Any],
    run_id: int,
    max_steps: int,
    written: Callable[[], None] | None = None,
) -> Episode:
    """`play` for a work item sent as a dict (to a Ray actor)."""
    return play(project, env, WorkItem(**item), run_id, max_steps, written)


def _work(
    project: Project,
    items: Sequence[WorkItem],
    run_id: int,
    max_steps: int,
    after_each: Callable[[], Any] | None = None,
) -> None:
    """Run items one after another in this process, building a new environment after a crash."""
    env: Env | None = None
    try:
        for item in items:
            env = env or project.make_env()
            episode = play(project, env, item, run_id, max_steps)
            if episode.crashed:
                env.close()
                env = None
            if after_each:
                after_each()
    finally:
        if env is not None:
            env.close()


def _worker(project_dir: str, items: list[dict[str, Any]], run_id: int, max_steps: int) -> None:
    die_with_parent()  # a killed run leaves no worker behind to race its resumption
    project = open_project(Path(project_dir))
    _work(project, [WorkItem(**i) for i in items], run_id, max_steps)


def _finished(project: Project, keys: Sequence[str]) -> tuple[int, int, int]:
    rows = project.store.query(
        "SELECT status, COUNT(*) FROM trajectories WHERE run_id IS NOT NULL AND key IN (SELECT value FROM "
        "json_each(?)) GROUP BY status",
        (json.dumps(list(keys)),),
    )
    counts = {r[0]: r[1] for r in rows}
    steps = project.store.query(
        "SELECT COUNT(*) FROM steps s JOIN trajectories t ON t.id = s.trajectory_id WHERE t.key IN "
        "(SELECT value FROM json_each(?)) AND t.status != 'running'",
        (json.dumps(list(keys)),),
    )[0][0]
    return counts.get("done", 0), counts.get("failed", 0), steps


def rollout(
    project: Project,
    run_name: str,
    *,
    policy: str | None = None,
    task_ids: Sequence[str] | None = None,
    episodes: int = 0,
    limit: int | None = None,
    concurrency: int | None = None,
    max_steps: int | None = None,
    progress: Progress | None = None,
    explore_from: str = "env",
) -> RolloutReport:
    """Run (or resume) the rollouts of `run_name`; returns counts for this run."""
    cfg = project.config.synth
    policy = check_choice("rollout policy", policy or cfg.policy, POLICIES)
    project.env_options()
    max_steps = max_steps or cfg.max_steps
    on_ray = cfg.executor == "ray"
    workers = max(1, concurrency or (on_ray and project.config.ray.workers) or cfg.concurrency)
    items = plan(
        project, run_name, policy=policy, task_ids=task_ids, episodes=episodes, limit=limit, explore_from=explore_from
    )
    config = {
        "policy": policy,
        "max_steps": max_steps,
        "concurrency": workers,
        "env": project.config.env.name,
        "model": project.config.models.for_role("agent"),
        "executor": cfg.executor,
    }
    with project.run(run_name, "rollout", config) as run:
        keys = [i.key for i in items]
        before = sum(_finished(project, keys)[:2])
        todo = [i for i in items if not _is_finished(project, i.key)]
        report = RolloutReport(planned=len(items), skipped=before, executor=cfg.executor, workers=workers)
        run.progress(before, len(items), f"{len(todo)} to go" + (f" on Ray ({workers} workers)" if on_ray else ""))
        started = time.perf_counter()
        if on_ray and todo:
            report.ray = _run_ray(project, todo, run.id, max_steps, workers, keys, progress)
        elif workers == 1 or len(todo) <= 1:
            _run_inline(project, todo, run.id, max_steps, keys, progress)
        else:
            _run_parallel(project, todo, run.id, max_steps, workers, keys, progress)
        report.done, report.failed, report.steps = _finished(project, keys)
        report.seconds = time.perf_counter() - started
        run.progress(
            report.done + report.failed, len(items), f"{report.done} done, {report.failed} failed, {report.steps} steps"
        )
    return report


def _is_finished(project: Project, key: str) -> bool:
    row = project.store.query("SELECT status FROM trajectories WHERE key = ?", (key,))
    return bool(row) and row[0][0] != "running"


def _tick(project: Project, run_id: int, keys: Sequence[str], progress: Progress | None) -> int:
    done, failed, _ = _finished(project, keys)
    project.store.update_run(run_id, done=done + failed, total=len(keys))
    if progress:
        progress(done + failed, len(keys))
    return done + failed


def _run_inline(
    project: Project,
    todo: Sequence[WorkItem],
    run_id: int,
    max_steps: int,
    keys: Sequence[str],
    progress: Progress | None,
) -> None:
    _work(project, todo, run_id, max_steps, after_each=lambda: _tick(project, run_id, keys, progress))
    _tick(project, run_id, keys, progress)


def _run_ray(
    project: Project,
    todo: Sequence[WorkItem],
    run_id: int,
    max_steps: int,
    workers: int,
    keys: Sequence[str],
    progress: Progress | None,
) -> Any:
    """The items on a Ray cluster: actors play the episodes, this process writes the store."""
    from lbi.cluster.episodes import run_episodes

    def open_trajectory(item: WorkItem) -> int | None:
        recorder = recorder_for(project, item, run_id, max_steps)
        return recorder.trajectory_id if recorder.begin(Task.model_validate(item.task)) else None

    stats = run_episodes(
        project,
        todo,
        play=play_item,
        run_id=run_id,
        max_steps=max_steps,
        workers=workers,
        open_trajectory=open_trajectory,
        after_each=lambda: _tick(project, run_id, keys, progress),
    )
    _tick(project, run_id, keys, progress)
    return stats


def _run_parallel(
    project: Project,
    todo: Sequence[WorkItem],
    run_id: int,
    max_steps: int,
    workers: int,
    keys: Sequence[str],
    progress: Progress | None,
) -> None:
    ctx = mp.get_context("spawn")
    shares = [[asdict(i) for i in todo[w::workers]] for w in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(str(project.dir), share, run_id, max_steps), daemon=False)
        for share in shares
        if share
    ]
    for proc in procs:
        proc.start()
    try:
        while any(p.is_alive() for p in procs):
            _tick(project, run_id, keys, progress)
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.join()
    _tick(project, run_id, keys, progress)
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise ModelError(f"{len(bad)} rollout worker(s) exited with errors (codes {bad}); see the run's log")
