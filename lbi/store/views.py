"""Read-only data shaping for the workbench pages: pure functions on a `Store`, no Streamlit.

Pages stay thin: they call these, then draw. Kept/dropped always comes from `lbi.queries.decisions`
(verdicts + policy + duplicates + overrides), never from a stored column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from lbi.store import queries
from lbi.store.db import Store

# Span-grid cell status codes (the heatmap's z values; i > j cells are None).
NO_EXAMPLE, EXAMPLE, KEPT, DROPPED, OVERRIDDEN = 0, 1, 2, 3, 4
STATUS_NAMES = {NO_EXAMPLE: "no example", EXAMPLE: "example (not judged)", KEPT: "kept", DROPPED: "dropped",
                OVERRIDDEN: "overridden"}
HUMAN = "human override"


def _rows(store: Store, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query(sql, params)]


# -- documents, chunks, tasks ------------------------------------------------------------------
def documents(store: Store) -> list[dict[str, Any]]:
    return _rows(store, "SELECT d.id, d.title, d.format, d.source, COUNT(c.id) AS chunks, LENGTH(d.text) AS chars "
                        "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.source")


def chunks(store: Store, doc_id: str) -> list[dict[str, Any]]:
    return _rows(store, "SELECT c.id, c.ordinal, c.title, c.text, (SELECT COUNT(*) FROM tasks t WHERE "
                        "t.chunk_id = c.id) AS tasks FROM chunks c WHERE c.doc_id = ? ORDER BY c.ordinal", (doc_id,))


def tasks(store: Store, split: str | None = None, search: str = "") -> list[dict[str, Any]]:
    sql = "SELECT id, split, env, instruction, chunk_id, model, created_at FROM tasks WHERE 1=1"
    params: list[Any] = []
    if split:
        sql += " AND split = ?"
        params.append(split)
    if search:
        sql += " AND instr(lower(instruction), lower(?)) > 0"
        params.append(search)
    return _rows(store, sql + " ORDER BY split, created_at, id", params)


# -- runs, trajectories, steps -----------------------------------------------------------------
def active_runs(store: Store) -> list[dict[str, Any]]:
    """Runs in progress (not those left `running` by a process that is gone)."""
    from lbi.jobs import is_alive

    rows = _rows(store, "SELECT id, name, kind, status, progress_done, progress_total, message, pid FROM runs "
                        "WHERE status = 'running' ORDER BY id")
    return [{k: v for k, v in r.items() if k != "pid"} for r in rows if is_alive(r["pid"])]


def runs_table(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Recent runs with a 0–1 `progress` fraction for a progress column."""
    rows = queries.recent_runs(store, limit)
    for row in rows:
        total = row["progress_total"] or 0
        row["progress"] = min(row["progress_done"] / total, 1.0) if total else (1.0 if row["status"] == "done" else 0.0)
    order = ["id", "name", "kind", "status", "progress", "progress_done", "progress_total", "message",
             "created_at", "updated_at"]
    return [{k: r[k] for k in order} for r in rows]


def run_names(store: Store, kind: str | None = None) -> list[str]:
    sql = "SELECT name FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY id DESC"
    return [r["name"] for r in store.query(sql, (kind,) if kind else ())]


def trajectories(store: Store, *, run: str | None = None, status: str | None = None, policy: str | None = None,
                 limit: int = 1000) -> list[dict[str, Any]]:
    """Trajectories, newest first, with run name, step count and example count."""
    sql = ("SELECT t.id, r.name AS run, t.status, t.policy, t.env, COALESCE(t.instruction, '') AS instruction, "
           "(SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS steps, "
           "(SELECT COUNT(*) FROM examples e WHERE e.trajectory_id = t.id) AS examples, t.error, t.created_at "
           "FROM trajectories t LEFT JOIN runs r ON r.id = t.run_id WHERE 1=1")
    params: list[Any] = []
    for col, value in (("r.name", run), ("t.status", status), ("t.policy", policy)):
        if value:
            sql += f" AND {col} = ?"
            params.append(value)
    return _rows(store, sql + " ORDER BY t.id DESC LIMIT ?", [*params, limit])


