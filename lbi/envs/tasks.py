"""Task files: reading and writing tasks (an instruction, a start state and a programmatic success check;
:class:`~lbi.envs.base.Task`, defined beside the Env protocol).

A task file is JSON Lines (one task per line), a JSON list, or TOML (``[[task]]`` tables);
see ``docs/envs.md``. ``reference`` is a scripted solution in the env's action grammar;
:func:`run_reference` replays it and the tests require every held-out task to pass.

:func:`load_tasks` refuses a file whose checks cannot run (unknown kind, missing parameter, in nested
``all``/``any`` checks too), naming the file and line. The check kinds live in :mod:`lbi.envs.checks`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lbi.envs.base import CheckSpec, Env, Observation, Task
from lbi.envs.checks import CheckResult, check_problems, check_task
from lbi.errors import UserError

__all__ = [
    "CheckResult",
    "CheckSpec",
    "Task",
    "TaskFileError",
    "check_task",
    "load_tasks",
    "run_reference",
    "save_tasks",
]


class TaskFileError(UserError):
    """A task file cannot be read; the message names file and line."""


# -- files ----------------------------------------------------------------------------------
def load_tasks(path: str | Path) -> list[Task]:
    """Tasks from a ``.jsonl``, ``.json`` or ``.toml`` file, or every such file in a
    directory (sorted). Ids must be unique."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".json", ".toml")) if path.is_dir() else [path]
    tasks: list[Task] = []
    for file in files:
        tasks += _load_file(file)
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise TaskFileError(f"duplicate task id {task.id!r} in {path}")
        seen.add(task.id)
    return tasks


def _json_line(file: Path, number: int, line: str) -> Any:
    """One JSONL record; a broken one is named by the file's line number (json counts lines within the record)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise TaskFileError(f"{file}:{number}: not valid JSON: {err.msg} at column {err.colno}") from None


def check_env_of(tasks: list[Task], env_name: str, source: str) -> None:
    """Refuse tasks for another environment than the project's: they could never run there."""
    others = sorted({t.env for t in tasks} - {env_name})
    if not others:
        return
    count = sum(t.env != env_name for t in tasks)
    envs = ", ".join(repr(e) for e in others)
    raise TaskFileError(
        f"{source} holds {count} task(s) for env {envs}, but this project's environment is "
        f"{env_name!r} ([env] name in lbi.toml): they could never run here. Import them into a "
        f"project of that environment (lbi init DIR --env {others[0]}); nothing was imported"
    )


def task_rows(tasks: list[Task]) -> list[dict[str, Any]]:
    """The store's rows for tasks (the full spec kept for their checks)."""
    return [
        {
            "id": t.id,
            "instruction": t.instruction,
            "env": t.env,
            "split": t.split,
            "spec_json": t.model_dump(mode="json"),
        }
        for t in tasks
    ]


def _load_file(file: Path) -> list[Task]:
    if not file.is_file():
        raise TaskFileError(f"{file}: no such file")
    text = file.read_text(encoding="utf-8", errors="replace")
    records: list[tuple[str, Any]] = []
    try:
        if file.suffix == ".jsonl":
            records = [
                (f"{file}:{i}", _json_line(file, i, line))
                for i, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("//")
            ]
        elif file.suffix == ".json":
            data = json.loads(text)
            records = [
                (f"{file}[{i}]", r) for i, r in enumerate(data if isinstance(data, list) else data.get("tasks", []))
            ]
        elif file.suffix == ".toml":
            starts = [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "[[task]]"]
            tables = tomllib.loads(text).get("task", [])
            records = [
                (f"{file}:{starts[i]}" if len(starts) == len(tables) else f"{file} task {i}", r)
                for i, r in enumerate(tables)
            ]
        else:
            raise TaskFileError(f"{file}: unsupported task file type (jsonl, json, toml)")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise TaskFileError(f"{file}: {err}") from err
    tasks = []
    for where, record in records:
        try:
            task = Task.model_validate(record)
        except ValidationError as err:
            raise TaskFileError(f"{where}: invalid task: {err}") from err
        problems = check_problems(task.check)
        if problems:
            raise TaskFileError(f"{where}: task {task.id!r}: {'; '.join(problems)}")
        tasks.append(task)
    return tasks


def save_tasks(tasks: list[Task], path: str | Path) -> None:
    """Write tasks as JSON Lines."""
    Path(path).write_text("".join(t.model_dump_json(exclude_defaults=True) + "\n" for t in tasks), encoding="utf-8")


def run_reference(task: Task, env: Env) -> tuple[Observation, CheckResult]:
    """Reset ``env`` to the task, replay its reference solution, check it."""
    obs = env.reset(task)
    for action in task.reference:
        obs = env.step(action)
        if obs.last_action_error:
            return obs, CheckResult(success=False, detail=f"reference step {action!r} failed: {obs.last_action_error}")
        if obs.done:
            break
    return obs, check_task(task, env, obs)
