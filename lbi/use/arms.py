"""Evaluation arms, compared across runs: an arm is one mode of one eval run (`RUN:MODE`), and a run holds one
agent model, so a base and a trained model, in context or not, are arms of two runs on the same held-out tasks.

Per arm: success with n and the Wilson 95% interval, the model, and what it cost (steps, model calls, tokens,
model seconds, wall seconds). Between arms: McNemar's exact test over the tasks both ran, with the tasks that
flipped. `lbi eval compare` and the Evaluation page show the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lbi.errors import NotFoundError, UserError
from lbi.store import evals
from lbi.store.db import Store
from lbi.use.evaluate import Paired, Rate, outcomes, pair, wilson


@dataclass(frozen=True)
class Arm(Rate):
    """One mode of one eval run, with its results and cost (see `evals.eval_arms`)."""

    run: str
    mode: str
    model: str
    n: int
    successes: int
    errors: int
    steps: int = 0
    calls: int = 0
    tokens: int = 0
    model_s: float = 0.0
    wall_s: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.run}:{self.mode}"

    def row(self) -> dict[str, Any]:
        """The arm as a table row (rates and seconds rounded for reading)."""
        low, high = self.interval
        return {
            "arm": self.label,
            "run": self.run,
            "mode": self.mode,
            "model": self.model,
            "n": self.n,
            "successes": self.successes,
            "rate": round(self.rate, 3),
            "ci_low": round(low, 3),
            "ci_high": round(high, 3),
            "errors": self.errors,
            "steps": self.steps,
            "calls": self.calls,
            "tokens": self.tokens,
            "model s": round(self.model_s, 1),
            "wall s": round(self.wall_s, 1),
        }


def arms(store: Store) -> list[Arm]:
    """Every arm in the store, in the order they ran."""
    return [
        Arm(
            run=a["run"],
            mode=a["mode"],
            model=a["model"] or "?",
            n=a["n"],
            successes=a["successes"],
            errors=a["errors"],
            steps=a["steps"],
            calls=a["calls"],
            tokens=a["tokens"],
            model_s=a["model_s"],
            wall_s=a["wall_s"],
        )
        for a in evals.eval_arms(store)
    ]


def resolve(spec: str, known: Sequence[Arm]) -> Arm:
    """The arm `RUN:MODE`, or `RUN` when that run has one mode (a run name may itself hold a colon)."""
    by_run: dict[str, list[Arm]] = {}
    for arm in known:
        by_run.setdefault(arm.run, []).append(arm)
    if spec in by_run:
        if len(by_run[spec]) == 1:
            return by_run[spec][0]
        modes = ", ".join(f"{spec}:{a.mode}" for a in by_run[spec])
        raise UserError(f"eval run {spec!r} has several modes: name one ({modes})")
    run, _, mode = spec.rpartition(":")
    for arm in by_run.get(run, []):
        if arm.mode == mode:
            return arm
    if run in by_run:
        raise NotFoundError(f"eval run {run!r} has no mode {mode!r}: it ran {', '.join(a.mode for a in by_run[run])}")
    runs = ", ".join(by_run) or "none yet (run `lbi eval`)"
    raise NotFoundError(f"no eval run {(run or spec)!r}: the eval runs are {runs}")


@dataclass
class Comparison:
    """Chosen arms, and each arm after the first against the first, on the tasks both ran."""

    arms: list[Arm]
    pairs: list[Paired]

    def rows(self) -> list[dict[str, Any]]:
        """Each pair as a table row: the arm, its reference, the tasks both ran, how many only the arm and only
        the reference solved, McNemar's exact p, and the flipped tasks."""
        return [
            {
                "arm": p.b,
                "vs": p.a,
                "tasks": p.tasks,
                "only arm": len(p.only_b),
                "only vs": len(p.only_a),
                "p": round(p.p_value, 4),
                "flipped": p.flips(),
            }
            for p in self.pairs
        ]


def compare(store: Store, specs: Sequence[str]) -> Comparison:
    """Resolve `specs` (`RUN:MODE` or `RUN`) and pair each arm with the first (McNemar's exact test)."""
    if len(specs) < 2:
        raise UserError("give at least two arms to compare, e.g. base:baseline trained:baseline")
    known = arms(store)
    chosen = [resolve(spec, known) for spec in specs]
    rows = evals.evaluations(store, sorted({a.run for a in chosen}))
    success = {a.label: outcomes(rows, a.run, a.mode) for a in chosen}
    first = chosen[0]
    return Comparison(chosen, [pair(first.label, success[first.label], a.label, success[a.label]) for a in chosen[1:]])


@dataclass
class Grid:
    """Held-out tasks × arms: each cell the task's result in that arm (or None where the arm did not run it)."""

    tasks: list[str]
    arms: list[str]
    cells: dict[tuple[str, str], dict[str, Any]]

    def outcome(self, task: str, arm: str) -> str:
        """`solved`, `failed`, `error` (the episode or its check failed) or `not run`."""
        cell = self.cells.get((task, arm))
        if cell is None:
            return "not run"
        if cell["success"]:
            return "solved"
        return "error" if cell["error"] else "failed"


def grid(store: Store, chosen: Sequence[Arm]) -> Grid:
    """The task × arm grid of the chosen arms, tasks sorted by id."""
    labels = [a.label for a in chosen]
    wanted = set(labels)
    cells = {
        (r["task_id"], f"{r['run']}:{r['mode']}"): r
        for r in evals.evaluations(store, sorted({a.run for a in chosen}))
        if f"{r['run']}:{r['mode']}" in wanted
    }
    return Grid(sorted({task for task, _ in cells}), labels, cells)


def task_type(task_id: str) -> str:
    """The kind of a held-out task: a benchmark task's id without its seed (`miniwob.click-button@1003` →
    `miniwob.click-button`); a task without a seed is a kind of its own."""
    return task_id.rpartition("@")[0] or task_id


def by_type(grid: Grid) -> list[dict[str, Any]]:
    """Per task kind (`task_type`) and arm of the grid: `successes/n [Wilson 95% interval]`; empty when every task
    is a kind of its own (nothing to group)."""
    kinds: dict[str, list[str]] = {}
    for task in grid.tasks:
        kinds.setdefault(task_type(task), []).append(task)
    if len(kinds) == len(grid.tasks):
        return []
    rows = []
    for kind, tasks in sorted(kinds.items()):
        row: dict[str, Any] = {"type": kind}
        for arm in grid.arms:
            ran = [grid.cells[(t, arm)] for t in tasks if (t, arm) in grid.cells]
            solved = sum(bool(c["success"]) for c in ran)
            low, high = wilson(solved, len(ran))
            row[arm] = f"{solved}/{len(ran)} [{low:.0%}, {high:.0%}]" if ran else ""
        rows.append(row)
    return rows
