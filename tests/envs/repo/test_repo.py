"""The repo environment on a tiny real repository, in the real sandbox: episodes, the diff, the tests check,
and bad input (a hang, megabytes of output, a fork bomb, rm -rf, the network) contained."""

from __future__ import annotations

import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbi.envs.repo.commands import command_kind, parse_report, replay_step
from lbi.envs.repo.docs import api_modules
from lbi.envs.repo.env import RepoEnv
from lbi.envs.repo.snapshot import ensure_snapshot
from lbi.envs.tasks import CheckSpec, Task, check_task, run_reference

pytestmark = pytest.mark.sandbox  # starts it in the tests' own bodies (tests/tiers.py)

CALC = '''"""Small arithmetic helpers."""


def add(a, b):
    """Return the sum of a and b."""
    return a + b


def mean(xs):
    """The arithmetic mean of a non-empty list of numbers."""
    return sum(xs) / len(xs)


def _private():
    return None
'''
TESTS = """from calc import add, mean


def test_add():
    assert add(2, 3) == 5


def test_mean():
    assert mean([1, 2, 3]) == 2
"""
BUG = (
    """--- a/calc/__init__.py
+++ b/calc/__init__.py
@@ -11,4 +11,4 @@ def add(a, b):
 def mean(xs):
     \"\"\"The arithmetic mean of a non-empty list of numbers.\"\"\"
-    return sum(xs) / len(xs)
+    return sum(xs) / (len(xs) + 1)
"""
    + " \n"
)  # the blank context line of a diff is one space
FIX = BUG.replace(
    "-    return sum(xs) / len(xs)\n+    return sum(xs) / (len(xs) + 1)",
    "-    return sum(xs) / (len(xs) + 1)\n+    return sum(xs) / len(xs)",
)


def make_repo(root: Path) -> Path:
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "docs").mkdir()
    (root / "calc" / "__init__.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    (root / "tests" / "test_slow.py").write_text("import time\n\n\ndef test_hangs():\n    time.sleep(600)\n")
    (root / "README.md").write_text("# calc\n\nArithmetic helpers: `add`, `mean`.\n")
    (root / "docs" / "usage.rst").write_text("Usage\n=====\n\nCall ``calc.mean([1, 2])``.\n")
    (root / "docs" / "conf.py").write_text("project = 'calc'\n")
    (root / "calc" / "__pycache__").mkdir()
    (root / "calc" / "__pycache__" / "junk.pyc").write_bytes(b"\0junk")
    return root


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("src") / "calc-1.0")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshots")


@pytest.fixture()
def env(repo: Path, cache: Path, tmp_path: Path) -> Iterator[RepoEnv]:
    with RepoEnv(
        repo, cache_dir=cache, workdir_root=tmp_path / "work", time_limit_s=3, test_time_limit_s=20
    ) as repo_env:
        yield repo_env


def bug_task(**check: object) -> Task:
    params = {
        "fail_to_pass": ["tests/test_calc.py::test_mean"],
        "pass_to_pass": ["tests/test_calc.py::test_add"],
        **check,
    }
    return Task(
        id="calc-1",
        env="repo",
        instruction="mean([1, 2, 3]) returns 1.5 instead of 2.",
        start={"patch": BUG},
        check=CheckSpec(kind="tests", params=params),
        reference=["bash(" + repr("git apply <<'EOF'\n" + FIX + "EOF") + ")", "submit()"],
    )


def test_reset_copies_a_pristine_snapshot_fast(env: RepoEnv) -> None:
    first = env.reset()
    assert "Repository calc-1.0 at /testbed" in first.text and "calc/" in first.text
    assert first.state_signature == "repo:start" and first.info["cwd"] == "/testbed"
    started = time.perf_counter()
    for _ in range(3):
        again = env.reset()
    assert (time.perf_counter() - started) / 3 < 1.0
    assert again.text == first.text
    assert env.tree is not None and not (env.tree / "calc" / "__pycache__" / "junk.pyc").exists()
    log = env.step("bash('git log --oneline | wc -l && git status --short | wc -l')")
    assert log.text.splitlines()[1:3] == ["1", "0"]  # one commit, clean


def test_cd_persists_and_the_signature_names_kind_and_files(env: RepoEnv) -> None:
    env.reset()
    obs = env.step("bash('cd calc')")
    assert obs.info["cwd"] == "/testbed/calc" and obs.text.endswith("[cwd: /testbed/calc]")
    obs = env.step("bash('grep -n \"def mean\" __init__.py')")
    assert obs.text.startswith("/testbed/calc$ grep") and "9:def mean" in obs.text
    assert obs.state_signature == "repo:grep:calc/__init__.py"
    obs = env.step("bash('echo x > ../notes.txt')")
    assert obs.state_signature == "repo:echo:notes.txt" and "[changed files: ?? notes.txt]" in obs.text
    obs = env.step("bash('cd /nowhere')")
    assert obs.info["exit_code"] == 1 and obs.info["cwd"] == "/testbed/calc"


