"""The evaluation side of the store: held-out results per run, mode and task, and each arm's figures and cost (the
Evaluation page, `lbi eval` and the benches read these)."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from typing import Any

from lbi.store.db import Store


def evaluations(store: Store, runs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per held-out task and mode of eval runs (all, or those named), in run order: run name, mode,
    task, success, error, check detail, steps, trajectory id and the agent's model."""
    where = "WHERE r.name IN (SELECT value FROM json_each(?))" if runs is not None else ""
    return store.dicts(
        "SELECT r.id AS run_id, r.name AS run, e.mode, e.task_id, e.success, e.error, e.detail, "
        "e.n_steps, e.trajectory_id, e.model FROM evaluations e JOIN runs r ON r.id = e.run_id "
        f"{where} ORDER BY r.id, e.mode, e.task_id",
        (json.dumps(list(runs)),) if runs is not None else (),
    )


def evaluation(store: Store, run_id: int, task_id: str, mode: str) -> dict[str, Any] | None:
    """The stored result of one task in one mode of a run, if it has one (a resumed run skips it)."""
    rows = store.dicts(
        "SELECT success, error, model FROM evaluations WHERE run_id = ? AND task_id = ? AND mode = ?",
        (run_id, task_id, mode),
    )
    return rows[0] if rows else None


def eval_models(store: Store, run: str) -> list[str]:
    """The agent models an eval run's results were produced with."""
    return [
        r[0]
        for r in store.query(
            "SELECT DISTINCT e.model FROM evaluations e JOIN runs r ON r.id = e.run_id "
            "WHERE r.name = ? AND e.model IS NOT NULL ORDER BY e.model",
            (run,),
        )
    ]


def eval_arms(store: Store) -> list[dict[str, Any]]:
    """Every arm (eval run, mode), in the order they ran: n, successes, errors, the agent's model(s), steps taken, and
    its cost: `wall_s` (its trajectories, start to end) and the model calls made during its trajectories
    (`calls`, `tokens`, `model_s`; evaluation runs one trajectory at a time, so a call belongs to the
    trajectory of its run that was under way when it was logged)."""
    arms = store.dicts(
        "SELECT e.run_id, r.name AS run, e.mode, COUNT(*) AS n, COALESCE(SUM(e.success), 0) AS "
        "successes, SUM(e.error IS NOT NULL) AS errors, GROUP_CONCAT(DISTINCT e.model) AS model, "
        "COALESCE(SUM(e.n_steps), 0) AS steps, COALESCE(SUM((julianday(t.finished_at) - "
        "julianday(t.created_at)) * 86400), 0) AS wall_s FROM evaluations e "
        "JOIN runs r ON r.id = e.run_id LEFT JOIN trajectories t ON t.id = e.trajectory_id "
        "GROUP BY e.run_id, e.mode ORDER BY e.run_id, MIN(e.id)",
    )
    windows: dict[int, list[tuple[str, str | None, str]]] = {}
    for row in store.query(
        "SELECT e.run_id, t.created_at, t.finished_at, e.mode FROM evaluations e JOIN "
        "trajectories t ON t.id = e.trajectory_id ORDER BY e.run_id, t.created_at"
    ):
        windows.setdefault(row[0], []).append((row[1], row[2], row[3]))
    usage = {(a["run_id"], a["mode"]): {"calls": 0, "tokens": 0, "model_s": 0.0} for a in arms}
    calls = store.query(
        "SELECT run_id, at, prompt_tokens + completion_tokens, latency_ms FROM llm_calls WHERE "
        "run_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(windows)),),
    )
    starts = {run_id: [w[0] for w in runs] for run_id, runs in windows.items()}
    for run_id, at, tokens, latency in calls:
        k = bisect.bisect_right(starts[run_id], at) - 1  # the last trajectory started at or before the call
        if k >= 0 and (windows[run_id][k][1] is None or at <= windows[run_id][k][1]):
            arm = usage[(run_id, windows[run_id][k][2])]
            arm["calls"] += 1
            arm["tokens"] += tokens or 0
            arm["model_s"] += (latency or 0) / 1000
    return [{**a, **usage[(a["run_id"], a["mode"])]} for a in arms]
