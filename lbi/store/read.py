"""The read side of the store: pure functions on a `Store` that the CLI, the pages and the reports share.

Pages stay thin: they call these, then draw (no SQL in a page). What the committee decided (kept or
dropped, verdicts, agreement) lives in `lbi.store.committee`; everything here that needs it asks there.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi.observations import chrome_lines
from lbi.procs import is_alive
from lbi.store import committee, leaks
from lbi.store.committee import Judges
from lbi.store.db import Store

# Span-grid cell status codes (the heatmap's z values; i > j cells are None).
NO_EXAMPLE, EXAMPLE, KEPT, DROPPED, OVERRIDDEN = 0, 1, 2, 3, 4
STATUS_NAMES = {
    NO_EXAMPLE: "no example",
    EXAMPLE: "example (not judged)",
    KEPT: "kept",
    DROPPED: "dropped",
    OVERRIDDEN: "overridden",
}


def _rows(store: Store, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query(sql, params)]


# -- documents, chunks, tasks ------------------------------------------------------------------
def documents(store: Store) -> list[dict[str, Any]]:
    return _rows(
        store,
        "SELECT d.id, d.title, d.format, d.source, COUNT(c.id) AS chunks, LENGTH(d.text) AS chars "
        "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.source",
    )


def chunks(store: Store, doc_id: str) -> list[dict[str, Any]]:
    return _rows(
        store,
        "SELECT c.id, c.ordinal, c.title, c.text, (SELECT COUNT(*) FROM tasks t WHERE "
        "t.chunk_id = c.id) AS tasks FROM chunks c WHERE c.doc_id = ? ORDER BY c.ordinal",
        (doc_id,),
    )


def task_rows(store: Store, split: str | None = None, search: str = "") -> list[dict[str, Any]]:
    """Task rows (dicts; `Project.tasks` gives `Task`s) of a split (all splits by default) whose instruction
    contains `search`."""
    sql = "SELECT id, split, env, instruction, chunk_id, model, created_at FROM tasks WHERE 1=1"
    params: list[Any] = []
    if split:
        sql += " AND split = ?"
        params.append(split)
    if search:
        sql += " AND instr(lower(instruction), lower(?)) > 0"
        params.append(search)
    return _rows(store, sql + " ORDER BY split, created_at, id", params)


# -- runs --------------------------------------------------------------------------------------
def _runs(store: Store, where: str = "", limit: int = -1) -> list[dict[str, Any]]:
    """Runs, newest first; a `running` run whose process is gone (killed, machine restarted) shows as
    `interrupted` — re-running it resumes where it stopped."""
    rows = _rows(
        store,
        "SELECT id, name, kind, status, progress_done, progress_total, message, created_at, "
        f"updated_at, pid FROM runs {where} ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    for row in rows:
        if row["status"] == "running" and not is_alive(row["pid"]):
            row["status"] = "interrupted"
        del row["pid"]
    return rows


def recent_runs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs (see `_runs` for `interrupted`)."""
    return _runs(store, limit=limit)


def active_runs(store: Store, prefix: str = "") -> list[dict[str, Any]]:
    """Runs in progress (not those left `running` by a process that is gone), oldest first; with `prefix`,
    those whose name starts with it."""
    rows = _runs(store, "WHERE status = 'running'")
    return [r for r in reversed(rows) if r["status"] == "running" and r["name"].startswith(prefix)]


