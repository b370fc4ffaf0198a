"""A project directory: `lbi.toml`, the store `lbi.db`, screenshots and the model cache.

A `Project` also builds its configured environment (`make_env`, with `env_options`) and reads its stored tasks
back as `Task`s (`tasks`, `task`): held-out tasks keep their full spec (start state, check, reference) in
`spec_json`; a synthetic task has an instruction, a start state and no check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi.config import CONFIG_NAME, Config, ConfigError, load_config, save_config
from lbi.envs import env_spec, list_envs, make_env
from lbi.envs.base import CheckSpec, Env, Task
from lbi.errors import check_choice
from lbi.store.db import Store

NO_CHECK = CheckSpec(kind="none")
"""The check of a synthetic task (it has none)."""


@dataclass
class Run:
    """A run in progress: report progress with `progress(done, total, message)`; `message` is kept at the end."""

    store: Store = field(repr=False)
    id: int
    message: str | None = None

    def progress(self, done: int | None = None, total: int | None = None, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        self.store.update_run(self.id, done=done, total=total, message=message)

    def track(self, *also: Callable[[int, int], None]) -> Callable[[int, int], None]:
        """A `progress(done, total)` callback for the pipeline functions: records progress on this run and
        passes it on to `also` (e.g. a progress bar)."""

        def tick(done: int, total: int) -> None:
            self.progress(done, total)
            for callback in also:
                callback(done, total)

        return tick


@dataclass
class Project:
    dir: Path
    config: Config
    store: Store = field(repr=False)

    @property
    def screenshots_dir(self) -> Path:
        path = self.dir / "screenshots"
        path.mkdir(exist_ok=True)
        return path

    @property
    def cache_dir(self) -> Path:
        return self.dir / "cache" / "llm"

    def llm(self, run_id: int | None = None):  # noqa: ANN201 - avoids importing litellm for pages that never call a model
        from lbi.models.llm import LLM

        return LLM(self.config, store=self.store, cache_dir=self.cache_dir, run_id=run_id)

    def env_options(self) -> dict[str, Any]:
        """The configured environment's options (screenshots go to the project's `screenshots/`), checked against
        its spec: an unknown environment or a typo in `[env] options` is refused before a run writes anything."""
        cfg = self.config.env
        check_choice("environment ([env] name in lbi.toml)", cfg.name, list_envs())
        options = {"screenshot_dir": str(self.screenshots_dir), **cfg.options}
        env_spec(cfg.name).validate(options)
        return options

    def make_env(self) -> Env:
        """The configured environment."""
        return make_env(self.config.env.name, **self.env_options())

    def tasks(self, split: str, ids: Sequence[str] | None = None, *, env: str | None = None) -> list[Task]:
        """Stored tasks of one split and environment (default: the configured one), oldest first (ties by id),
        optionally only those of `ids`."""
        rows = self.store.query(
            "SELECT id, instruction, env, spec_json FROM tasks WHERE split = ? AND env = ? ORDER BY created_at, id",
            (split, env or self.config.env.name),
        )
        wanted = None if ids is None else set(ids)
        return [task_from_row(dict(r)) for r in rows if wanted is None or r["id"] in wanted]

    def task(self, task_id: str) -> Task | None:
        """The stored task `task_id`, if any."""
        rows = self.store.query("SELECT id, instruction, env, spec_json FROM tasks WHERE id = ?", (task_id,))
        return task_from_row(dict(rows[0])) if rows else None

    def relative(self, path: str | None) -> str | None:
        """A path inside the project as stored in the store: relative to the project directory."""
        if not path:
            return path
        try:
            return str(Path(path).resolve().relative_to(self.dir.resolve()))
        except ValueError:
            return str(path)

    def resolve(self, path: str | None) -> Path | None:
        """A stored path (relative to the project, or absolute) as an absolute path."""
        if not path:
            return None
        candidate = Path(path)
        return (candidate if candidate.is_absolute() else self.dir / candidate).resolve()

    @contextmanager
    def run(self, name: str, kind: str, config: dict[str, Any] | None = None) -> Iterator[Run]:
        """Bookkeeping of one run in the `runs` table: started (or reopened, to resume) on entry, `done` on a
        normal exit with the last message, `failed` with the error's message when the body raises."""
        run = Run(self.store, self.store.start_run(name, kind, config))
        try:
            yield run
        except BaseException as exc:
            self.store.update_run(run.id, status="failed", message=str(exc) or type(exc).__name__)
            raise
        self.store.update_run(run.id, status="done", message=run.message)


def task_from_row(row: dict[str, Any]) -> Task:
    """A Task from a `tasks` row (`id`, `instruction`, `env`, optional `spec_json`): a held-out task as specified,
    else a synthetic one (its start state, no check)."""
    spec = json.loads(row.get("spec_json") or "{}")
    if spec.get("check"):
        return Task.model_validate({**spec, "id": row["id"], "instruction": row["instruction"], "env": row["env"]})
    return Task(
        id=row["id"],
        env=row["env"],
        instruction=row["instruction"],
        start=spec.get("start", {}),
        check=NO_CHECK,
        split="synthetic",
    )


def init_project(directory: Path, config: Config | None = None, *, overwrite: bool = False) -> Project:
    """Create a project directory with a documented `lbi.toml` and an empty store."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file, not a folder: give a new or existing folder for the project")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_NAME
    if path.exists() and not overwrite:
        return open_project(directory)
    save_config(directory, config or Config(project=directory.resolve().name))
    return open_project(directory)


def open_project(directory: Path) -> Project:
    directory = Path(directory)
    if not (directory / CONFIG_NAME).exists():
        raise ConfigError(f"{directory} is not an lbi project (no {CONFIG_NAME}): run `lbi init {directory}`.")
    config = load_config(directory)
    return Project(dir=directory, config=config, store=Store(directory))
