"""Read-only views of the store for the CLI, the pages and reports.

Kept/dropped is computed here from verdicts + policy + overrides every time it is asked for,
never copied into a column that could drift.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lbi.errors import check_choice
from lbi.observations import chrome_lines
from lbi.store.db import Store

POLICIES = ("strict", "majority", "relaxed")
LATEST_OVERRIDES = ("SELECT example_id, verdict FROM overrides "
                    "WHERE id IN (SELECT MAX(id) FROM overrides GROUP BY example_id)")
"""The newest human override of each example (the one that wins)."""

_DECISION_SQL = f"""
WITH scope AS (SELECT value AS id FROM json_each(:ids) UNION
               SELECT s.other_id FROM similar_examples s WHERE s.example_id IN (SELECT value FROM json_each(:ids))),
     v AS (SELECT example_id, SUM(verdict) AS yes, COUNT(*) AS n FROM verdicts
           WHERE :ids IS NULL OR example_id IN (SELECT id FROM scope) GROUP BY example_id),
     o AS ({LATEST_OVERRIDES}),
     base AS (
        SELECT e.id AS example_id, COALESCE(v.yes, 0) AS yes, COALESCE(v.n, 0) AS n, o.verdict AS override,
               CASE WHEN v.n IS NULL THEN 0
                    WHEN :policy = 'strict' THEN v.yes >= max(v.n, :judges)
                    WHEN :policy = 'majority' THEN v.yes * 2 > max(v.n, :judges)
                    ELSE v.yes > 0 END AS passed
        FROM examples e LEFT JOIN v ON v.example_id = e.id LEFT JOIN o ON o.example_id = e.id
        WHERE :ids IS NULL OR e.id IN (SELECT id FROM scope)),
     flagged AS (
        SELECT b.*, EXISTS (
            SELECT 1 FROM similar_examples s JOIN base b2 ON b2.example_id = s.other_id
            WHERE s.example_id = b.example_id
              AND (b2.override = 'keep' OR (b2.override IS NULL AND b2.passed))) AS duplicate
        FROM base b)
SELECT example_id, yes, n, override, passed, duplicate,
       CASE WHEN override IS NOT NULL THEN override = 'keep' ELSE passed AND NOT duplicate END AS kept
FROM flagged WHERE :ids IS NULL OR example_id IN (SELECT value FROM json_each(:ids))
"""


def check_policy(policy: str) -> str:
    """`policy` if it is a judge policy, else `UnknownChoiceError` (callers check before starting a run)."""
    return check_choice("judge policy", policy, POLICIES)


def _params(policy: str, judges: int, ids: Sequence[int] | None) -> dict[str, Any]:
    check_policy(policy)
    return {"policy": policy, "judges": judges, "ids": None if ids is None else json.dumps(list(ids))}


def decisions(store: Store, policy: str = "strict", judges: int = 0, ids: Sequence[int] | None = None
              ) -> list[dict[str, Any]]:
    """One row per example (or per example of `ids`): yes votes, verdict count, latest override, passed the
    policy, duplicate of an earlier kept example, and kept. `judges` is the committee size (a missing verdict
    counts as no)."""
    return [dict(r) for r in store.query(_DECISION_SQL, _params(policy, judges, ids))]


def kept_count(store: Store, policy: str = "strict", judges: int = 0) -> int:
    row = store.query(f"SELECT COUNT(*) FROM ({_DECISION_SQL}) WHERE kept", _params(policy, judges, None))
    return int(row[0][0])


_KEPT_BY_POLICY_SQL = f"""
WITH v AS (SELECT example_id, SUM(verdict) AS yes, COUNT(*) AS n FROM verdicts GROUP BY example_id),
     o AS ({LATEST_OVERRIDES}),
     base AS (
        SELECT e.id AS example_id, o.verdict AS override,
               COALESCE(v.yes >= max(v.n, :judges), 0) AS p_strict,
               COALESCE(v.yes * 2 > max(v.n, :judges), 0) AS p_majority,
               COALESCE(v.yes > 0, 0) AS p_relaxed
        FROM examples e LEFT JOIN v ON v.example_id = e.id LEFT JOIN o ON o.example_id = e.id),
     flagged AS (
        SELECT b.*,
          EXISTS (SELECT 1 FROM similar_examples s JOIN base b2 ON b2.example_id = s.other_id
                  WHERE s.example_id = b.example_id AND COALESCE(b2.override = 'keep', b2.p_strict)) AS d_strict,
          EXISTS (SELECT 1 FROM similar_examples s JOIN base b2 ON b2.example_id = s.other_id
                  WHERE s.example_id = b.example_id AND COALESCE(b2.override = 'keep', b2.p_majority)) AS d_majority,
          EXISTS (SELECT 1 FROM similar_examples s JOIN base b2 ON b2.example_id = s.other_id
                  WHERE s.example_id = b.example_id AND COALESCE(b2.override = 'keep', b2.p_relaxed)) AS d_relaxed
        FROM base b)
