"""Clusters of instructions, read from the store (`lbi curate cluster` writes them): each cluster's size, its
representative, its groups of near-identical instructions, and how the committee treated it — computed when asked,
from the verdicts and overrides of now, like every kept/dropped count."""

from __future__ import annotations

import json
from typing import Any

from lbi.store import committee
from lbi.store.committee import Judges
from lbi.store.db import Store


def latest(store: Store) -> dict[str, Any] | None:
    """The clustering in the store (the newest run that wrote one): run id, name, status, when, its settings,
    message, and how many examples and clusters it holds; None when there is none."""
    rows = store.query(
        "SELECT r.id, r.name, r.status, r.created_at, r.updated_at, r.config_json, r.message "
        "FROM runs r WHERE r.id = (SELECT MAX(run_id) FROM clusters)"
    )
    if not rows:
        return None
    run = dict(rows[0])
    run["config"] = json.loads(run.pop("config_json") or "{}")
    counts = store.query("SELECT COUNT(*), COUNT(DISTINCT cluster) FROM clusters WHERE run_id = ?", (run["id"],))[0]
    run["examples"], run["clusters"] = int(counts[0]), int(counts[1])
    return run


def summary(
    store: Store, *, policy: str = "strict", judges: Judges = 0, min_size: int = 2, search: str = "", limit: int = 500
) -> list[dict[str, Any]]:
    """One row per cluster of at least `min_size` examples, the largest first: cluster, size, near-duplicate groups
    (of more than one example), how many examples the committee keeps, drops, and humans overrode, the share kept,
    and the representative (the example closest to the cluster's centre) with its instruction. With `search`, only
    clusters with an instruction containing it."""
    sql, params = committee.decision_sql(policy, judges)
    where = ""
    if search:
        where = (
            "AND c.cluster IN (SELECT c2.cluster FROM clusters c2 JOIN examples e2 ON e2.id = c2.example_id "
            "WHERE instr(lower(e2.instruction), lower(:search)) > 0)"
        )
    rows = store.query(
        f"""
        WITH d AS MATERIALIZED ({sql}),
             g AS (SELECT cluster, near_dup, COUNT(*) AS n FROM clusters GROUP BY cluster, near_dup),
             gc AS (SELECT cluster, SUM(n > 1) AS groups FROM g GROUP BY cluster),
             rep AS (SELECT cluster, example_id, MAX(score) FROM clusters GROUP BY cluster)
        SELECT c.cluster, COUNT(*) AS size, gc.groups AS near_dup_groups, SUM(d.kept) AS kept,
               COUNT(*) - SUM(d.kept) AS dropped, SUM(d.override IS NOT NULL) AS overridden,
               rep.example_id AS representative
        FROM clusters c JOIN d ON d.example_id = c.example_id JOIN gc ON gc.cluster = c.cluster
             JOIN rep ON rep.cluster = c.cluster
        WHERE 1=1 {where}
        GROUP BY c.cluster HAVING COUNT(*) >= :min_size ORDER BY size DESC, c.cluster LIMIT :limit
    """,
        {**params, "min_size": min_size, "limit": limit, "search": search},
    )
    out = [dict(r) for r in rows]
    texts = {
        r[0]: r[1]
        for r in store.query(
            "SELECT id, instruction FROM examples WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([r["representative"] for r in out]),),
        )
    }
    for row in out:
        row["kept %"] = round(100 * row["kept"] / row["size"], 1) if row["size"] else 0.0
        row["instruction"] = texts.get(row["representative"], "")
    return out


def members(store: Store, cluster: int, *, policy: str = "strict", judges: Judges = 0) -> list[dict[str, Any]]:
    """The examples of a cluster with their near-identical ones side by side (groups largest first, each by
    closeness to the centre): id, near-duplicate group and its size, closeness, instruction, judges saying yes,
    override, kept."""
    rows = [
        dict(r)
        for r in store.query(
            "SELECT c.example_id AS id, c.near_dup AS group_id, c.score, e.instruction, e.trajectory_id AS trajectory, "
            "(SELECT COUNT(*) FROM clusters c2 WHERE c2.near_dup = c.near_dup) AS group_size "
            "FROM clusters c JOIN examples e ON e.id = c.example_id WHERE c.cluster = ? "
            "ORDER BY group_size DESC, c.near_dup, c.score DESC, c.example_id",
            (cluster,),
        )
    ]
    sql, params = committee.decision_sql(policy, judges, [r["id"] for r in rows])
    decided = {r["example_id"]: dict(r) for r in store.query(sql, params)}
    for row in rows:
        d = decided.get(row["id"], {})
        row["score"] = round(row["score"], 3)
        row["yes"] = f"{d.get('yes', 0)}/{max(d.get('n', 0), committee.size(judges))}"
        row["override"] = d.get("override") or ""
        row["kept"] = bool(d.get("kept"))
    return rows


def of_example(store: Store, example_id: int) -> dict[str, Any] | None:
    """The cluster an example is in (cluster, near-duplicate group, how many share each), or None."""
    rows = store.query(
        "SELECT cluster, near_dup, (SELECT COUNT(*) FROM clusters c2 WHERE c2.cluster = c.cluster) "
        "AS size, (SELECT COUNT(*) FROM clusters c3 WHERE c3.near_dup = c.near_dup) AS group_size "
        "FROM clusters c WHERE example_id = ?",
        (example_id,),
    )
    return dict(rows[0]) if rows else None
