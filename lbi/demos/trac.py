"""The Trac demo: Trac 1.6 with its own user guide as the documentation, and its held-out web tasks.

`prepare(dir)` creates (or reuses) the demo project, loads the Trac user guide that ships inside the Trac
wheel, and imports the held-out web tasks (`data/demo/tasks/trac_web.jsonl`); it is idempotent, so `make run`
calls it every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi.config import Config
from lbi.paths import demo_data_dir

if TYPE_CHECKING:
    from lbi.project import Project

DESCRIPTION = (
    "Trac 1.6, a web-based issue tracker and wiki served on 127.0.0.1: tickets (create, edit, "
    "comment, change priority, component, milestone, owner), custom queries, reports, the roadmap "
    "with milestones, the timeline, and wiki pages (view, create, edit)."
)
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
    # with `replay`: grounding then reads the ticket, wiki page or query a span really changed (~2 s per trajectory)
    from lbi.envs import env_spec

    config.models.judges = env_spec("trac").judges()
    return config


def tasks_file() -> Path:
    """The held-out Trac web tasks the demo project imports."""
    return demo_data_dir() / "tasks" / "trac_web.jsonl"


def prepare(directory: Path, env_options: dict[str, Any] | None = None) -> DemoReport:
    from lbi.docs.ingest import add_source, import_tasks
    from lbi.envs.web.trac_server import trac_user_guide_dir
    from lbi.project import init_project

    project = init_project(directory, demo_config(env_options))
    docs = add_source(project, trac_user_guide_dir())
    _, added = import_tasks(project, tasks_file())
    return DemoReport(project, docs.summary(), added)