def runs_table(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Recent runs with a 0–1 `progress` fraction for a progress column."""
    rows = recent_runs(store, limit)
    for row in rows:
        total = row["progress_total"] or 0
        row["progress"] = min(row["progress_done"] / total, 1.0) if total else (1.0 if row["status"] == "done" else 0.0)
    order = [
        "id",
        "name",
        "kind",
        "status",
        "progress",
        "progress_done",
        "progress_total",
        "message",
        "created_at",
        "updated_at",
    ]
    return [{k: r[k] for k in order} for r in rows]


def run_names(store: Store, kind: str | None = None) -> list[str]:
    sql = "SELECT name FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY id DESC"
    return [r["name"] for r in store.query(sql, (kind,) if kind else ())]


def train_runs(store: Store) -> list[dict[str, Any]]:
    """Training runs (`lbi train`), newest first: the run's name and status with its training record
    (`examples` and `config` decoded)."""
    status = {r["id"]: r["status"] for r in _runs(store, "WHERE kind = 'train'")}
    rows = _rows(
        store,
        "SELECT r.name, r.message, r.created_at, t.* FROM train_runs t JOIN runs r ON r.id = t.run_id "
        "ORDER BY t.run_id DESC",
    )
    for row in rows:
        row["status"] = status.get(row["run_id"], "unknown")
        row["examples"] = json.loads(row.pop("examples_json") or "[]")
        row["config"] = json.loads(row.pop("config_json") or "{}")
    return rows


def train_log(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The loss curve of a training run: step, epoch, loss, learning_rate, tokens (so far), seconds (so far)."""
    return _rows(
        store,
        "SELECT step, epoch, loss, learning_rate, tokens, seconds FROM train_log WHERE run_id = ? ORDER BY step",
        (run_id,),
    )


# -- trajectories and steps --------------------------------------------------------------------
TRAINABLE = "COALESCE(k.split, 'synthetic') != 'heldout' AND COALESCE(r.kind, '') != 'eval'"
"""SQL condition on trajectories `t` (with their task `k` and run `r` joined) that may become training data:
never those of held-out tasks or of evaluation runs."""
WITH_TASK_AND_RUN = "trajectories t LEFT JOIN tasks k ON k.id = t.task_id LEFT JOIN runs r ON r.id = t.run_id"


def trajectories(
    store: Store,
    *,
    run: str | None = None,
    status: str | None = None,
    policy: str | None = None,
    trainable: bool = False,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Trajectories, newest first, with run name, step count and example count; `trainable`: only those that
    may become training data (see TRAINABLE)."""
    sql = (
        "SELECT t.id, r.name AS run, t.status, t.policy, t.env, COALESCE(t.instruction, '') AS instruction, "
        "(SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS steps, "
        "(SELECT COUNT(*) FROM examples e WHERE e.trajectory_id = t.id) AS examples, t.error, t.created_at "
        f"FROM {WITH_TASK_AND_RUN} WHERE {TRAINABLE if trainable else '1=1'}"
    )
    params: list[Any] = []
    for col, value in (("r.name", run), ("t.status", status), ("t.policy", policy)):
        if value:
            sql += f" AND {col} = ?"
            params.append(value)
    return _rows(store, sql + " ORDER BY t.id DESC LIMIT ?", [*params, limit])


def trajectory(store: Store, trajectory_id: int) -> dict[str, Any] | None:
    """One trajectory with its run name, status and `steps` (in order)."""
    rows = _rows(
        store,
        "SELECT t.*, r.name AS run, r.status AS run_status FROM trajectories t "
        "LEFT JOIN runs r ON r.id = t.run_id WHERE t.id = ?",
        (trajectory_id,),
    )
    if not rows:
        return None
    traj = rows[0]
    traj["steps"] = steps(store, trajectory_id)
    return traj


def steps(store: Store, trajectory_id: int, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
    sql = (
        "SELECT idx, observation, screenshot, action, reasoning, url, state_signature, error, latency_ms, "
        "prompt_system, prompt_observation FROM steps WHERE trajectory_id = ? AND idx >= ?"
    )
    params: list[Any] = [trajectory_id, start]
    if end is not None:
        sql += " AND idx <= ?"
        params.append(end)
    return _rows(store, sql + " ORDER BY idx", params)


def steps_by_id(store: Store, step_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Steps by their row id (those that exist), with the columns of `steps` and their trajectory id."""
    rows = _rows(
        store,
        "SELECT id, trajectory_id, idx, observation, screenshot, action, reasoning, url, "
        "state_signature, error, latency_ms, prompt_system, prompt_observation FROM steps "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(step_ids)),),
    )
    return {row["id"]: row for row in rows}


def screenshot_file(path: str | None, project_dir: Path) -> Path | None:
    """The screenshot file of a step if it exists on disk (absolute, or relative to the project)."""
    if not path:
        return None
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = Path(project_dir) / candidate
    return candidate if candidate.is_file() else None


def page_chrome(store: Store, sample: int = 500) -> frozenset[str]:
    """The site's chrome (navigation and other lines on most pages), learned from the latest `sample` steps."""
    rows = store.query("SELECT url, observation FROM steps ORDER BY id DESC LIMIT ?", (sample,))
    return chrome_lines((r[0], r[1]) for r in rows)


# -- the funnel and model usage ----------------------------------------------------------------
def funnel(store: Store, policy: str = "strict", judges: Judges = 0) -> dict[str, int]:
    """chunks → synthetic tasks → synthesis trajectories and steps (not evaluation ones) → examples → kept."""
    counts = store.counts()
    synth = "FROM trajectories t LEFT JOIN runs r ON r.id = t.run_id WHERE COALESCE(r.kind, '') != 'eval'"
    return {
        "chunks": counts["chunks"],
        "tasks": store.query("SELECT COUNT(*) FROM tasks WHERE split = 'synthetic'")[0][0],
        "trajectories": store.query(f"SELECT COUNT(*) {synth}")[0][0],
        "steps": store.query(f"SELECT COUNT(*) FROM steps WHERE trajectory_id IN (SELECT t.id {synth})")[0][0],
        "examples": counts["examples"],
        "kept": committee.kept_count(store, policy, judges),
    }