def test_an_edit_shows_the_diff_so_far_and_a_replay_reads_it(env: RepoEnv) -> None:
    start = env.reset()
    listed = env.step("bash('ls')")
    assert "[diff so far" not in listed.text
    edited = env.step("bash(\"sed -i 's/a + b/b + a/' calc/__init__.py\")")
    assert "[diff so far: 1 file(s)]" in edited.text and "+    return b + a" in edited.text
    assert edited.text.endswith("[cwd: /testbed]")
    undone = env.step("bash('git checkout -q .')")
    assert "[diff so far: no changes]" in undone.text
    steps = [{"observation": o.text} for o in (start, listed, edited)]  # what each step acted on
    assert replay_step(steps, 0, undone.text) == (listed.text, "")
    output, diff = replay_step(steps, 1, undone.text)
    assert output == edited.text and diff.startswith("[diff so far: 1 file(s)]\ndiff --git a/calc/__init__.py")
    assert replay_step(steps, 2, undone.text) == (undone.text, "[diff so far: no changes]")


def test_submit_answers_the_diff_against_the_base_even_after_a_commit(env: RepoEnv) -> None:
    env.reset()
    env.step("bash(\"sed -i 's/a + b/b + a/' calc/__init__.py && echo new > NEW.txt && python3 -c 'import calc'\")")
    env.step("bash('git add -A && git commit -qm mine')")  # committing does not hide the change
    obs = env.step("submit()")
    assert obs.done and obs.answer is not None
    assert "+    return b + a" in obs.answer and "+++ b/NEW.txt" in obs.answer
    assert "__pycache__" not in obs.answer and obs.info["files_changed"] == 2
    assert obs.text.startswith("Submitted the diff of 2 file(s):")


def test_a_start_patch_is_the_base_and_leaves_no_trace_in_history(env: RepoEnv) -> None:
    obs = env.reset(bug_task())
    assert obs.state_signature == "repo:start"
    shown = env.step("bash('git log -p | grep -c \"len(xs) + 1\"; git status --short | wc -l')")
    assert shown.text.splitlines()[1:3] == ["1", "0"]  # the buggy line is in the one commit, as a + line
    assert "/ len(xs)" not in env.step("bash('git log -p')").text
    assert env.step("submit()").answer == ""


def test_the_tests_check_judges_the_diff_on_a_fresh_tree(env: RepoEnv) -> None:
    task = bug_task()
    obs = env.reset(task)
    result = check_task(task, env, obs)
    assert not result.success and "fail_to_pass 0/1 passed" in result.detail, result.detail
    obs, result = run_reference(task, env)
    assert obs.done and result.success, result.detail
    assert "fail_to_pass 1/1 passed; pass_to_pass 1/1 passed" in result.detail
    env.reset(task)  # editing the failing test to pass does not count: the test files are put back
    env.step("bash(\"sed -i 's/== 2/== 1.5/' tests/test_calc.py\")")
    assert not check_task(task, env, env.step("submit()")).success


def test_a_hanging_test_run_is_killed_and_recorded(env: RepoEnv) -> None:
    task = bug_task(pass_to_pass=["tests/test_slow.py::test_hangs"], timeout_s=2)
    env.reset(task)
    started = time.perf_counter()
    result = check_task(task, env, env.step("submit()"))
    assert time.perf_counter() - started < 15
    assert not result.success and "timed out after 2s and was killed" in result.detail


def test_a_patch_that_does_not_apply_fails_the_check() -> None:
    from lbi.envs.base import Evidence, Observation
    from lbi.envs.checks import _check_tests
    from lbi.envs.repo.harness import TestRun

    task = bug_task()
    evidence = Evidence(
        patch="garbage", run_tests=lambda *a: TestRun(applied=False, error="the patch does not apply: corrupt")
    )
    result = _check_tests(task, evidence, Observation(text=""), task.check.params)
    assert not result.success and result.detail.startswith("the patch does not apply")


def test_a_hang_and_megabytes_of_output_are_contained(env: RepoEnv) -> None:
    env.reset()
    started = time.perf_counter()
    obs = env.step("bash('sleep 1000 & sleep 1000')")
    assert time.perf_counter() - started < 8
    assert "timed out after 3s" in (obs.last_action_error or "") and not obs.done
    obs = env.step("bash('head -c 5000000 /dev/zero | tr \"\\\\0\" x')")
    assert "stdout truncated: 5000000 bytes in total" in obs.text and len(obs.text) < 6000
    assert env.step("bash('echo alive')").info["exit_code"] == 0


def test_a_fork_bomb_is_contained(env: RepoEnv) -> None:
    env.reset()
    started = time.perf_counter()
    obs = env.step("bash(':(){ :|:& };:')")
    assert time.perf_counter() - started < 10 and not obs.done
    time.sleep(0.5)
    assert env.step("bash('echo still fine')").info["exit_code"] == 0