def trajectory(store: Store, trajectory_id: int) -> dict[str, Any] | None:
    """One trajectory with its run name, status and `steps` (in order)."""
    rows = _rows(store, "SELECT t.*, r.name AS run, r.status AS run_status FROM trajectories t "
                        "LEFT JOIN runs r ON r.id = t.run_id WHERE t.id = ?", (trajectory_id,))
    if not rows:
        return None
    traj = rows[0]
    traj["steps"] = steps(store, trajectory_id)
    return traj


def steps(store: Store, trajectory_id: int, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT idx, observation, screenshot, action, reasoning, url, state_signature, error, latency_ms "
           "FROM steps WHERE trajectory_id = ? AND idx >= ?")
    params: list[Any] = [trajectory_id, start]
    if end is not None:
        sql += " AND idx <= ?"
        params.append(end)
    return _rows(store, sql + " ORDER BY idx", params)


def screenshot_file(path: str | None, project_dir: Path) -> Path | None:
    """The screenshot file of a step if it exists on disk (absolute, or relative to the project)."""
    if not path:
        return None
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = Path(project_dir) / candidate
    return candidate if candidate.is_file() else None


# -- examples and the span grid ----------------------------------------------------------------
def _decision_map(store: Store, policy: str, judges: int) -> dict[int, dict[str, Any]]:
    return {d["example_id"]: d for d in queries.decisions(store, policy, judges)}


def cell_status(decision: dict[str, Any] | None) -> int:
    if decision is None:
        return NO_EXAMPLE
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
    rows = store.query("SELECT mode, COUNT(*) AS n FROM examples WHERE trajectory_id = ? GROUP BY mode "
                       "ORDER BY n DESC, mode", (trajectory_id,))
    return [r["mode"] for r in rows]


def span_grid(store: Store, trajectory_id: int, *, policy: str = "strict", judges: int = 0,
              mode: str | None = None) -> SpanGrid:
    """Status, example id and instruction of every span [i, j] (for one backward mode)."""
    length = store.query("SELECT COUNT(*) FROM steps WHERE trajectory_id = ?", (trajectory_id,))[0][0]
    modes = example_modes(store, trajectory_id)
    mode = mode or (modes[0] if modes else None)
    grid = SpanGrid(length=length, mode=mode)
    grid.status = [[NO_EXAMPLE if i <= j else None for j in range(length)] for i in range(length)]
    grid.example_ids = [[None] * length for _ in range(length)]
    grid.instructions = [[""] * length for _ in range(length)]
    examples = _rows(store, "SELECT id, span_start, span_end, instruction FROM examples "
                            "WHERE trajectory_id = ? AND mode = ?", (trajectory_id, mode))
    decisions = _decision_map(store, policy, judges) if examples else {}
    for ex in examples:
        i, j = ex["span_start"], ex["span_end"]
        if 0 <= i <= j < length:
            grid.status[i][j] = cell_status(decisions.get(ex["id"]))
            grid.example_ids[i][j] = ex["id"]
            grid.instructions[i][j] = ex["instruction"]
    return grid


def example(store: Store, example_id: int, *, policy: str = "strict", judges: int = 0) -> dict[str, Any] | None:
    """One example with its decision, steps (span only), verdicts, overrides and edit history."""
    rows = _rows(store, "SELECT e.*, t.env, t.policy AS rollout_policy, r.name AS run FROM examples e "
                        "JOIN trajectories t ON t.id = e.trajectory_id LEFT JOIN runs r ON r.id = t.run_id "
                        "WHERE e.id = ?", (example_id,))
    if not rows:
        return None
    ex = rows[0]
    found = queries.decisions(store, policy, judges, ids=[example_id])
    ex["decision"] = found[0] if found else None
    ex["steps"] = steps(store, ex["trajectory_id"], ex["span_start"], ex["span_end"])
    ex["verdicts"] = _rows(store, "SELECT judge, verdict, reason, model, created_at FROM verdicts "
                                  "WHERE example_id = ? ORDER BY judge", (example_id,))
    ex["overrides"] = _rows(store, "SELECT verdict, note, who, at FROM overrides WHERE example_id = ? "
                                   "ORDER BY id DESC", (example_id,))
    ex["edits"] = _rows(store, "SELECT old_instruction, new_instruction, who, at FROM example_edits "
                               "WHERE example_id = ? ORDER BY id DESC", (example_id,))
    return ex


