"""The store as a Ray worker sees it: writes are kept in order and sent back to the driver, which replays them
on the project's real store (`apply`). So the driver stays the store's only writer, and the code that runs on
a worker (the agent loop and its recorder, backward construction, a judge) is the code that runs locally.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lbi.store.db import Store

Call = tuple[str, tuple[Any, ...], dict[str, Any]]
WRITES = (
    "add_step",
    "set_trajectory_goal",
    "finish_trajectory",
    "add_failure",
    "log_llm_call",
    "add_examples",
    "set_verdict",
    "add_evaluation",
)
"""The store's writes a worker may make (reads are the driver's: it sends what a worker needs)."""


@dataclass
class StoreRelay:
    """Stands in for `Store` on a worker. `begin_trajectory` answers with the trajectory the driver opened for
    this episode; every write in `WRITES` is kept until `drain()`."""

    trajectory_id: int | None = None
    calls: list[Call] = field(default_factory=list)

    def begin_trajectory(self, key: str, **fields: Any) -> tuple[int, str]:
        if self.trajectory_id is None:
            raise RuntimeError(f"{key}: the driver opens trajectories; a worker is given the id")
        return self.trajectory_id, "running"

    def add_examples(self, examples: Iterable[dict[str, Any]]) -> list[int]:
        rows = list(examples)
        self.calls.append(("add_examples", (rows,), {}))
        return [0] * len(rows)  # ids are the driver's; callers count them

    def drain(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls

    def __getattr__(self, name: str) -> Any:
        if name not in WRITES:
            raise AttributeError(
                f"a Ray worker's store has no {name!r}: the driver reads, the worker only writes ({', '.join(WRITES)})"
            )

        def record(*args: Any, **kwargs: Any) -> int:
            self.calls.append((name, args, kwargs))
            return 0

        return record


def apply(store: Store, calls: Iterable[Call]) -> dict[str, int]:
    """Replay a worker's writes on the real store, in order; returns how many rows each kind of write made
    (`add_examples` counts the examples that were new)."""
    made: dict[str, int] = {}
    for name, args, kwargs in calls:
        if name not in WRITES:
            raise ValueError(f"a worker sent {name!r}, which is not a store write it may make")
        result = getattr(store, name)(*args, **kwargs)
        made[name] = made.get(name, 0) + (len(result) if isinstance(result, list) else 1)
    return made
