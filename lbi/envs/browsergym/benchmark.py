"""BrowserGym benchmark tasks as lbi tasks: task ids × seeds, held-out for evaluation, other seeds for synthesis.

    lbi tasks import --browsergym 'miniwob.click-*' --seeds 1000-1099                 # held-out
    lbi tasks import --browsergym 'miniwob.click-*' --seeds 0-19 --split synthetic     # for llm rollouts

Each (task id, seed) is one lbi task ``<id>@<seed>`` in env ``browsergym``: ``start = {"task": id, "seed": seed}``,
``goal_at_reset`` (the task states its goal when it resets; the instruction is only a label) and the check
``env_reward`` (the task's own ``validate``). Seedless synthesis episodes (explore walks) draw their seeds from the
env's ``synth_seeds`` option.

**Leakage**: the same (task id, seed) must never be both held-out and synthesis material. :func:`overlaps` finds
such pairs among the tasks given, the project's stored tasks of the other split, the ``synth_seeds`` the project's
browsergym env draws from, and the (task, seed) pairs its synthesis trajectories actually ran (recorded at reset);
:func:`import_benchmark` refuses an import that would create one, naming the pairs.
"""

from __future__ import annotations

import json
from typing import Any

from lbi.config import EnvConfig
from lbi.envs.base import CheckSpec, EnvError, Task
from lbi.envs.browsergym.bridge import registered_task_ids
from lbi.envs.browsergym.env import parse_seeds
from lbi.envs.tasks import check_env_of, task_rows
from lbi.store.db import Store


def benchmark_tasks(pattern: str, seeds: str, *, split: str = "heldout", imports: tuple[str, ...] = ()) -> list[Task]:
    """One task per registered id matching ``pattern`` and per seed of ``seeds`` (``1000-1099``)."""
    ids = registered_task_ids(pattern, imports)
    if not ids:
        raise EnvError(
            f"no registered BrowserGym task matches {pattern!r} (e.g. 'miniwob.click-*'; the benchmark's "
            "package must be installed)"
        )
    return [
        Task(
            id=f"{task_id}@{seed}",
            env="browsergym",
            instruction=f"{task_id} (seed {seed}): the goal is given at reset",
            start={"task": task_id, "seed": seed},
            check=CheckSpec(kind="env_reward"),
            split=split,
            goal_at_reset=True,
            tags=["browsergym", task_id.split(".", 1)[0]],
            source=None,
        )
        for task_id in ids
        for seed in parse_seeds(seeds)
    ]


def _pairs(rows: Any) -> set[tuple[str, int]]:
    out = set()
    for row in rows:
        start = json.loads(row[0] or "{}").get("start", {})
        if start.get("task") and "seed" in start:
            out.add((str(start["task"]), int(start["seed"])))
    return out


def overlaps(store: Store, env: EnvConfig, tasks: list[Task]) -> list[tuple[str, int]]:
    """(task id, seed) pairs that would be on both sides, held-out and synthesis, in a project with this store and
    this `[env]` section."""
    side: dict[str, set[tuple[str, int]]] = {"heldout": set(), "synthetic": set()}
    for t in tasks:
        if t.start.get("task") and "seed" in t.start:
            side[t.split].add((str(t.start["task"]), int(t.start["seed"])))
    for split in side:
        side[split] |= _pairs(
            store.query("SELECT spec_json FROM tasks WHERE env = 'browsergym' AND split = ?", (split,))
        )
    ran = store.query(
        "SELECT t.config_json FROM trajectories t LEFT JOIN runs r ON r.id = t.run_id WHERE "
        "t.env = 'browsergym' AND COALESCE(r.kind, '') != 'eval'"
    )
    for row in ran:
        config = json.loads(row[0] or "{}")
        if config.get("env_task") and "seed" in config:
            side["synthetic"].add((str(config["env_task"]), int(config["seed"])))
    clash = side["heldout"] & side["synthetic"]
    if env.name == "browsergym":
        drawn = set(parse_seeds(env.options.get("synth_seeds", "0-999")))
        clash |= {(task, seed) for task, seed in side["heldout"] if seed in drawn}
    return sorted(clash)


def import_benchmark(
    store: Store, env: EnvConfig, pattern: str, seeds: str, *, split: str = "heldout"
) -> tuple[int, int]:
    """Store the tasks of ``pattern`` × ``seeds`` (after the leakage check); return (read, new). Task modules of
    the project's own (its browsergym env's ``imports`` option, in ``env``) are imported first."""
    imports = tuple(env.options.get("imports", ())) if env.name == "browsergym" else ()
    tasks = benchmark_tasks(pattern, seeds, split=split, imports=imports)
    check_env_of(tasks, env.name, f"--browsergym {pattern}")
    clash = overlaps(store, env, tasks)
    if clash:
        shown = ", ".join(f"{t}@{s}" for t, s in clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
        raise EnvError(
            f"leakage: {len(clash)} (task, seed) pair(s) would be both held-out and synthesis material: "
            f"{shown}; held-out seeds must lie outside the env's synth_seeds and the synthetic tasks' seeds"
        )
    return len(tasks), store.add_tasks(task_rows(tasks))