# -- the committee -----------------------------------------------------------------------------
def judge_names(store: Store, configured: Sequence[str] = ()) -> list[str]:
    """Configured judges first, then any other judge that left verdicts in the store."""
    seen = list(configured)
    for row in store.query("SELECT DISTINCT judge FROM verdicts ORDER BY judge"):
        if row["judge"] not in seen:
            seen.append(row["judge"])
    return seen


def committee_table(store: Store, *, policy: str = "strict", judges: Sequence[str] = (),
                    show: str = "all", search: str = "", limit: int | None = None) -> list[dict[str, Any]]:
    """One row per example: instruction, span, `<judge> verdict` and `<judge> reason` per judge, override, kept.

    `show`: `all`, `kept`, or `dropped` (the filtered-out audit view); `search`: a substring of the
    instruction; `limit`: the first so many rows (verdicts are read for those only)."""
    names = judge_names(store, judges)
    decisions = _decision_map(store, policy, len(judges))
    matching = None
    if search:
        matching = {r[0] for r in store.query("SELECT id FROM examples WHERE instr(lower(instruction), lower(?)) > 0",
                                              (search,))}
    wanted = [i for i, d in sorted(decisions.items())
              if (show == "all" or (show == "kept") == bool(d.get("kept"))) and (matching is None or i in matching)]
    wanted = wanted[:limit]
    verdicts: dict[int, dict[str, dict[str, Any]]] = {}
    for v in store.query("SELECT example_id, judge, verdict, reason FROM verdicts WHERE example_id IN "
                         "(SELECT value FROM json_each(?))", (json.dumps(wanted),)):
        verdicts.setdefault(v["example_id"], {})[v["judge"]] = dict(v)
    out = []
    for ex in store.query("SELECT id, trajectory_id, span_start, span_end, mode, instruction FROM examples "
                          "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", (json.dumps(wanted),)):
        d = decisions.get(ex["id"], {})
        kept = bool(d.get("kept"))
        row: dict[str, Any] = {"id": ex["id"], "kept": kept, "instruction": ex["instruction"],
                               "trajectory": ex["trajectory_id"], "span": f"{ex['span_start']}–{ex['span_end']}",
                               "mode": ex["mode"], "yes": f"{d.get('yes', 0)}/{max(d.get('n', 0), len(judges))}",
                               "duplicate": bool(d.get("duplicate")), "override": d.get("override") or ""}
        for name in names:
            v = verdicts.get(ex["id"], {}).get(name)
            row[f"{name} verdict"] = "" if v is None else ("yes" if v["verdict"] else "no")
            row[f"{name} reason"] = "" if v is None else (v["reason"] or "")
        out.append(row)
    return out


def policy_counts(store: Store, judges: int) -> dict[str, int]:
    """How many examples each policy keeps (overrides and duplicates included)."""
    return queries.kept_by_policy(store, judges)


def kappa_from_counts(n11: int, n10: int, n01: int, n00: int) -> float | None:
    """Cohen's kappa of two binary raters from their 2×2 table (n10: A said 1, B said 0). None when there
    are no items, or when chance agreement is total and the raters nonetheless disagree (undefined)."""
    n = n11 + n10 + n01 + n00
    if n == 0:
        return None
    observed = (n11 + n00) / n
    pa, pb = (n11 + n10) / n, (n11 + n01) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if math.isclose(expected, 1.0):
        return 1.0 if math.isclose(observed, 1.0) else None
    return (observed - expected) / (1 - expected)


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two binary raters on the same items (see `kappa_from_counts`)."""
    if len(a) != len(b):
        return None
    pairs = list(zip(a, b, strict=True))
    return kappa_from_counts(*(sum(p == cell for p in pairs) for cell in ((1, 1), (1, 0), (0, 1), (0, 0))))


_RATINGS_SQL = f"""
SELECT judge AS rater, example_id, verdict AS v FROM verdicts
UNION ALL
SELECT '{HUMAN}', example_id, verdict = 'keep' FROM ({queries.LATEST_OVERRIDES})
"""


def agreement(store: Store, judges: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Pairwise agreement between raters (judges, and `human override`) on the examples both rated:
    items, percent agreement and Cohen's kappa — one pass in SQL (each example's votes side by side)."""
    has_human = bool(store.query("SELECT 1 FROM overrides LIMIT 1"))
    raters = [*judge_names(store, judges), *([HUMAN] if has_human else [])]
    pairs = list(combinations(range(len(raters)), 2))
    if not pairs:
        return []
    columns = ", ".join(f"MAX(CASE WHEN rater = ? THEN v END) AS c{i}" for i in range(len(raters)))
    cells = ", ".join(f"SUM(c{i} = {x} AND c{j} = {y})" for i, j in pairs for x, y in ((1, 1), (1, 0), (0, 1), (0, 0)))
    row = store.query(f"WITH r AS ({_RATINGS_SQL}), p AS (SELECT {columns} FROM r GROUP BY example_id) "
                      f"SELECT {cells} FROM p", raters)[0]
    rows = []
    for k, (i, j) in enumerate(pairs):
        n11, n10, n01, n00 = (int(x or 0) for x in row[4 * k:4 * k + 4])
        items = n11 + n10 + n01 + n00
        kappa = kappa_from_counts(n11, n10, n01, n00)
        rows.append({"rater A": raters[i], "rater B": raters[j], "items": items,
                     "agreement %": round(100 * (n11 + n00) / items, 1) if items else None,
                     "kappa": None if kappa is None else round(kappa, 3)})
    return rows


