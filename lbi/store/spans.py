"""The span grid of a trajectory: for every span [i, j] whether backward construction made an example of it and
what the committee decided (the Backward page's L×L grid)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbi.store import committee
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
    examples = store.dicts(
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
