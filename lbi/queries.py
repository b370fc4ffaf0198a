"""Read-only views of the store for the CLI, the pages and reports.

Kept/dropped is computed here from verdicts + policy + overrides every time it is asked for,
never copied into a column that could drift.
"""

from __future__ import annotations

from typing import Any

from lbi.store import Store

POLICIES = ("strict", "majority", "relaxed")

_DECISION_SQL = """
WITH v AS (SELECT example_id, SUM(verdict) AS yes, COUNT(*) AS n FROM verdicts GROUP BY example_id),
     o AS (SELECT example_id, verdict FROM overrides
           WHERE id IN (SELECT MAX(id) FROM overrides GROUP BY example_id))
SELECT e.id AS example_id, v.yes AS yes, v.n AS n, o.verdict AS override,
       CASE WHEN o.verdict IS NOT NULL THEN o.verdict = 'keep'
            WHEN v.n IS NULL THEN 0
            WHEN :policy = 'strict' THEN v.yes = v.n
            WHEN :policy = 'majority' THEN v.yes * 2 > v.n
            ELSE v.yes > 0 END AS kept
FROM examples e LEFT JOIN v ON v.example_id = e.id LEFT JOIN o ON o.example_id = e.id
"""


def decisions(store: Store, policy: str = "strict") -> list[dict[str, Any]]:
    """One row per example: judges' yes votes, judge count, latest override, kept under `policy`."""
    if policy not in POLICIES:
        raise ValueError(f"unknown judge policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return [dict(r) for r in store.query(_DECISION_SQL, {"policy": policy})]


def kept_count(store: Store, policy: str = "strict") -> int:
    row = store.query(f"SELECT COUNT(*) FROM ({_DECISION_SQL}) WHERE kept", {"policy": policy})
    return int(row[0][0])


def funnel(store: Store, policy: str = "strict") -> dict[str, int]:
    """chunks → tasks → trajectories → steps → examples → kept."""
    counts = store.counts()
    return {
        "chunks": counts["chunks"],
        "tasks": counts["tasks"],
        "trajectories": counts["trajectories"],
        "steps": counts["steps"],
        "examples": counts["examples"],
        "kept": kept_count(store, policy),
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
    rows = store.query(
        "SELECT id, name, kind, status, progress_done, progress_total, message, created_at, updated_at "
        "FROM runs ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(r) for r in rows]
