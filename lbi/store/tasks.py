"""Tasks as stored, read back as `Task` objects: held-out tasks keep their full spec (start state, check,
reference) in `spec_json`; a synthetic task has an instruction, a start state and no check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lbi.envs.tasks import CheckSpec, Task
from lbi.store.db import Store

NO_CHECK = CheckSpec(kind="none")


def task_from_row(row: dict[str, Any]) -> Task:
    """A Task from a `tasks` row (`id`, `instruction`, `env`, optional `spec_json`)."""
    spec = json.loads(row.get("spec_json") or "{}")
    if spec.get("check"):
        return Task.model_validate({**spec, "id": row["id"], "instruction": row["instruction"], "env": row["env"]})
    return Task(id=row["id"], env=row["env"], instruction=row["instruction"], start=spec.get("start", {}),
                check=NO_CHECK, split="synthetic")


def tasks(store: Store, split: str, env: str, ids: Sequence[str] | None = None) -> list[Task]:
    """Tasks of one split and environment, oldest first (ties by id), optionally only those of `ids`."""
    rows = store.query("SELECT id, instruction, env, spec_json FROM tasks WHERE split = ? AND env = ? "
                       "ORDER BY created_at, id", (split, env))
    wanted = None if ids is None else set(ids)
    return [task_from_row(dict(r)) for r in rows if wanted is None or r["id"] in wanted]


def task(store: Store, task_id: str) -> Task | None:
    rows = store.query("SELECT id, instruction, env, spec_json FROM tasks WHERE id = ?", (task_id,))
    return task_from_row(dict(rows[0])) if rows else None
