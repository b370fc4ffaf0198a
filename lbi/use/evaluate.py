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

from lbi.agent.policies import LLMPolicy
from lbi.envs.base import Env
from lbi.errors import NotFoundError, check_choice
from lbi.use.index import Index
from lbi.project import Project
from lbi.use.retrieval import MODES, Retriever, describe
from lbi.synth.rollout import WorkItem, build_env, run_episode, task_from_row
from lbi.envs.tasks import check_task

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


def heldout_rows(project: Project, task_ids: Sequence[str] | None = None, limit: int | None = None
                 ) -> list[dict[str, Any]]:
    rows = [dict(r) for r in project.store.query(
        "SELECT id, instruction, env, spec_json FROM tasks WHERE split = 'heldout' AND env = ? ORDER BY id",
        (project.config.env.name,))]
    if task_ids is not None:
        rows = [r for r in rows if r["id"] in set(task_ids)]
    return rows[:limit] if limit else rows


def evaluate(project: Project, modes: Sequence[str], *, run: str = "eval", task_ids: Sequence[str] | None = None,
             limit: int | None = None, max_steps: int | None = None, progress: Progress | None = None,
             keep_retrievals: int = 2) -> EvalReport:
    """Run every held-out task in every mode (resumable: finished (task, mode) pairs are kept)."""
    for mode in modes:
        check_choice("evaluation mode", mode, MODES)
    rows = heldout_rows(project, task_ids, limit)
    if not rows:
        env = project.config.env.name
        if task_ids is not None:
            raise NotFoundError(f"none of {', '.join(task_ids) or 'the given ids'} is a held-out task of env {env!r}: "
                                "see `lbi tasks list --split heldout`")
        raise NotFoundError(f"no held-out tasks for env {env!r}: import some with `lbi tasks import FILE`")
    steps = max_steps or project.config.synth.max_steps
    run_id = project.store.start_run(run, "eval", {"modes": list(modes), "max_steps": steps,
                                                   "model": project.config.models.for_role("agent")})
    index = Index(project) if any(m != "baseline" for m in modes) else None
    if index is not None:
        index.sync()
    report = EvalReport(run=run)
    total, done = len(rows) * len(modes), 0
    env: Env | None = None
    try:
        for mode in modes:
            summary = report.summaries.setdefault(mode, ModeSummary(mode))
            retriever = Retriever(project, mode, index=index, run_id=run_id)
            for row in rows:
                env = env or build_env(project)
                result = _one(project, env, retriever, row, mode, run, run_id, steps)
                if result.get("crashed"):
                    env.close()
                    env = None
                summary.n += 1
                summary.successes += int(bool(result["success"]))
                summary.errors += int(bool(result["error"]))
                if retriever.last is not None and len(report.retrieved.setdefault(mode, [])) < keep_retrievals:
                    report.retrieved[mode].append({"task": row["id"], **describe(retriever.last)})
                done += 1
                project.store.update_run(run_id, done=done, total=total)
                if progress:
                    progress(done, total)
    finally:
        if env is not None:
            env.close()
    project.store.update_run(run_id, status="done", message=", ".join(
        f"{m} {s.successes}/{s.n}" for m, s in report.summaries.items()))
    return report


def _one(project: Project, env: Env, retriever: Retriever, row: dict[str, Any], mode: str, run: str,
         run_id: int, max_steps: int) -> dict[str, Any]:
    existing = project.store.query("SELECT success, error FROM evaluations WHERE run_id = ? AND task_id = ? "
                                   "AND mode = ?", (run_id, row["id"], mode))
    if existing:
        return {"success": existing[0]["success"], "error": existing[0]["error"]}
    task = task_from_row(row)
    policy = LLMPolicy(project.llm(run_id), env_description=project.config.env.description)
    item = WorkItem(key=f"{run}/{mode}/{row['id']}", policy="llm", task_id=row["id"],
                    instruction=row["instruction"], spec=row["spec_json"] or "{}")
    hook = None if mode == "baseline" else retriever
    result = run_episode(project, env, policy, item, run_id, max_steps=max_steps, examples=hook,
                         model=project.config.models.for_role("agent"))
    crashed = result.status == "failed"
    if result.final is None or crashed:
        check = {"success": 0, "detail": "", "error": result.error or "episode failed"}
    else:
        outcome = check_task(task, env, result.final)
        check = {"success": int(outcome.success), "detail": outcome.detail, "error": outcome.error}
    project.store.add_evaluation(run_id=run_id, task_id=row["id"], mode=mode, n_steps=result.steps,
                                 trajectory_id=result.trajectory_id, model=project.config.models.for_role("agent"),
                                 **check)
    return {**check, "crashed": crashed}


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


def leakage(project: Project) -> dict[str, Any]:
    """Examples whose trajectory served a held-out task or an eval run (must be none)."""
    rows = project.store.query(
        "SELECT e.id FROM examples e JOIN trajectories t ON t.id = e.trajectory_id "
        "LEFT JOIN tasks k ON k.id = t.task_id LEFT JOIN runs r ON r.id = t.run_id "
        "WHERE k.split = 'heldout' OR r.kind = 'eval'")
    return {"examples_from_heldout": [r[0] for r in rows], "ok": not rows,
            "detail": json.dumps([r[0] for r in rows][:20])}
