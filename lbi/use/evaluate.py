"""Held-out evaluation: the agent on tasks with programmatic checks, in each retrieval mode.

Same model, same step limit, same tasks for every mode; success by each task's own check, stored
per task and mode in `evaluations`, summarised as a success rate with n and a Wilson 95% interval.
Evaluation trajectories are recorded (for inspection) but never feed synthesis: their runs are of
kind `eval`, and `leakage` checks that no example comes from a held-out task.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbi.agent import Agent
from lbi.agent.policies import LLMPolicy
from lbi.agent.recorder import StoreRecorder
from lbi.envs.base import Env
from lbi.envs.tasks import Task, check_task
from lbi.errors import NotFoundError, check_choice
from lbi.project import Project
from lbi.store import read
from lbi.store import tasks as stored_tasks
from lbi.synth.rollout import build_env, env_options
from lbi.use.index import Index
from lbi.use.retrieval import MODES, Retriever, describe

Progress = Callable[[int, int], None]


@dataclass
class ModeSummary:
    mode: str
    n: int = 0
    successes: int = 0
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.n)


@dataclass
class EvalReport:
    run: str
    summaries: dict[str, ModeSummary] = field(default_factory=dict)
    retrieved: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def heldout_tasks(project: Project, task_ids: Sequence[str] | None = None, limit: int | None = None) -> list[Task]:
    """The held-out tasks of the configured environment, by id."""
    tasks = sorted(stored_tasks.tasks(project.store, "heldout", project.config.env.name, task_ids), key=lambda t: t.id)
    return tasks[:limit] if limit else tasks


def evaluate(project: Project, modes: Sequence[str], *, run: str = "eval", task_ids: Sequence[str] | None = None,
             limit: int | None = None, max_steps: int | None = None, progress: Progress | None = None,
             keep_retrievals: int = 2) -> EvalReport:
    """Run every held-out task in every mode (resumable: finished (task, mode) pairs are kept)."""
    for mode in modes:
        check_choice("evaluation mode", mode, MODES)
    env_options(project)
    tasks = heldout_tasks(project, task_ids, limit)
    if not tasks:
        env = project.config.env.name
        if task_ids is not None:
            raise NotFoundError(f"none of {', '.join(task_ids) or 'the given ids'} is a held-out task of env {env!r}: "
                                "see `lbi tasks list --split heldout`")
        raise NotFoundError(f"no held-out tasks for env {env!r}: import some with `lbi tasks import FILE`")
    steps = max_steps or project.config.synth.max_steps
    config = {"modes": list(modes), "max_steps": steps, "model": project.config.models.for_role("agent")}
    report = EvalReport(run=run)
    with project.run(run, "eval", config) as run_:
        index = Index(project) if any(m != "baseline" for m in modes) else None
        if index is not None:
            index.sync()
        total, done = len(tasks) * len(modes), 0
        env: Env | None = None
        try:
            for mode in modes:
                summary = report.summaries.setdefault(mode, ModeSummary(mode))
                retriever = Retriever(project, mode, index=index, run_id=run_.id)
                for task in tasks:
                    env = env or build_env(project)
                    result = _one(project, env, retriever, task, mode, run, run_.id, steps)
                    if result.get("crashed"):
                        env.close()
                        env = None
                    summary.n += 1
                    summary.successes += int(bool(result["success"]))
                    summary.errors += int(bool(result["error"]))
                    if retriever.last is not None and len(report.retrieved.setdefault(mode, [])) < keep_retrievals:
                        report.retrieved[mode].append({"task": task.id, **describe(retriever.last)})
                    done += 1
                    run_.progress(done, total)
                    if progress:
                        progress(done, total)
        finally:
            if env is not None:
                env.close()
        run_.message = ", ".join(f"{m} {s.successes}/{s.n}" for m, s in report.summaries.items())
    return report


def _one(project: Project, env: Env, retriever: Retriever, task: Task, mode: str, run: str, run_id: int,
         max_steps: int) -> dict[str, Any]:
    existing = project.store.query("SELECT success, error FROM evaluations WHERE run_id = ? AND task_id = ? "
                                   "AND mode = ?", (run_id, task.id, mode))
    if existing:
        return {"success": existing[0]["success"], "error": existing[0]["error"]}
    model = project.config.models.for_role("agent")
    policy = LLMPolicy(project.llm(run_id), env_description=project.config.env.description)
    recorder = StoreRecorder(project, f"{run}/{mode}/{task.id}", run_id=run_id, policy="llm", model=model,
                             max_steps=max_steps)
    agent = Agent(policy, env, recorder, max_steps=max_steps, examples=None if mode == "baseline" else retriever)
    episode = agent.run(task)
    if episode.final is None or episode.status == "failed":
        check = {"success": 0, "detail": "", "error": episode.error or "episode failed"}
    else:
        outcome = check_task(task, env, episode.final)
        check = {"success": int(outcome.success), "detail": outcome.detail, "error": outcome.error}
    project.store.add_evaluation(run_id=run_id, task_id=task.id, mode=mode, n_steps=episode.steps,
                                 trajectory_id=episode.trajectory_id, model=model, **check)
    return {**check, "crashed": episode.crashed}


def results(project: Project, run: str | None = None) -> list[dict[str, Any]]:
    """Success per mode for a run (default: every eval run), with n and the Wilson interval."""
    sql = ("SELECT r.name AS run, e.mode, COUNT(*) AS n, SUM(e.success) AS successes, "
           "SUM(e.error IS NOT NULL) AS errors FROM evaluations e JOIN runs r ON r.id = e.run_id")
    params: tuple[Any, ...] = ()
    if run:
        sql += " WHERE r.name = ?"
        params = (run,)
    out = []
    for row in project.store.query(sql + " GROUP BY r.name, e.mode ORDER BY r.name, e.mode", params):
        low, high = wilson(row["successes"] or 0, row["n"])
        out.append({**dict(row), "rate": (row["successes"] or 0) / row["n"], "ci_low": low, "ci_high": high})
    return out


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs: `b` tasks only arm A solved, `c` only B."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@dataclass
class Paired:
    """Two arms on the same tasks: the tasks each solved alone, and McNemar's exact p-value."""

    a: str
    b: str
    tasks: int
    only_a: list[str]
    only_b: list[str]

    @property
    def p_value(self) -> float:
        return mcnemar(len(self.only_a), len(self.only_b))


def paired(project: Project, run: str, a: str, b: str) -> Paired:
    """Compare modes `a` and `b` of an eval run over the tasks both ran (success per task, from the store)."""
    rows = project.store.query(
        "SELECT e.task_id, e.mode, e.success FROM evaluations e JOIN runs r ON r.id = e.run_id "
        "WHERE r.name = ? AND e.mode IN (?, ?)", (run, a, b))
    success: dict[str, dict[str, int]] = {}
    for row in rows:
        success.setdefault(row["task_id"], {})[row["mode"]] = int(row["success"])
    both = {task: s for task, s in success.items() if a in s and b in s}
    return Paired(a, b, len(both), sorted(t for t, s in both.items() if s[a] > s[b]),
                  sorted(t for t, s in both.items() if s[b] > s[a]))


def leakage(project: Project) -> dict[str, Any]:
    """Examples whose trajectory served a held-out task or an eval run (must be none)."""
    rows = project.store.query(
        f"SELECT e.id FROM {read.WITH_TASK_AND_RUN} JOIN examples e ON e.trajectory_id = t.id "
        f"WHERE NOT ({read.TRAINABLE})")
    return {"examples_from_heldout": [r[0] for r in rows], "ok": not rows,
            "detail": json.dumps([r[0] for r in rows][:20])}
