"""The bundled demo: Trac 1.6 with its own user guide as the documentation, and `data/demo/`.

`data_dir()` is the one place that knows where `data/demo` is (the Trac seed script, the held-out tasks,
the SQL schema page). `prepare(dir)` creates (or reuses) the demo project, loads the Trac user guide that
ships inside the Trac wheel, and imports the held-out web tasks; it is idempotent, so `make run` calls it
every time. `demo_tasks()` are the bundled held-out tasks, `env_options()` what their envs need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi.config import Config

if TYPE_CHECKING:
    from lbi.envs.tasks import Task
    from lbi.project import Project

DESCRIPTION = ("Trac 1.6, a web-based issue tracker and wiki served on 127.0.0.1: tickets (create, edit, "
               "comment, change priority, component, milestone, owner), custom queries, reports, the roadmap "
               "with milestones, the timeline, and wiki pages (view, create, edit).")
SEED_TASKS = [
    "Create a ticket titled 'Crash when saving a report' in component 'backend' with priority 'major'.",
    "Show all open tickets owned by alice, sorted by priority.",
    "Add a wiki page named MeetingNotes with the text 'Weekly sync notes'.",
    "Find which milestone is due next on the roadmap.",
]


@dataclass
class DemoReport:
    project: Project
    docs: str
    tasks_added: int


def demo_config(env_options: dict[str, Any] | None = None) -> Config:
    config = Config(project="Trac demo")
    config.env.name = "trac"
    config.env.options = dict(env_options or {})
    config.env.description = DESCRIPTION
    config.env.seed_tasks = list(SEED_TASKS)
    # The paper's algorithm, one call per span: with the embedded 135M model, about a quarter of batched
    # replies are echoes of the prompt or cut short (rejected and recorded), against 1 in 40 per span;
    # batched is ~9-10x fewer calls per example (bench/backward_cost.py) and the default otherwise.
    config.synth.backward_mode = "per-span"
    return config


def data_dir() -> Path:
    """`data/demo` of the repository: `trac/seed_trac.py`, `tasks/*.jsonl`, `sql/schema.md`."""
    return Path(__file__).resolve().parent.parent / "data" / "demo"


def tasks_file() -> Path:
    """The held-out Trac web tasks the demo project imports."""
    return data_dir() / "tasks" / "trac_web.jsonl"


def demo_tasks(env: str | None = None) -> list[Task]:
    """The bundled held-out tasks (optionally of one env: ``trac`` or ``sql``)."""
    from lbi.envs.tasks import load_tasks

    return [t for t in load_tasks(data_dir() / "tasks") if env is None or t.env == env]


def env_options(env: str, demo_dir: Path | None = None) -> dict[str, Any]:
    """Options the bundled tasks of ``env`` run with, ready for `[env] options` of lbi.toml: the ``sql`` tasks
    query the seeded Trac database (built under ``demo_dir`` if missing), the ``trac`` tasks use the Trac demo
    under ``demo_dir`` (default: ``$LBI_DEMO_DIR`` or ``./demo``), the ``repo`` tasks the coding demo's
    repository (`lbi.demo_repo`)."""
    if env == "repo":
        from lbi import demo_repo

        return demo_repo.env_options()
    if env == "sql":
        from lbi.envs.trac import ensure_pristine

        return {"db": str(ensure_pristine(demo_dir) / "db" / "trac.db")}
    if env == "trac" and demo_dir is not None:
        return {"demo_dir": str(demo_dir)}
    return {}


def prepare(directory: Path, env_options: dict[str, Any] | None = None) -> DemoReport:
    from lbi.docs.ingest import add_source, import_tasks
    from lbi.envs.trac import trac_user_guide_dir
    from lbi.project import init_project

    project = init_project(directory, demo_config(env_options))
    docs = add_source(project, trac_user_guide_dir())
    _, added = import_tasks(project, tasks_file())
    return DemoReport(project, docs.summary(), added)
