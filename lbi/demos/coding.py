"""The bundled coding demo: semver 3.1.2, a small pure-Python library, with bug-fix tasks that its tests judge.

The library comes from PyPI as its source distribution, which ships its tests and its documentation
(`ensure_sdist`: ``pip download --no-deps --no-binary :all: semver==3.1.2`` into ``data/demo/repo/sdist/``,
done by ``make setup``, or here the first time it is needed). The repository is not vendored: the ``repo``
environment makes its snapshot from the sdist.

The tasks are made, not stored: ``data/demo/repo/bugs.toml`` lists bugs (a one-place change to the sdist's
code that the library's own tests catch, the issue a user would file about it, and the tests it breaks);
`lbi.envs.repo.bugs.make_tasks` turns each into a SWE-style task: the start patch injects the bug (the
episode's base commit holds it and nothing in its history shows it), ``fail_to_pass`` are the tests the bug
breaks, ``pass_to_pass`` the other tests of their files (those that pass on the pristine tree, from one run of
the suite), and the reference solution applies the fix (the bug's change undone) and submits.

``lbi init DIR --demo --env repo`` (`prepare`) makes a project acting in this repository, with the repository's
own docs (README, docs/, docstrings) and the tasks as held-out tasks. ``python -m lbi.demos.coding derive [ID...]``
runs the whole suite on each bug's tree and prints the tests it breaks (for writing a new bug).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi.config import Config
from lbi.demos.trac import DemoReport
from lbi.envs import env_spec
from lbi.envs.repo.bugs import derive, load_bugs, make_tasks, suite
from lbi.errors import UserError
from lbi.paths import demo_data_dir

if TYPE_CHECKING:
    from lbi.envs.repo.env import RepoEnv
    from lbi.envs.tasks import Task

PACKAGE = "semver"
VERSION = "3.1.2"
DESCRIPTION = (
    "semver 3.1.2, a Python library for semantic versioning, as a git repository at /testbed: the "
    "Version class parses, compares, matches and bumps version strings; its tests run with pytest. "
    "A bash shell in a sandbox without network."
)
SEED_TASKS = [
    "Find where Version.bump_patch is defined and show its code.",
    "Run the tests in tests/test_bump.py and report how many pass.",
    "Show how Version.compare orders prereleases.",
    "Fix Version.parse so that it accepts a leading 'v' like v1.2.3.",
]


def bugs_file() -> Path:
    return demo_data_dir() / "repo" / "bugs.toml"


def sdist_path() -> Path:
    return demo_data_dir() / "repo" / "sdist" / f"{PACKAGE}-{VERSION}.tar.gz"


def ensure_sdist() -> Path:
    """The library's sdist, downloaded from the package index by pip the first time (`make setup` does it)."""
    path = sdist_path()
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(path.parent),
            f"{PACKAGE}=={VERSION}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0 or not path.is_file():
        raise UserError(
            f"cannot download the {PACKAGE} {VERSION} sdist with pip: {(done.stderr or done.stdout).strip()[-400:]}"
        )
    return path


def demo_tasks(env: RepoEnv) -> list[Task]:
    """The demo's tasks, in an env acting in the library's sdist."""
    return make_tasks(env, load_bugs(bugs_file()), tags=("bug-fix", PACKAGE))


def demo_config(sdist: Path) -> Config:
    config = Config(project=f"{PACKAGE} coding demo")
    config.env.name = "repo"
    config.env.options = {"repo": str(sdist)}
    config.env.description = DESCRIPTION
    config.env.seed_tasks = list(SEED_TASKS)
    config.synth.backward_mode = "per-span"  # as the Trac demo: the paper's algorithm (see lbi.demos.trac)
    config.models.judges = env_spec("repo").judges()  # with `replay`: it gives grounding the diff (~0.3 s each)
    return config


def env_options() -> dict[str, Any]:
    """Options the demo's tasks run with: the library's sdist as the repository."""
    return {"repo": str(ensure_sdist())}


def prepare(directory: Path) -> DemoReport:
    """Create (or reuse) the coding demo project: config, the repository's docs, the held-out bug-fix tasks."""
    from lbi.docs.ingest import add_source, import_tasks
    from lbi.envs import make_env
    from lbi.envs.repo.env import RepoEnv
    from lbi.envs.tasks import save_tasks
    from lbi.project import init_project

    sdist = ensure_sdist()
    project = init_project(directory, demo_config(sdist))
    with make_env("repo", repo=sdist) as env:
        assert isinstance(env, RepoEnv)  # the registry's "repo"
        tasks = demo_tasks(env)
        docs = add_source(project, env.snapshot.docs)
    out = project.dir / "tasks" / f"{PACKAGE}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_tasks(tasks, out)
    _, added = import_tasks(project, out)
    return DemoReport(project, docs.summary(), added)


def main(argv: list[str]) -> None:
    """``derive [ID...]``: print each bug's broken tests as TOML (for ``bugs.toml``)."""
    from lbi.envs.repo.env import RepoEnv

    if not argv or argv[0] != "derive":
        raise SystemExit("usage: python -m lbi.demos.coding derive [BUG_ID...]")
    wanted = set(argv[1:])
    with RepoEnv(ensure_sdist()) as env:
        pristine = suite(env)
        for bug in load_bugs(bugs_file()):
            if not wanted or bug.id in wanted:
                broken = derive(env, bug, pristine)
                print(
                    f"# {bug.id}: {len(broken)} broken\nfail_to_pass = [\n"
                    + "".join(f"    {json.dumps(t)},\n" for t in broken)
                    + "]"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