def usage_by_role(store: Store) -> list[dict[str, Any]]:
    return _rows(
        store,
        "SELECT role, model, COUNT(*) AS calls, SUM(cache_hit) AS cache_hits, SUM(1 - ok) AS errors, "
        "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, "
        "ROUND(SUM(latency_ms) / 1000.0, 2) AS seconds, SUM(cost) AS cost "
        "FROM llm_calls GROUP BY role, model ORDER BY calls DESC",
    )


def usage_over_time(store: Store) -> list[dict[str, Any]]:
    return _rows(
        store,
        "SELECT substr(at, 1, 16) AS minute, role, COUNT(*) AS calls, "
        "SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost) AS cost "
        "FROM llm_calls GROUP BY minute, role ORDER BY minute",
    )


# -- examples and the span grid ----------------------------------------------------------------
def cell_status(decision: dict[str, Any] | None) -> int:
    if decision is None:
        return NO_EXAMPLE
    if decision.get("leaked"):  # kept out by the leakage check, whatever its verdicts or override
        return DROPPED
    if decision["override"] is not None:
        return OVERRIDDEN
    if decision["n"] == 0:
        return EXAMPLE
    return KEPT if decision["kept"] else DROPPED


@dataclass
class SpanGrid:
    """The L×L grid of a trajectory: row i = span start, column j = span end (i ≤ j)."""

    length: int
    mode: str | None
    status: list[list[int | None]] = field(default_factory=list)
    example_ids: list[list[int | None]] = field(default_factory=list)
    instructions: list[list[str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUS_NAMES.values(), 0)
        for row in self.status:
            for value in row:
                if value is not None:
                    out[STATUS_NAMES[value]] += 1
        return out


def example_modes(store: Store, trajectory_id: int) -> list[str]:
    """Backward modes with examples for this trajectory, most examples first."""
    rows = store.query(
        "SELECT mode, COUNT(*) AS n FROM examples WHERE trajectory_id = ? GROUP BY mode ORDER BY n DESC, mode",
        (trajectory_id,),
    )
    return [r["mode"] for r in rows]


def example_ids(store: Store, trajectory_ids: Sequence[int]) -> list[int]:
    """The examples made from these trajectories (every backward mode), by id."""
    return [
        r[0]
        for r in store.query(
            "SELECT id FROM examples WHERE trajectory_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(list(trajectory_ids)),),
        )
    ]


def span_grid(
    store: Store, trajectory_id: int, *, policy: str = "strict", judges: Judges = 0, mode: str | None = None
) -> SpanGrid:
    """Status, example id and instruction of every span [i, j] (for one backward mode)."""
    length = store.query("SELECT COUNT(*) FROM steps WHERE trajectory_id = ?", (trajectory_id,))[0][0]
    modes = example_modes(store, trajectory_id)
    mode = mode or (modes[0] if modes else None)
    grid = SpanGrid(length=length, mode=mode)
    grid.status = [[NO_EXAMPLE if i <= j else None for j in range(length)] for i in range(length)]
    grid.example_ids = [[None] * length for _ in range(length)]
    grid.instructions = [[""] * length for _ in range(length)]
    examples = _rows(
        store,
        "SELECT id, span_start, span_end, instruction FROM examples WHERE trajectory_id = ? AND mode = ?",
        (trajectory_id, mode),
    )
    decided = committee.decision_map(store, policy, judges) if examples else {}
    for ex in examples:
        i, j = ex["span_start"], ex["span_end"]
        if 0 <= i <= j < length:
            grid.status[i][j] = cell_status(decided.get(ex["id"]))
            grid.example_ids[i][j] = ex["id"]
            grid.instructions[i][j] = ex["instruction"]
    return grid


def example(store: Store, example_id: int, *, policy: str = "strict", judges: Judges = 0) -> dict[str, Any] | None:
    """One example with its decision, steps (span only), verdicts, overrides, its leakage flag (`leaks.flag`, or
    None) and edit history."""
    rows = _rows(
        store,
        "SELECT e.*, t.env, t.policy AS rollout_policy, r.name AS run FROM examples e "
        "JOIN trajectories t ON t.id = e.trajectory_id LEFT JOIN runs r ON r.id = t.run_id "
        "WHERE e.id = ?",
        (example_id,),
    )
    if not rows:
        return None
    ex = rows[0]
    found = committee.decisions(store, policy, judges, ids=[example_id])
    ex["decision"] = found[0] if found else None
    ex["steps"] = steps(store, ex["trajectory_id"], ex["span_start"], ex["span_end"])
    ex["verdicts"] = _rows(
        store,
        "SELECT judge, verdict, reason, model, created_at FROM verdicts WHERE example_id = ? ORDER BY judge",
        (example_id,),
    )
    ex["overrides"] = _rows(
        store,
        "SELECT id, verdict, note, who, at, batch, undone_at, undone_by FROM overrides "
        "WHERE example_id = ? ORDER BY id DESC",
        (example_id,),
    )
    ex["leak"] = leaks.flag(store, "example", example_id)
    ex["edits"] = _rows(
        store,
        "SELECT old_instruction, new_instruction, who, at FROM example_edits WHERE example_id = ? ORDER BY id DESC",
        (example_id,),
    )
    return ex


# -- the dataset -------------------------------------------------------------------------------
def dataset_filters(store: Store) -> dict[str, list[str]]:
    """Values to filter examples by: backward mode, environment, rollout run."""
    return {
        "mode": [r[0] for r in store.query("SELECT DISTINCT mode FROM examples ORDER BY mode")],
        "env": [
            r[0]
            for r in store.query(
                "SELECT DISTINCT t.env FROM examples e JOIN trajectories t ON t.id = e.trajectory_id ORDER BY t.env"
            )
        ],
        "run": [
            r[0]
            for r in store.query(
                "SELECT DISTINCT r.name FROM examples e JOIN trajectories t ON "
                "t.id = e.trajectory_id JOIN runs r ON r.id = t.run_id ORDER BY r.name"
            )
        ],
    }


def search_examples(
    store: Store,
    *,
    policy: str = "strict",
    judges: Judges = 0,
    search: str = "",
    mode: str | None = None,
    env: str | None = None,
    run: str | None = None,
    kept_only: bool = True,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Examples whose instruction contains `search` (case-insensitive), filtered; kept ones by default."""
    sql = (
        "SELECT e.id, e.instruction, e.mode, t.env, r.name AS run, e.trajectory_id AS trajectory, "
        "e.span_start, e.span_end, e.span_end - e.span_start + 1 AS steps FROM examples e "
        "JOIN trajectories t ON t.id = e.trajectory_id LEFT JOIN runs r ON r.id = t.run_id WHERE 1=1"
    )
    params: list[Any] = []
    if search:
        sql += " AND instr(lower(e.instruction), lower(?)) > 0"
        params.append(search)
    for col, value in (("e.mode", mode), ("t.env", env), ("r.name", run)):
        if value:
            sql += f" AND {col} = ?"
            params.append(value)
    rows = _rows(store, sql + " ORDER BY e.id", params)
    decided = committee.decision_map(store, policy, judges)
    out = []
    for row in rows:
        row["kept"] = bool(decided.get(row["id"], {}).get("kept"))
        if row["kept"] or not kept_only:
            out.append(row)
        if len(out) >= limit:
            break
    return out


# -- evaluations ---------------------------------------------------------------------------------
def evaluations(store: Store, runs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per held-out task and mode of eval runs (all, or those named), in run order: run name, mode,
    task, success, error, check detail, steps, trajectory id and the agent's model."""
    where = "WHERE r.name IN (SELECT value FROM json_each(?))" if runs is not None else ""
    return _rows(
        store,
        "SELECT r.id AS run_id, r.name AS run, e.mode, e.task_id, e.success, e.error, e.detail, "
        "e.n_steps, e.trajectory_id, e.model FROM evaluations e JOIN runs r ON r.id = e.run_id "
        f"{where} ORDER BY r.id, e.mode, e.task_id",
        (json.dumps(list(runs)),) if runs is not None else (),
    )


def evaluation(store: Store, run_id: int, task_id: str, mode: str) -> dict[str, Any] | None:
    """The stored result of one task in one mode of a run, if it has one (a resumed run skips it)."""
    rows = _rows(
        store,
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
    arms = _rows(
        store,
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


def untrainable_examples(store: Store, example_ids: Sequence[int] | None = None) -> list[int]:
    """Examples (all, or those given) whose trajectory served a held-out task or an evaluation run, by id."""
    where = " AND e.id IN (SELECT value FROM json_each(?))" if example_ids is not None else ""
    return [
        r[0]
        for r in store.query(
            f"SELECT e.id FROM {WITH_TASK_AND_RUN} JOIN examples e ON e.trajectory_id = "
            f"t.id WHERE NOT ({TRAINABLE}){where} ORDER BY e.id",
            (json.dumps(list(example_ids)),) if example_ids is not None else (),
        )
    ]


def missing_examples(store: Store, example_ids: Sequence[int]) -> list[int]:
    """Those of `example_ids` no longer in the store (their origin cannot be checked)."""
    present = {
        r[0]
        for r in store.query(
            "SELECT id FROM examples WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(list(example_ids)),)
        )
    }
    return sorted(set(example_ids) - present)
