"""Judging a patch the way SWE-bench's harness does: a fresh tree, the patch applied, the named tests run.

`run_tests` copies the task's base tree (the snapshot plus the task's start patch) to a scratch folder,
applies the patch with ``git apply``, puts back the test files of the listed tests as the base has them (an
agent that edits a test to pass it gains nothing), applies the task's ``test_patch`` if it has one (tests
the agent never saw), then runs the test command on the listed test ids in the sandbox, with its own time
limit: a run that hangs is killed and says so. Each test's outcome is read from pytest's ``-rA`` summary
(``PASSED tests/test_x.py::test_y``); a test that does not appear there (not collected, a collection error)
is ``missing``.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lbi.envs.repo.snapshot import Snapshot, make_tree, sandboxed, size_watch

DEFAULT_TEST_COMMAND = 'python3 -m pytest -q -p no:cacheprovider -o addopts=""'
OUTCOMES = ("PASSED", "FAILED", "ERROR", "XFAIL", "XPASS", "SKIPPED")
LOG_CHARS = 4000


class TestRun(BaseModel):
    """One run of a task's tests on a patch."""

    __test__ = False  # not a pytest test class

    applied: bool = Field(description="The patch (and the task's test patch) applied cleanly.")
    outcomes: dict[str, str] = Field(
        default_factory=dict,
        description="Test id → passed, failed, error, skipped, xfail, xpass or "
        "missing: every test the run reported (a file given as an id "
        "reports each of its tests), and the ids asked for.",
    )
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    error: str | None = Field(default=None, description="Why the tests could not run (patch, time limit).")
    log: str = Field(default="", description="The end of the test command's output.")

    def passed(self, test_id: str) -> bool:
        return self.outcomes.get(test_id) in ("passed", "xfail")

    def summary(self, ids: Sequence[str]) -> str:
        good = [t for t in ids if self.passed(t)]
        bad = [f"{t} ({self.outcomes.get(t, 'missing')})" for t in ids if not self.passed(t)]
        return f"{len(good)}/{len(ids)} passed" + (f"; not passing: {', '.join(bad[:5])}" if bad else "")


def run_tests(
    snapshot: Snapshot,
    start_patch: str | None,
    patch: str,
    test_ids: Sequence[str],
    *,
    test_patch: str | None = None,
    command: str = DEFAULT_TEST_COMMAND,
    timeout_s: float = 120.0,
    scratch: Path | None = None,
    max_tree_mb: float = 1024.0,
    limits: dict[str, Any] | None = None,
) -> TestRun:
    """Apply ``patch`` to a fresh copy of the task's base tree and run ``test_ids`` there with ``command`` (pytest;
    ``-rA`` and the ids are added), see the module doc."""
    limits = dict(limits or {})
    folder = Path(tempfile.mkdtemp(prefix="lbi-tests-", dir=scratch))
    try:
        tree = folder / "testbed"
        base = make_tree(snapshot, tree, start_patch)
        error = _prepare(tree, base, patch, test_ids, test_patch, limits)
        if error:
            return TestRun(applied=False, error=error)
        ids = " ".join(shlex.quote(t) for t in dict.fromkeys(test_ids))
        res = sandboxed(
            tree,
            f"{command} -rA {ids}",
            timeout_s=timeout_s,
            max_output_bytes=4_000_000,
            watch=size_watch(tree, max_tree_mb),
            **limits,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    output = res["stdout"] + ("\n" + res["stderr"] if res["stderr"] else "")
    run = TestRun(
        applied=True,
        outcomes=parse_outcomes(output, test_ids),
        exit_code=res["exit_code"],
        timed_out=res["timed_out"],
        duration_s=res["duration_s"],
        log=output[-LOG_CHARS:],
    )
    if res["timed_out"]:
        run.error = f"the test run timed out after {timeout_s:g}s and was killed"
    elif res["stopped"]:
        run.error = f"the test run was killed: {res['stopped']}"
    return run


def _prepare(
    tree: Path, base: str, patch: str, test_ids: Sequence[str], test_patch: str | None, limits: dict[str, Any]
) -> str | None:
    """Apply the patch, restore the listed tests' files, apply the test patch; the reason if one failed."""
    files = " ".join(shlex.quote(f) for f in sorted({t.split("::", 1)[0] for t in test_ids}))
    restore = (
        f'for f in {files}; do if git cat-file -e {base}:"$f" 2>/dev/null; then '
        f'git checkout -q {base} -- "$f" || exit 3; fi; done'
    )
    apply = "git apply --whitespace=nowarn - || exit 2; " if patch.strip() else ""
    steps = [(apply + restore, patch)]
    if test_patch and test_patch.strip():
        steps.append(("git apply --whitespace=nowarn - || exit 4", test_patch))
    for command, stdin in steps:
        res = sandboxed(tree, command, stdin=stdin, timeout_s=60, **limits)
        if res["exit_code"] != 0:
            why = {
                2: "the patch does not apply",
                3: "cannot restore the test files",
                4: "the task's test patch does not apply",
            }.get(res["exit_code"], "cannot prepare the tree")
            detail = "timed out" if res["timed_out"] else (res["stderr"] or res["stdout"]).strip()[-500:]
            return f"{why}: {detail}"
    return None


def parse_outcomes(output: str, test_ids: Sequence[str]) -> dict[str, str]:
    """Every test's outcome from pytest's ``-rA`` summary lines (``PASSED id``, ``FAILED id - why``), and
    ``missing`` for each of ``test_ids`` that has none."""
    wanted = set(test_ids)
    found: dict[str, str] = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word not in OUTCOMES or "::" not in rest:
            continue  # SKIPPED lines name a file and line, not a test id
        test_id = rest if rest in wanted else rest.split(" - ", 1)[0].strip()
        found.setdefault(test_id, word.lower())
    return {**found, **{t: found.get(t, "missing") for t in test_ids}}
