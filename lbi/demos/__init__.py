"""The bundled demos, which `lbi init --demo` and `lbi env demo` use (their data is in `data/demo/`).

* `trac`: the Trac demo (Trac 1.6, its user guide as the documentation, the held-out web tasks);
* `coding`: the coding demo (semver's sdist in the ``repo`` environment, bug-fix tasks its tests judge).

`demo_tasks(env)` are the bundled held-out tasks (`data/demo/tasks/`), `env_options(env)` the options their
environments run with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbi.envs.tasks import Task, load_tasks
from lbi.paths import demo_data_dir


def demo_tasks(env: str | None = None) -> list[Task]:
    """The bundled held-out tasks (optionally of one env: ``trac``, ``sql`` or ``desktop``)."""
    return [t for t in load_tasks(demo_data_dir() / "tasks") if env is None or t.env == env]


def env_options(env: str, demo_dir: Path | None = None) -> dict[str, Any]:
    """Options the bundled tasks of ``env`` run with, ready for `[env] options` of lbi.toml: the ``sql`` tasks
    query the seeded Trac database (built under ``demo_dir`` if missing), the ``trac`` tasks use the Trac demo
    under ``demo_dir`` (default: ``$LBI_DEMO_DIR`` or ``./demo``), the ``repo`` tasks the coding demo's
    repository (`lbi.demos.coding`)."""
    if env == "repo":
        from lbi.demos import coding

        return coding.env_options()
    if env == "sql":
        from lbi.envs.web.trac_server import ensure_pristine

        return {"db": str(ensure_pristine(demo_dir) / "db" / "trac.db")}
    if env == "trac" and demo_dir is not None:
        return {"demo_dir": str(demo_dir)}
    return {}