SELECT COALESCE(SUM(CASE WHEN override IS NOT NULL THEN override = 'keep' ELSE p_strict AND NOT d_strict END), 0),
       COALESCE(SUM(CASE WHEN override IS NOT NULL THEN override = 'keep' ELSE p_majority AND NOT d_majority END), 0),
       COALESCE(SUM(CASE WHEN override IS NOT NULL THEN override = 'keep' ELSE p_relaxed AND NOT d_relaxed END), 0)
FROM flagged
"""


def kept_by_policy(store: Store, judges: int = 0) -> dict[str, int]:
    """How many examples each policy keeps, in one pass (same rules as `decisions`)."""
    row = store.query(_KEPT_BY_POLICY_SQL, {"judges": judges})[0]
    return dict(zip(POLICIES, (int(x) for x in row), strict=True))


def kept_ids(store: Store, policy: str = "strict", judges: int = 0) -> list[int]:
    return [r["example_id"] for r in decisions(store, policy, judges) if r["kept"]]


def funnel(store: Store, policy: str = "strict", judges: int = 0) -> dict[str, int]:
    """chunks → synthetic tasks → synthesis trajectories and steps (not evaluation ones) → examples → kept."""
    counts = store.counts()
    synth = ("FROM trajectories t LEFT JOIN runs r ON r.id = t.run_id WHERE COALESCE(r.kind, '') != 'eval'")
    return {
        "chunks": counts["chunks"],
        "tasks": store.query("SELECT COUNT(*) FROM tasks WHERE split = 'synthetic'")[0][0],
        "trajectories": store.query(f"SELECT COUNT(*) {synth}")[0][0],
        "steps": store.query(f"SELECT COUNT(*) FROM steps WHERE trajectory_id IN (SELECT t.id {synth})")[0][0],
        "examples": counts["examples"],
        "kept": kept_count(store, policy, judges),
    }


def usage_by_role(store: Store) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT role, model, COUNT(*) AS calls, SUM(cache_hit) AS cache_hits, SUM(1 - ok) AS errors, "
        "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, "
        "ROUND(SUM(latency_ms) / 1000.0, 2) AS seconds, SUM(cost) AS cost "
        "FROM llm_calls GROUP BY role, model ORDER BY calls DESC")
    return [dict(r) for r in rows]


def usage_over_time(store: Store) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT substr(at, 1, 16) AS minute, role, COUNT(*) AS calls, "
        "SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost) AS cost "
        "FROM llm_calls GROUP BY minute, role ORDER BY minute")
    return [dict(r) for r in rows]


def recent_runs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs; a `running` run whose process is gone (killed, machine restarted) shows as
    `interrupted` — re-running it resumes where it stopped."""
    from lbi.jobs import is_alive

    rows = store.query(
        "SELECT id, name, kind, status, progress_done, progress_total, message, created_at, updated_at, pid "
        "FROM runs ORDER BY id DESC LIMIT ?", (limit,))
    out = []
    for row in map(dict, rows):
        if row["status"] == "running" and not is_alive(row.pop("pid")):
            row["status"] = "interrupted"
        row.pop("pid", None)
        out.append(row)
    return out


def page_chrome(store: Store, sample: int = 500) -> frozenset[str]:
    """The site's chrome (navigation and other lines on most pages), learned from the latest `sample` steps."""
    rows = store.query("SELECT url, observation FROM steps ORDER BY id DESC LIMIT ?", (sample,))
    return chrome_lines((r[0], r[1]) for r in rows)
