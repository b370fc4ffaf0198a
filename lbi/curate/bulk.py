"""Bulk decisions: one keep or drop, with one note, over a selection of examples (a queue, a search, a cluster,
rows picked in a table) — shown before it is applied, recorded as one override per example under one batch id,
and undone as one.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lbi.store import committee
from lbi.store.committee import Judges
from lbi.store.db import Store

SAMPLE = 10
"""Instructions shown in a preview."""


@dataclass
class BulkPlan:
    """What a bulk decision would do, before it is applied: the examples, the verdict and note, how many the
    committee keeps now, how many would change (kept ↔ dropped), how many have that very override already, and a
    sample of their instructions."""

    ids: list[int]
    verdict: Literal["keep", "drop"]
    note: str
    kept_now: int
    changes: int
    already: int
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        verb = "Keep" if self.verdict == "keep" else "Drop"
        examples = "1 example" if len(self.ids) == 1 else f"{len(self.ids)} examples"
        return (
            f"{verb} {examples}: {self.changes} change (the committee keeps {self.kept_now} of them now), "
            f"{self.already} have this override already"
        )


def new_batch_id() -> str:
    """A batch id that sorts by time: `bulk-YYYYmmdd-HHMMSS-xxxx`."""
    return f"bulk-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def plan(
    store: Store,
    ids: Sequence[int],
    verdict: Literal["keep", "drop"],
    *,
    note: str = "",
    policy: str = "strict",
    judges: Judges = 0,
) -> BulkPlan:
    """Preview a bulk decision over `ids` (duplicates and unknown ids left out) under `policy`."""
    if verdict not in ("keep", "drop"):
        raise ValueError("a bulk decision is 'keep' or 'drop'")
    unique = list(dict.fromkeys(int(i) for i in ids))
    rows = committee.decisions(store, policy, judges, ids=unique)
    present = {r["example_id"]: r for r in rows}
    wanted = verdict == "keep"
    kept_now = sum(bool(r["kept"]) for r in rows)
    sample = [
        dict(r)
        for r in store.query(
            "SELECT id, instruction FROM examples WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps([i for i in unique if i in present][:SAMPLE]),),
        )
    ]
    return BulkPlan(
        ids=[i for i in unique if i in present],
        verdict=verdict,
        note=note,
        kept_now=kept_now,
        changes=sum(bool(r["kept"]) != wanted for r in rows),
        already=sum(r["override"] == verdict for r in rows),
        sample=sample,
    )


def apply(store: Store, bulk: BulkPlan, *, who: str) -> str:
    """Record the plan: one override per example, all under a new batch id (returned)."""
    batch = new_batch_id()
    store.add_overrides(bulk.ids, bulk.verdict, who=who, note=bulk.note, batch=batch)
    return batch


def undo(store: Store, batch: str, *, who: str) -> int:
    """Undo every override of a batch (each example's previous override, or the committee, decides again);
    returns how many were undone."""
    return store.undo_overrides(batch=batch, who=who)
