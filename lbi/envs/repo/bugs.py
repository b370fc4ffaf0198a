"""Bug-fix tasks for any repository of the ``repo`` environment, made by injecting bugs its own tests catch.

A `Bug` is a one-place change to a file of the repository (``find`` → ``replace``, exactly one occurrence), the
issue a user would file about it (the symptom, not the fix), and ``fail_to_pass``: every test it breaks. `derive`
finds those by running the whole suite on the changed tree (SWE-bench builds its instances the same way: the tests
before and after the gold patch). `make_tasks` turns bugs into SWE-style tasks: ``start.patch`` injects the bug,
``fail_to_pass`` the tests it breaks, ``pass_to_pass`` the other tests of their files that pass on the pristine
tree (one run of the suite for all bugs), and the reference solution applies the fix (the change undone) with
``git apply`` from a heredoc, then submits. The coding demo (`lbi.demos.coding`) is semver with 26 such bugs.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from lbi.envs.tasks import CheckSpec, Task
from lbi.errors import UserError

if TYPE_CHECKING:
    from lbi.envs.repo.env import RepoEnv

PATCH_END = "LBI_PATCH_END"


class Bug(BaseModel):
    """One injected bug (a ``[[bug]]`` table of a bugs file)."""

    id: str
    file: str = Field(description="The file the bug changes, relative to the repository's root.")
    find: str = Field(description="The text of the pristine file that the bug changes (exactly one occurrence).")
    replace: str
    instruction: str = Field(description="The issue a user would file: the symptom, not the fix.")
    difficulty: Literal["easy", "medium", "hard"] = "medium"
    fail_to_pass: list[str] = Field(default_factory=list, description="Every test the bug breaks.")


def load_bugs(path: Path) -> list[Bug]:
    """The ``[[bug]]`` tables of a TOML file."""
    return [Bug.model_validate(b) for b in tomllib.loads(path.read_text(encoding="utf-8"))["bug"]]


def unified_diff(rel: str, before: str, after: str) -> str:
    """A patch ``git apply`` takes, changing file ``rel`` from ``before`` to ``after``."""
    return "".join(
        difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}")
    )


def bug_patches(bug: Bug, tree: Path) -> tuple[str, str]:
    """(the patch that injects the bug, the patch that fixes it), against the pristine ``tree``."""
    path = tree / bug.file
    if path.is_symlink() or not path.is_file():
        raise UserError(f"bug {bug.id}: {bug.file} is not a file of the repository")
    pristine = path.read_text(encoding="utf-8")
    if pristine.count(bug.find) != 1:
        raise UserError(f"bug {bug.id}: its find text occurs {pristine.count(bug.find)} times in {bug.file}")
    broken = pristine.replace(bug.find, bug.replace)
    return unified_diff(bug.file, pristine, broken), unified_diff(bug.file, broken, pristine)


def apply_action(patch: str) -> str:
    """The reference step that applies ``patch``: ``git apply`` reading it from a heredoc."""
    return f"bash({f'git apply <<{PATCH_END!r}' + chr(10) + patch + PATCH_END!r})"


def test_file(test_id: str) -> str:
    return test_id.split("::", 1)[0]


def make_tasks(env: RepoEnv, bugs: list[Bug], tags: tuple[str, ...] = ("bug-fix",)) -> list[Task]:
    """The bugs as held-out tasks of ``env``'s repository (one run of the suite finds what passes)."""
    files = sorted({test_file(t) for bug in bugs for t in bug.fail_to_pass})
    env.reset()  # the pristine tree: no task, no start patch
    pristine = env.run_tests("", files, timeout_s=600)
    if not pristine.applied or pristine.timed_out:
        raise UserError(f"the test suite of {env.snapshot.meta.name} did not run: {pristine.error}")
    passing = [t for t, outcome in pristine.outcomes.items() if outcome == "passed"]
    tasks = []
    for bug in bugs:
        inject, fix = bug_patches(bug, env.snapshot.tree)
        broken = set(bug.fail_to_pass)
        own = {test_file(t) for t in broken}
        keep = [t for t in passing if test_file(t) in own and t not in broken]
        tasks.append(
            Task(
                id=bug.id,
                env="repo",
                instruction=bug.instruction,
                start={"patch": inject},
                difficulty=bug.difficulty,
                check=CheckSpec(kind="tests", params={"fail_to_pass": bug.fail_to_pass, "pass_to_pass": keep}),
                reference=[apply_action(fix), "submit()"],
                tags=list(tags),
            )
        )
    return tasks


def suite(env: RepoEnv, start_patch: str | None = None, tests: str = "tests") -> dict[str, str]:
    """Every test's outcome when the whole suite (the folder ``tests``) runs on the pristine tree, or on the tree
    that ``start_patch`` changes."""
    env.reset(
        Task(
            id="suite",
            env="repo",
            instruction="",
            start={"patch": start_patch} if start_patch else {},
            check=CheckSpec(kind="none"),
        )
    )
    return env.run_tests("", [tests], timeout_s=600).outcomes


def derive(env: RepoEnv, bug: Bug, pristine: dict[str, str]) -> list[str]:
    """Every test that fails (or errors) on the bug's tree and passed on the pristine one (``pristine``: the
    outcomes of the whole suite there, `suite`)."""
    inject, _ = bug_patches(bug, env.snapshot.tree)
    broken = suite(env, inject)
    return sorted(t for t, o in broken.items() if o in ("failed", "error") and pristine.get(t) == "passed")