def agreement_matrix(rows: Sequence[dict[str, Any]], value: str = "agreement %"
                     ) -> tuple[list[str], list[list[float | None]]]:
    """The symmetric rater × rater matrix of `value` from `agreement()` rows (diagonal: 100 % / kappa 1)."""
    names: list[str] = []
    for r in rows:
        for key in ("rater A", "rater B"):
            if r[key] not in names:
                names.append(r[key])
    index = {n: k for k, n in enumerate(names)}
    diagonal = 100.0 if value == "agreement %" else 1.0
    matrix: list[list[float | None]] = [[diagonal if i == j else None for j in range(len(names))]
                                        for i in range(len(names))]
    for r in rows:
        i, j = index[r["rater A"]], index[r["rater B"]]
        matrix[i][j] = matrix[j][i] = r[value]
    return names, matrix


# -- the dataset -------------------------------------------------------------------------------
def dataset_filters(store: Store) -> dict[str, list[str]]:
    """Values to filter examples by: backward mode, environment, rollout run."""
    return {
        "mode": [r[0] for r in store.query("SELECT DISTINCT mode FROM examples ORDER BY mode")],
        "env": [r[0] for r in store.query("SELECT DISTINCT t.env FROM examples e JOIN trajectories t "
                                          "ON t.id = e.trajectory_id ORDER BY t.env")],
        "run": [r[0] for r in store.query("SELECT DISTINCT r.name FROM examples e JOIN trajectories t ON "
                                          "t.id = e.trajectory_id JOIN runs r ON r.id = t.run_id ORDER BY r.name")],
    }


def search_examples(store: Store, *, policy: str = "strict", judges: int = 0, search: str = "",
                    mode: str | None = None, env: str | None = None, run: str | None = None,
                    kept_only: bool = True, limit: int = 500) -> list[dict[str, Any]]:
    """Examples whose instruction contains `search` (case-insensitive), filtered; kept ones by default."""
    sql = ("SELECT e.id, e.instruction, e.mode, t.env, r.name AS run, e.trajectory_id AS trajectory, "
           "e.span_start, e.span_end, e.span_end - e.span_start + 1 AS steps FROM examples e "
           "JOIN trajectories t ON t.id = e.trajectory_id LEFT JOIN runs r ON r.id = t.run_id WHERE 1=1")
    params: list[Any] = []
    if search:
        sql += " AND instr(lower(e.instruction), lower(?)) > 0"
        params.append(search)
    for col, value in (("e.mode", mode), ("t.env", env), ("r.name", run)):
        if value:
            sql += f" AND {col} = ?"
            params.append(value)
    rows = _rows(store, sql + " ORDER BY e.id", params)
    decisions = _decision_map(store, policy, judges)
    out = []
    for row in rows:
        row["kept"] = bool(decisions.get(row["id"], {}).get("kept"))
        if row["kept"] or not kept_only:
            out.append(row)
        if len(out) >= limit:
            break
    return out
