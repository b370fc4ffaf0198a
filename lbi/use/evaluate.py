"""Held-out evaluation: the agent on tasks with programmatic checks, in each retrieval mode.

Same model, same step limit, same tasks for every mode; success by each task's own check, stored
per task and mode in `evaluations`, summarised as a success rate with n and a Wilson 95% interval.
Evaluation trajectories are recorded (for inspection) but never feed synthesis or training: their runs are of
kind `eval`, and `leakage` checks that no example, and no example a training run used, comes from a held-out
task or an evaluation, and lists what resembles a held-out task by content (`lbi.synth.leakage`). One run holds
one agent model (a base and a trained model are two runs); arms across runs are compared in `lbi.use.arms`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbi.envs.base import Env
from lbi.envs.tasks import Task
from lbi.errors import NotFoundError, UserError, check_choice
from lbi.project import Project, Run
from lbi.store import evals, leaks, read
from lbi.synth.leakage import refresh
from lbi.use.eval_episode import play_task
from lbi.use.index import Index
from lbi.use.retrieval import MODES, Retriever, describe

Progress = Callable[[int, int], None]


class Rate:
    """A success rate and its Wilson 95% interval, for anything with `successes` out of `n`."""

    n: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.n)


@dataclass
class ModeSummary(Rate):
    mode: str
    n: int = 0
    successes: int = 0
    errors: int = 0


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
    tasks = sorted(project.tasks("heldout", task_ids), key=lambda t: t.id)
    return tasks[:limit] if limit else tasks


def evaluate(
    project: Project,
    modes: Sequence[str],
    *,
    run: str = "eval",
    task_ids: Sequence[str] | None = None,
    limit: int | None = None,
    max_steps: int | None = None,
    progress: Progress | None = None,
    keep_retrievals: int = 2,
) -> EvalReport:
    """Run every held-out task in every mode (resumable: finished (task, mode) pairs are kept)."""
    for mode in modes:
        check_choice("evaluation mode", mode, MODES)
    project.env_options()
    tasks = heldout_tasks(project, task_ids, limit)
    if not tasks:
        name = project.config.env.name
        if task_ids is not None:
            raise NotFoundError(
                f"none of {', '.join(task_ids) or 'the given ids'} is a held-out task of env {name!r}: "
                "see `lbi tasks list --split heldout`"
            )
        raise NotFoundError(f"no held-out tasks for env {name!r}: import some with `lbi tasks import FILE`")
    steps = max_steps or project.config.synth.max_steps
    model = project.config.models.for_role("agent")
    other = [m for m in evals.eval_models(project.store, run) if m != model]
    if other:
        raise UserError(
            f"eval run {run!r} was run with the model {other[0]!r}, not {model!r}: give this model a "
            "run of its own (--run NAME), so each run's results come from one model"
        )
    config = {"modes": list(modes), "max_steps": steps, "model": model, "executor": project.config.synth.executor}
    report = EvalReport(run=run)
    with project.run(run, "eval", config) as run_:
        index = Index(project) if any(m != "baseline" for m in modes) else None
        if index is not None:
            index.sync()
        total, done = len(tasks) * len(modes), 0
        if project.config.synth.executor == "ray":
            _on_ray(project, modes, tasks, run_, steps, run_.track(*[progress] if progress else []), report)
            return report
        env: Env | None = None
        try:
            for mode in modes:
                summary = report.summaries.setdefault(mode, ModeSummary(mode))
                retriever = Retriever(project, mode, index=index, run_id=run_.id)
                for task in tasks:
                    env = env or project.make_env()
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


def _on_ray(
    project: Project,
    modes: Sequence[str],
    tasks: Sequence[Task],
    run_: Run,
    steps: int,
    progress: Progress,
    report: EvalReport,
) -> None:
    """Every (task, mode) on the Ray cluster (`lbi.use.evaluate_ray`), then the summaries from the store."""
    from lbi.use.evaluate_ray import evaluate_on_ray

    def tick() -> None:
        progress(
            project.store.query("SELECT COUNT(*) FROM evaluations WHERE run_id = ?", (run_.id,))[0][0],
            len(tasks) * len(modes),
        )

    evaluate_on_ray(project, modes, tasks, report.run, run_.id, steps, after_each=tick)
    tick()
    for mode in modes:
        summary = report.summaries.setdefault(mode, ModeSummary(mode))
        for task in tasks:
            result = evals.evaluation(project.store, run_.id, task.id, mode) or {"success": 0, "error": "not run"}
            summary.n += 1
            summary.successes += int(bool(result["success"]))
            summary.errors += int(bool(result["error"]))
    run_.message = ", ".join(f"{m} {s.successes}/{s.n}" for m, s in report.summaries.items()) + " (on Ray)"


def _one(
    project: Project, env: Env, retriever: Retriever, task: Task, mode: str, run: str, run_id: int, max_steps: int
) -> dict[str, Any]:
    existing = evals.evaluation(project.store, run_id, task.id, mode)
    if existing:
        return {"success": existing["success"], "error": existing["error"]}
    episode, check = play_task(project, env, retriever, task, mode, run, run_id, max_steps)
    return {**check, "crashed": episode.crashed}


def results(project: Project, run: str | None = None) -> list[dict[str, Any]]:
    """Success per mode for a run (default: every eval run), with n, the Wilson interval and the model."""
    out = []
    for arm in evals.eval_arms(project.store):
        if run is None or arm["run"] == run:
            low, high = wilson(arm["successes"], arm["n"])
            out.append(
                {
                    "run": arm["run"],
                    "mode": arm["mode"],
                    "model": arm["model"],
                    "n": arm["n"],
                    "successes": arm["successes"],
                    "errors": arm["errors"],
                    "rate": arm["successes"] / arm["n"],
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return out


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs: `b` tasks only arm A solved, `c` only B."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
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

    def flips(self) -> str:
        """The tasks that flipped from `a` to `b`: `+id` solved only by b, `-id` only by a."""
        return ", ".join([f"+{t}" for t in self.only_b] + [f"-{t}" for t in self.only_a]) or "none"


def pair(a: str, a_success: dict[str, int], b: str, b_success: dict[str, int]) -> Paired:
    """Arms `a` and `b` (success per task id) over the tasks both ran."""
    both = sorted(set(a_success) & set(b_success))
    return Paired(
        a,
        b,
        len(both),
        [t for t in both if a_success[t] > b_success[t]],
        [t for t in both if b_success[t] > a_success[t]],
    )


def outcomes(rows: Sequence[dict[str, Any]], run: str, mode: str) -> dict[str, int]:
    """Success (0/1) per task of one arm, from `evals.evaluations` rows."""
    return {r["task_id"]: int(r["success"] or 0) for r in rows if r["run"] == run and r["mode"] == mode}


def paired(project: Project, run: str, a: str, b: str) -> Paired:
    """Compare modes `a` and `b` of an eval run over the tasks both ran (success per task, from the store)."""
    rows = evals.evaluations(project.store, [run])
    return pair(a, outcomes(rows, run, a), b, outcomes(rows, run, b))


def leakage(project: Project, progress: Progress | None = None) -> dict[str, Any]:
    """What must never be training data, found anywhere it is. By origin: examples whose trajectory served a
    held-out task or an evaluation run, and such examples among those any training run (`lbi train`) used; a
    BrowserGym (task, seed) both held out and synthesis material. By content (`lbi.synth.leakage`, run here on
    what is new): examples, synthetic tasks and doc chunks that resemble a held-out task — kept out of training,
    export, the index and task generation unless a person allowed them — and flagged examples a training run used.
    Training runs are checked against the store as it is now; examples they used that are gone are listed."""
    store = project.store
    checked = refresh(project, progress=progress)
    found = read.untrainable_examples(store)
    trained: dict[str, list[int]] = {}
    trained_flagged: dict[str, list[int]] = {}
    missing: dict[str, list[int]] = {}
    flagged = leaks.flags(store)
    flagged_examples = {int(f["item"]) for f in flagged if f["kind"] == "example" and f["flagged"]}
    for run in read.train_runs(store):
        ids = [int(i) for i in run["examples"]]
        if bad := read.untrainable_examples(store, ids):
            trained[run["name"]] = bad
        if close := sorted(flagged_examples & set(ids)):
            trained_flagged[run["name"]] = close
        if gone := read.missing_examples(store, ids):
            missing[run["name"]] = gone
    parts = [f"examples from held-out tasks or evaluations: {json.dumps(found[:20])}"] if found else []
    parts += [f"training run {name!r} used such examples: {json.dumps(ids[:20])}" for name, ids in trained.items()]
    parts += [
        f"training run {name!r} used examples that resemble held-out tasks: {json.dumps(ids[:20])}"
        for name, ids in trained_flagged.items()
    ]
    both: list[tuple[str, int]] = []
    if project.config.env.name == "browsergym":  # the same (task, seed) held out and explored/synthesized
        from lbi.envs.browsergym.benchmark import overlaps

        both = overlaps(project.store, project.config.env, [])
        if both:
            parts.append(f"(task, seed) both held-out and synthesis: {', '.join(f'{t}@{s}' for t, s in both[:10])}")
    content = {kind: [f["item"] for f in flagged if f["kind"] == kind and f["blocked"]] for kind in leaks.KINDS}
    allowed = {
        kind: [f["item"] for f in flagged if f["kind"] == kind and f["flagged"] and not f["blocked"]]
        for kind in leaks.KINDS
    }
    return {
        "examples_from_heldout": found,
        "trained_on_heldout": trained,
        "trained_missing": missing,
        "heldout_seeds_synthesized": both,
        "trained_on_flagged": trained_flagged,
        "content_flagged": content,
        "content_allowed": allowed,
        "flags": flagged,
        "checked": checked,
        "ok": not found and not trained and not both and not trained_flagged,
        "detail": "; ".join(parts) or "none",
    }
