"""What the leakage check found, read from the store: which items are kept out, the flags with their hits.

The check itself (what is compared with what, the thresholds) is `lbi.synth.leakage`; it writes one row per item
it checked into `leak_checks`. An item is *blocked* — kept out of training, export, the index and task
generation — when the check flagged it and no person allowed it since, or when a person blocked it
(`leak_overrides`, the newest decision per item wins, kept with who, when and why; an undone decision stays on
record and no longer counts). `BLOCKED` is that rule, once;
the committee's keep/drop rule (`lbi.store.committee`) and everything else that reads it goes through it.
"""

from __future__ import annotations

import json
from typing import Any

from lbi.errors import check_choice
from lbi.store.db import Store

KINDS = ("example", "task", "chunk")
"""What the check looks at: synthesized examples (instruction and answer), synthetic tasks (task generation's
instructions) and doc chunks (what task generation and docs retrieval read)."""

LATEST = (
    "SELECT id, kind, item, verdict, note, who, at FROM leak_overrides "
    "WHERE id IN (SELECT MAX(id) FROM leak_overrides WHERE undone_at IS NULL GROUP BY kind, item)"
)
"""The newest person's decision on each item, not undone (the one that wins)."""

BLOCKED = f"""
SELECT c.kind, c.item FROM leak_checks c LEFT JOIN ({LATEST}) o ON o.kind = c.kind AND o.item = c.item
WHERE c.flagged AND COALESCE(o.verdict, 'block') = 'block'
UNION SELECT o.kind, o.item FROM ({LATEST}) o WHERE o.verdict = 'block'
"""
"""(kind, item) of every item kept out: flagged and not allowed since, or blocked by a person."""


def check_kind(kind: str) -> str:
    return check_choice("leak item kind", kind, KINDS)


def blocked(store: Store, kind: str) -> set[str]:
    """The ids (as text) of the items of `kind` that are kept out."""
    return {r[0] for r in store.query(f"SELECT item FROM ({BLOCKED}) WHERE kind = ?", (check_kind(kind),))}


def digests(store: Store, kind: str) -> dict[str, str]:
    """What each checked item of `kind` was checked as (a new check skips items whose digest is unchanged)."""
    return {r[0]: r[1] for r in store.query("SELECT item, digest FROM leak_checks WHERE kind = ?", (kind,))}


def flags(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    """Every item the check flagged or a person decided on: kind, item, hits (held-out task, measure, score,
    excerpt), `blocked`, and the newest decision (verdict, who, at, note) if any; examples first, by id."""
    rows = store.query(
        f"""SELECT k.kind, k.item, c.hits_json, c.flagged, o.verdict, o.who, o.at, o.note,
                   EXISTS (SELECT 1 FROM ({BLOCKED}) b WHERE b.kind = k.kind AND b.item = k.item) AS blocked
            FROM (SELECT kind, item FROM leak_checks WHERE flagged
                  UNION SELECT kind, item FROM leak_overrides WHERE undone_at IS NULL) k
            LEFT JOIN leak_checks c ON c.kind = k.kind AND c.item = k.item
            LEFT JOIN ({LATEST}) o ON o.kind = k.kind AND o.item = k.item
            WHERE ? IS NULL OR k.kind = ?""",
        (kind, kind),
    )
    order = {k: i for i, k in enumerate(KINDS)}
    out = [
        {
            "kind": r["kind"],
            "item": r["item"],
            "flagged": bool(r["flagged"]),
            "blocked": bool(r["blocked"]),
            "hits": json.loads(r["hits_json"] or "[]"),
            "decision": r["verdict"],
            "who": r["who"],
            "at": r["at"],
            "note": r["note"],
        }
        for r in rows
    ]
    return sorted(out, key=lambda f: (order[f["kind"]], int(f["item"]) if f["item"].isdigit() else 0, f["item"]))


def flag(store: Store, kind: str, item: str | int) -> dict[str, Any] | None:
    """One item's entry of `flags`, or None when the check did not flag it and no person decided on it."""
    return next((f for f in flags(store, check_kind(kind)) if f["item"] == str(item)), None)


REVIEW_STATES: dict[str, str] = {
    "all": "all, undecided first",
    "undecided": "undecided",
    "allowed": "allowed by a person",
    "kept-out": "kept out by a person",
}
"""Which leak flags of examples a review goes through (`example_queue`), and what the workbench calls them."""


def check_review_state(state: str) -> str:
    return check_choice("leak flags", state, tuple(REVIEW_STATES))


def example_queue(store: Store, state: str = "all") -> list[int]:
    """The examples of `flags` (the check flagged them, or a person decided on them) still in the store, to review
    their flags: `undecided` (no person's decision yet: kept out by the flag alone), `allowed` or `kept-out` (by a
    person's newest decision), or `all`: the undecided first, then the decided; each by id."""
    where = {
        "all": "",
        "undecided": "WHERE o.verdict IS NULL",
        "allowed": "WHERE o.verdict = 'allow'",
        "kept-out": "WHERE o.verdict = 'block'",
    }[check_review_state(state)]
    rows = store.query(
        f"""SELECT e.id FROM (SELECT item FROM leak_checks WHERE kind = 'example' AND flagged
                              UNION SELECT item FROM leak_overrides WHERE kind = 'example' AND undone_at IS NULL) k
            JOIN examples e ON e.id = CAST(k.item AS INTEGER)
            LEFT JOIN ({LATEST}) o ON o.kind = 'example' AND o.item = k.item
            {where} ORDER BY o.verdict IS NOT NULL, e.id"""
    )
    return [int(r[0]) for r in rows]


def hit_rows(store: Store, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A flag's hits as table rows: the held-out task, its instruction, the measure, the score and the text that
    resembles it (the held-out instruction is '' when the task is no longer in the store)."""
    ids = sorted({str(h["heldout"]) for h in hits})
    instructions = {
        r[0]: r[1]
        for r in store.query(
            "SELECT id, instruction FROM tasks WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
        )
    }
    return [
        {
            "held-out task": h["heldout"],
            "its instruction": instructions.get(str(h["heldout"]), ""),
            "measure": h["measure"],
            "score": h["score"],
            "matched text": str(h.get("excerpt") or ""),
        }
        for h in hits
    ]


def resembles(hits: list[dict[str, Any]]) -> str:
    """The held-out tasks a flagged item resembles, how and how much: `sql-003 (answer 1.0)`."""
    return "; ".join(f"{h['heldout']} ({h['measure']} {h['score']})" for h in hits)


def checked_count(store: Store) -> dict[str, int]:
    """How many items of each kind the check has looked at."""
    counts = dict.fromkeys(KINDS, 0)
    for r in store.query("SELECT kind, COUNT(*) FROM leak_checks GROUP BY kind"):
        counts[r[0]] = int(r[1])
    return counts
