"""Review queues and bulk decisions, read from the store: which examples a reviewer goes through, in which order,
and the batches of overrides bulk decisions left.

A queue is a `QueueSpec` (what to go through; it round-trips through a URL's query parameters) turned into a list
of example ids once, when it is picked: going through it then reads one example at a time (`read.example`), so the
next example costs the same in a store of 100 examples or 100,000.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from lbi.store import committee, leaks
from lbi.store.committee import Judges
from lbi.store.db import Store

QUEUES: dict[str, str] = {
    "filtered": "Filtered out",
    "kept": "Kept",
    "disagree": "Judges disagree",
    "one-no": "One judge said no",
    "all": "All examples",
    "cluster": "A cluster",
    "trajectory": "One trajectory",
    "batch": "A bulk decision",
    "leaks": "Leak flags",
}
"""Queue kinds and what the workbench calls them. Any of them can be narrowed by a search."""


class QueueSpec(BaseModel):
    """What to go through: a kind of queue (`QUEUES`), narrowed by a case-insensitive search of the instruction and,
    with `unreviewed`, to the examples without a human override yet. The leak flags queue goes through the examples
    the leakage check flagged, those of `leaks` (`lbi.store.leaks.REVIEW_STATES`: undecided first by default)."""

    kind: str = "filtered"
    policy: str = "strict"
    search: str = ""
    cluster: int | None = None
    trajectory: int | None = None
    batch: str = ""
    unreviewed: bool = False
    leaks: str = "all"

    def label(self) -> str:
        """The queue in a few words, e.g. `Filtered out (strict) · “milestone” · not reviewed yet`."""
        name = QUEUES.get(self.kind, self.kind)
        if self.kind in ("filtered", "kept"):
            name += f" ({self.policy})"
        elif self.kind == "cluster":
            name = f"Cluster {self.cluster}"
        elif self.kind == "trajectory":
            name = f"Trajectory {self.trajectory}"
        elif self.kind == "batch":
            name = f"Bulk decision {self.batch}"
        elif self.kind == "leaks":
            name += f" ({leaks.REVIEW_STATES.get(self.leaks, self.leaks)})"
        parts = (
            [name] + ([f"“{self.search}”"] if self.search else []) + (["not reviewed yet"] if self.unreviewed else [])
        )
        return " · ".join(parts)

    def params(self) -> dict[str, str]:
        """The spec as URL query parameters (defaults left out)."""
        out = {"queue": self.kind}
        if self.kind in ("filtered", "kept") and self.policy != "strict":
            out["policy"] = self.policy
        if self.kind == "leaks" and self.leaks != "all":
            out["leaks"] = self.leaks
        for name in ("search", "batch"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in ("cluster", "trajectory"):
            if getattr(self, name) is not None:
                out[name] = str(getattr(self, name))
        if self.unreviewed:
            out["unreviewed"] = "1"
        return out

    @classmethod
    def from_params(cls, params: dict[str, str], *, policy: str = "strict") -> QueueSpec:
        """The spec of URL query parameters (`params()`); ValueError when one is malformed."""
        kind = params.get("queue", "filtered")
        if kind not in QUEUES:
            raise ValueError(f"no queue {kind!r}: choose one of {', '.join(QUEUES)}")
        return cls(
            kind=kind,
            policy=committee.check_policy(params.get("policy", policy)),
            search=params.get("search", ""),
            batch=params.get("batch", ""),
            cluster=int(params["cluster"]) if params.get("cluster") else None,
            trajectory=int(params["trajectory"]) if params.get("trajectory") else None,
            unreviewed=params.get("unreviewed", "") in ("1", "true", "yes"),
            leaks=leaks.check_review_state(params.get("leaks") or "all"),
        )


def _ids(store: Store, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[int]:
    return [int(r[0]) for r in store.query(sql, params)]


def queue_ids(store: Store, spec: QueueSpec, judges: Judges) -> list[int]:
    """The examples of a queue, in the order to go through them: by id, a trajectory's by span, a cluster's with
    its near-identical instructions side by side (the closest to the cluster's centre first), the leak flags'
    undecided ones first (`leaks.example_queue`)."""
    kind = spec.kind
    # the judges that vote (named), or every judge's verdicts (a committee size)
    named = () if isinstance(judges, int) else (json.dumps(list(judges)),)
    voting = "WHERE judge IN (SELECT value FROM json_each(?)) " if named else ""
    if kind in ("filtered", "kept"):
        ids = committee.decided_ids(store, spec.policy, judges, kept=kind == "kept")
    elif kind == "disagree":
        ids = _ids(
            store,
            f"SELECT example_id FROM verdicts {voting}GROUP BY example_id "
            "HAVING SUM(verdict) > 0 AND SUM(verdict) < COUNT(*) ORDER BY example_id",
            named,
        )
    elif kind == "one-no":
        ids = _ids(
            store,
            f"SELECT example_id FROM verdicts {voting}GROUP BY example_id "
            "HAVING COUNT(*) - SUM(verdict) = 1 ORDER BY example_id",
            named,
        )
    elif kind == "all":
        ids = _ids(store, "SELECT id FROM examples ORDER BY id")
    elif kind == "cluster":
        ids = _ids(
            store,
            "SELECT example_id FROM clusters WHERE cluster = ? ORDER BY near_dup, score DESC, example_id",
            (spec.cluster if spec.cluster is not None else -1,),
        )
    elif kind == "trajectory":
        ids = _ids(
            store,
            "SELECT id FROM examples WHERE trajectory_id = ? ORDER BY span_start, span_end, mode, id",
            (spec.trajectory if spec.trajectory is not None else -1,),
        )
    elif kind == "batch":
        ids = _ids(store, "SELECT example_id FROM overrides WHERE batch = ? ORDER BY example_id", (spec.batch,))
    elif kind == "leaks":
        ids = leaks.example_queue(store, spec.leaks)
    else:
        raise ValueError(f"no queue {kind!r}: choose one of {', '.join(QUEUES)}")
    if spec.search:
        matching = set(
            _ids(store, "SELECT id FROM examples WHERE instr(lower(instruction), lower(?)) > 0", (spec.search,))
        )
        ids = [i for i in ids if i in matching]
    if spec.unreviewed:
        reviewed = set(_ids(store, "SELECT DISTINCT example_id FROM overrides WHERE undone_at IS NULL"))
        ids = [i for i in ids if i not in reviewed]
    return ids


def queue_rows(store: Store, ids: Sequence[int], *, policy: str, judges: Judges) -> list[dict[str, Any]]:
    """Table rows of these examples, in their order: id, instruction, trajectory, span, judges saying yes, the
    latest override and whether the committee keeps it (for a selection table of a few thousand rows)."""
    sql, params = committee.decision_sql(policy, judges, ids)
    decided = {r["example_id"]: dict(r) for r in store.query(sql, params)}
    rows = {
        r["id"]: dict(r)
        for r in store.query(
            "SELECT id, instruction, trajectory_id AS trajectory, span_start || '–' || span_end AS span, mode "
            "FROM examples WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
    }
    out = []
    for i in ids:
        if i not in rows:
            continue
        d = decided.get(i, {})
        out.append(
            {
                **rows[i],
                "yes": f"{d.get('yes', 0)}/{max(d.get('n', 0), committee.size(judges))}",
                "override": d.get("override") or "",
                "kept": bool(d.get("kept")),
            }
        )
    return out


def batches(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The newest bulk decisions: batch id, verdict, note, who, when, how many examples, how many undone."""
    return [
        dict(r)
        for r in store.query(
            "SELECT batch, MIN(verdict) AS verdict, MIN(note) AS note, MIN(who) AS who, MIN(at) AS at, COUNT(*) AS "
            "examples, SUM(undone_at IS NOT NULL) AS undone FROM overrides WHERE batch IS NOT NULL GROUP BY batch "
            "ORDER BY MAX(id) DESC LIMIT ?",
            (limit,),
        )
    ]
