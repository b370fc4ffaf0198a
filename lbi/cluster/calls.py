"""Model work as Ray tasks (backward-construction batches, judge calls), a limited number in flight per model.

A job is a module-level function `fn(project, *args)` that takes a project and calls models through
`project.llm(...)`. It runs on a worker against a project whose store is a `StoreRelay`; its result and the
writes it made come back, and the driver replays the writes (in the order jobs finish) before it hands the
result on. API rate limits are per model, so each job names its model and at most `[ray] model_concurrency`
(or `default_model_concurrency`) jobs of one model are in flight at once, across the whole cluster: the
driver is the only one submitting. A job whose worker died is submitted again (Ray's task retries).
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbi.cluster.relay import Call, StoreRelay, apply
from lbi.cluster.session import connect
from lbi.config import Config
from lbi.project import Project

TASK_RETRIES = 3


@dataclass
class Job:
    model: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    tag: Any = None  # the caller's, handed back with the result


def _run_job(config: dict[str, Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, list[Call]]:
    """On a worker: `fn(project, *args)` against a relay store; its result and its writes."""
    from lbi.cluster.shipping import WorkerProject, node_root

    root = node_root()
    project = WorkerProject(
        dir=Path(tempfile.mkdtemp(prefix="task-", dir=root)),
        config=Config.model_validate(config),
        store=StoreRelay(),  # type: ignore[arg-type]
        cache_root=root / "cache" / "tasks" / "llm",
    )
    try:
        result = fn(project, *args)
        return result, project.store.drain()  # type: ignore[attr-defined]
    finally:
        project.close()


def run_jobs(project: Project, jobs: Iterable[Job], on_result: Callable[[Job, Any, dict[str, int]], None]) -> int:
    """Run the jobs on the cluster, each model's at most its limit at once; `on_result(job, result, made)` follows
    each, after its writes reached the store (`made`: rows per kind of write, as `relay.apply` counts them).
    Returns how many ran."""
    import ray
    from ray.exceptions import RayTaskError

    connect(project.config)
    config = ray.put(project.config.model_dump(mode="json"))
    task = ray.remote(num_cpus=0, max_retries=TASK_RETRIES)(_run_job)
    queues: dict[str, deque[Job]] = {}
    for job in jobs:
        queues.setdefault(job.model, deque()).append(job)
    in_flight: dict[Any, Job] = {}
    busy: dict[str, int] = dict.fromkeys(queues, 0)
    ran = 0
    try:
        while in_flight or any(queues.values()):
            for model, waiting in queues.items():
                while waiting and busy[model] < project.config.ray.limit(model):
                    job = waiting.popleft()
                    in_flight[task.remote(config, job.fn, job.args)] = job
                    busy[model] += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                job = in_flight.pop(ref)
                busy[job.model] -= 1
                try:
                    result, calls = ray.get(ref)
                except RayTaskError as exc:
                    raise exc.as_instanceof_cause() from None
                on_result(job, result, apply(project.store, calls))
                ran += 1
    finally:
        for ref in in_flight:
            ray.cancel(ref)
    return ran