def test_rm_rf_is_reported_and_the_repository_can_be_restored_or_the_episode_ends(env: RepoEnv) -> None:
    env.reset()
    obs = env.step("bash('rm -rf /testbed/*')")
    assert "D calc/__init__.py" in obs.text and not obs.done
    obs = env.step("bash('git checkout -q . && ls')")
    assert "calc" in obs.text and "[changed files" not in obs.text
    obs = env.step("bash('cd calc && rm -rf /testbed')")
    assert obs.done and "deleted the repository's .git" in (obs.last_action_error or "")
    assert obs.info["cwd"] == "/testbed/calc"


def test_a_tree_filled_past_its_limit_ends_the_episode(repo: Path, cache: Path, tmp_path: Path) -> None:
    with RepoEnv(repo, cache_dir=cache, workdir_root=tmp_path / "work", time_limit_s=3, max_tree_mb=4) as small:
        small.reset()
        assert not small.step("bash('head -c 1000000 /dev/zero > one.bin')").done
        started = time.perf_counter()
        obs = small.step("bash('for i in $(seq 100); do head -c 1000000 /dev/zero > f$i.bin; sleep 0.05; done')")
        assert time.perf_counter() - started < 2.5  # stopped while it wrote, not at the end of its 5 s
        assert obs.done and "command killed: the tree grew to" in (obs.last_action_error or "")
        assert "more than max_tree_mb=4: the episode ends and its tree is deleted" in (obs.last_action_error or "")
        assert "[killed: the tree grew to" in obs.text
        assert small.tree is None and not list((tmp_path / "work").iterdir())
        assert small.evidence().patch is None


def test_no_network(env: RepoEnv) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        env.reset()
        port = server.getsockname()[1]
        obs = env.step(
            f"bash('python3 -c \"import socket; socket.create_connection((\\'127.0.0.1\\', {port}), timeout=2)\"')"
        )
        assert obs.info["exit_code"] == 1 and ("refused" in obs.text or "unreachable" in obs.text)
        assert not accepted and not obs.done
    finally:
        server.close()


def test_an_archive_is_a_repository_and_a_changed_source_a_new_snapshot(repo: Path, tmp_path: Path) -> None:
    archive = tmp_path / "calc-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(repo, arcname="calc-1.0")
    snap = ensure_snapshot(archive, tmp_path / "cache")
    assert {"calc/__init__.py", "tests/test_calc.py", "README.md"} <= set(snap.meta.files)
    assert "calc/__pycache__/junk.pyc" not in snap.meta.files
    assert "tests/test_calc.py::test_mean" in snap.meta.tests
    assert ensure_snapshot(archive, tmp_path / "cache").root == snap.root
    copy = tmp_path / "copy"
    make_repo(copy)
    first = ensure_snapshot(copy, tmp_path / "cache")
    (copy / "calc" / "extra.py").write_text("X = 1\n")
    assert ensure_snapshot(copy, tmp_path / "cache").root != first.root


def test_docs_are_the_readme_the_docs_folder_and_the_docstrings(repo: Path, tmp_path: Path) -> None:
    from lbi.docs.load import load_path

    docs = ensure_snapshot(repo, tmp_path / "cache").docs
    assert sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file()) == [
        "README.md",
        "api/calc.md",
        "docs/usage.rst",
    ]
    api = (docs / "api" / "calc.md").read_text()
    assert "# API: calc" in api and "## mean(xs)" in api and "non-empty list" in api and "_private" not in api
    loaded = load_path(docs)
    assert len(loaded.documents) == 3 and not loaded.skipped
    assert api_modules(["src/pkg/__init__.py", "src/pkg/core.py", "tests/test_core.py", "setup.py"]) == [
        ("src/pkg/__init__.py", "pkg"),
        ("src/pkg/core.py", "pkg.core"),
    ]


def test_explore_candidates_are_commands_the_env_runs(env: RepoEnv) -> None:
    env.reset()
    candidates = env.interactive_elements()
    actions = [c.action for c in candidates]
    assert "bash('ls -F')" in actions and any("def mean" in (a or "") for a in actions)
    assert any("tests/test_calc.py::test_add" in (a or "") for a in actions)
    for candidate in candidates[:8]:
        assert env.step(candidate.action or "").last_action_error is None


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("grep -rn foo .", "grep"),
        ("cd src && python3 -m pytest -q", "pytest"),
        ("git diff --stat", "git diff"),
        ("FOO=1 python3 x.py | head", "python3"),
        ("cd src", "cd"),
        ("/usr/bin/sed -n 1p x", "sed"),
    ],
)
def test_command_kind(command: str, kind: str) -> None:
    assert command_kind(command) == kind


def test_parse_report() -> None:
    report = "cwd\0/testbed/src\0touched\0a.py\0touched\0x/__pycache__/a.pyc\0status\0 M a.py\0?? b.txt\0"
    assert parse_report(report) == ("/testbed/src", ["a.py"], [" M a.py", "?? b.txt"])
    assert parse_report("cwd\0/testbed\0") == ("/testbed", [], None)
