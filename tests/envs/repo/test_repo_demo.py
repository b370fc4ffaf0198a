"""The coding demo: semver's sdist from PyPI, and its bug-fix tasks verified in the real sandbox (every
reference patch passes its tests check, every unpatched tree fails it)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from lbi.demos.coding import PACKAGE, bugs_file, demo_tasks, ensure_sdist
from lbi.envs.repo.bugs import bug_patches, load_bugs
from lbi.envs.repo.env import RepoEnv
from lbi.envs.tasks import Task, check_task

pytestmark = pytest.mark.sandbox  # starts it in the tests' own bodies (tests/tiers.py)

WORKERS = 2


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RepoEnv]:
    with RepoEnv(ensure_sdist(), cache_dir=tmp_path_factory.mktemp("snapshots")) as env:
        yield env


def test_the_sdist_ships_its_tests_and_docs(demo_env: RepoEnv) -> None:
    meta = demo_env.snapshot.meta
    assert meta.name == "semver-3.1.2" and meta.bytes < 5_000_000
    assert "src/semver/version.py" in meta.files and "tests/test_bump.py" in meta.files
    docs = demo_env.snapshot.docs
    assert (docs / "README.rst").is_file() and (docs / "docs" / "usage" / "compare-versions.rst").is_file()
    api = (docs / "api" / "semver.version.md").read_text()
    assert "## class Version(self, major" in api and "### Version.bump_major(self)" in api


def test_every_bug_is_one_change_to_the_pristine_source(demo_env: RepoEnv) -> None:
    bugs = load_bugs(bugs_file())
    assert len(bugs) >= 20 and len({b.id for b in bugs}) == len(bugs)
    for bug in bugs:
        inject, fix = bug_patches(bug, demo_env.snapshot.tree)
        assert inject.startswith(f"--- a/{bug.file}\n+++ b/{bug.file}\n")
        assert inject.count("\n@@ ") == fix.count("\n@@ ") == 1
        assert bug.fail_to_pass and all(t.startswith("tests/") and "::" in t for t in bug.fail_to_pass)


def test_every_task_fails_unpatched_and_passes_with_its_reference(demo_env: RepoEnv) -> None:
    tasks = demo_tasks(demo_env)
    assert len(tasks) >= 20 and all(t.env == "repo" and t.split == "heldout" for t in tasks)
    assert all(t.check.params["pass_to_pass"] for t in tasks)

    def verify(share: list[Task]) -> list[str]:
        problems = []
        with RepoEnv(demo_env.snapshot.meta.source, cache_dir=demo_env.snapshot.root.parent) as env:
            for task in share:
                obs = env.reset(task)
                unpatched = check_task(task, env, obs)
                for action in task.reference:
                    obs = env.step(action)
                fixed = check_task(task, env, obs)
                if unpatched.success or not fixed.success or not obs.done:
                    problems.append(f"{task.id}: unpatched {unpatched.detail}; reference {fixed.detail}")
        return problems

    with ThreadPoolExecutor(WORKERS) as pool:
        problems = [p for found in pool.map(verify, [tasks[k::WORKERS] for k in range(WORKERS)]) for p in found]
    assert not problems, "\n".join(problems)
    assert {t.tags[1] for t in tasks} == {PACKAGE}
