"""The read side of the store: pure functions on a `Store` that the CLI, the pages and the reports share.

Pages stay thin: they call these, then draw (no SQL in a page). What the committee decided (kept or
dropped, verdicts, agreement) lives in `lbi.store.committee`; everything here that needs it asks there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lbi.observations import chrome_lines
from lbi.procs import is_alive
from lbi.store import committee, leaks
from lbi.store.committee import Judges
from lbi.store.db import Store


# -- documents, chunks, tasks ------------------------------------------------------------------
def documents(store: Store) -> list[dict[str, Any]]:
    return store.dicts(
        "SELECT d.id, d.title, d.format, d.source, COUNT(c.id) AS chunks, LENGTH(d.text) AS chars "
        "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.source",
    )


def chunks(store: Store, doc_id: str) -> list[dict[str, Any]]:
    return store.dicts(
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
    return store.dicts(sql + " ORDER BY split, created_at, id", params)


# -- runs --------------------------------------------------------------------------------------
def _runs(store: Store, where: str = "", limit: int = -1) -> list[dict[str, Any]]:
    """Runs, newest first; a `running` run whose process is gone (killed, machine restarted) shows as
    `interrupted` — re-running it resumes where it stopped."""
    rows = store.dicts(
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
    rows = store.dicts(
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
    return store.dicts(
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
    may become training data (see TRAINABLE). A `running` one whose run's process is gone is `interrupted`
    (`status="interrupted"` lists those)."""
    sql = (
        "SELECT t.id, r.name AS run, t.status, t.policy, t.env, COALESCE(t.instruction, '') AS instruction, "
        "(SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS steps, "
        "(SELECT COUNT(*) FROM examples e WHERE e.trajectory_id = t.id) AS examples, t.error, t.created_at, "
        f"r.status AS run_status, r.pid AS run_pid FROM {WITH_TASK_AND_RUN} "
        f"WHERE {TRAINABLE if trainable else '1=1'}"
    )
    params: list[Any] = []
    stored = "running" if status == "interrupted" else status
    for col, value in (("r.name", run), ("t.status", stored), ("t.policy", policy)):
        if value:
            sql += f" AND {col} = ?"
            params.append(value)
    rows = [_live(row) for row in store.dicts(sql + " ORDER BY t.id DESC LIMIT ?", [*params, limit])]
    return [row for row in rows if not status or row["status"] == status]


def _live(traj: dict[str, Any]) -> dict[str, Any]:
    """`traj` with `interrupted` for `running` when no live process of its run is writing it any more (the run
    was killed, or ended without finishing it); the run's status and pid columns are dropped."""
    run_status, pid = traj.pop("run_status", None), traj.pop("run_pid", None)
    gone = run_status is not None and not (run_status == "running" and is_alive(pid))  # no run: nothing to ask
    if traj["status"] == "running" and gone:
        traj["status"] = "interrupted"
    return traj


def trajectory(store: Store, trajectory_id: int) -> dict[str, Any] | None:
    """One trajectory with its run name, status (see `_live`) and `steps` (in order)."""
    rows = store.dicts(
        "SELECT t.*, r.name AS run, r.status AS run_status, r.pid AS run_pid FROM trajectories t "
        "LEFT JOIN runs r ON r.id = t.run_id WHERE t.id = ?",
        (trajectory_id,),
    )
    if not rows:
        return None
    traj = _live(rows[0])
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
    return store.dicts(sql + " ORDER BY idx", params)


def steps_by_id(store: Store, step_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Steps by their row id (those that exist), with the columns of `steps` and their trajectory id."""
    rows = store.dicts(
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
    return store.dicts(
        "SELECT role, model, COUNT(*) AS calls, SUM(cache_hit) AS cache_hits, SUM(1 - ok) AS errors, "
        "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, "
        "ROUND(SUM(latency_ms) / 1000.0, 2) AS seconds, SUM(cost) AS cost "
        "FROM llm_calls GROUP BY role, model ORDER BY calls DESC",
    )


def usage_over_time(store: Store) -> list[dict[str, Any]]:
    return store.dicts(
        "SELECT substr(at, 1, 16) AS minute, role, COUNT(*) AS calls, "
        "SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost) AS cost "
        "FROM llm_calls GROUP BY minute, role ORDER BY minute",
    )


# -- examples -------------------------------------------------------------------------------
def example_ids(store: Store, trajectory_ids: Sequence[int]) -> list[int]:
    """The examples made from these trajectories (every backward mode), by id."""
    return [
        r[0]
        for r in store.query(
            "SELECT id FROM examples WHERE trajectory_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(list(trajectory_ids)),),
        )
    ]


def example(store: Store, example_id: int, *, policy: str = "strict", judges: Judges = 0) -> dict[str, Any] | None:
    """One example with its decision, steps (span only), verdicts, overrides, its leakage flag (`leaks.flag`, or
    None) and edit history."""
    rows = store.dicts(
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
    ex["verdicts"] = store.dicts(
        "SELECT judge, verdict, reason, model, created_at FROM verdicts WHERE example_id = ? ORDER BY judge",
        (example_id,),
    )
    ex["overrides"] = store.dicts(
        "SELECT id, verdict, note, who, at, batch, undone_at, undone_by FROM overrides "
        "WHERE example_id = ? ORDER BY id DESC",
        (example_id,),
    )
    ex["leak"] = leaks.flag(store, "example", example_id)
    ex["edits"] = store.dicts(
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
    rows = store.dicts(sql + " ORDER BY e.id", params)
    decided = committee.decision_map(store, policy, judges)
    out = []
    for row in rows:
        row["kept"] = bool(decided.get(row["id"], {}).get("kept"))
        if row["kept"] or not kept_only:
            out.append(row)
        if len(out) >= limit:
            break
    return out


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
