"""Repository environment (SWE-bench style): a git repository in the bubblewrap sandbox, one copy per episode.

* The repository (option ``repo``: a folder, e.g. a git work tree or an unpacked sdist, or a ``.tar.gz`` /
  ``.zip`` archive) becomes a pristine snapshot once (`lbi.envs.repo.snapshot`); every reset copies it to a
  fresh episode tree mounted at ``/testbed``, the only writable place besides a private ``/tmp``. A task may
  start from a changed tree (``start = {"patch": diff}``, e.g. an injected bug); the base commit then holds it.
* Commands run in the bubblewrap sandbox (`lbi.envs.sandbox`, as the shell env's do): no network, system
  directories read-only, the command as ``nobody`` when lbi is root, limits on time (the whole process tree is
  killed), processes, file size and memory; stdout and stderr are cut at ``max_output_chars`` with their full sizes.
* Actions: ``bash(command)`` (``cd`` persists between steps) and ``submit()``, which ends the episode with
  the working tree's ``git diff`` against the base commit (new files included) as the answer; ``stop``,
  ``send_msg_to_user`` and ``noop`` as everywhere.
* The observation shows the command with the directory it ran in, its output and exit code, the files
  changed so far (``git status``) and the current directory; the state signature is
  ``repo:<command kind>:<files touched>`` (``repo:grep:src/semver/version.py``), the kind being the program
  (``python -m pytest`` → ``pytest``, ``git diff`` → ``git diff``), the files those the command named or
  changed.
* A command that deletes the repository's ``.git`` ends the episode (nothing is left to diff); deleted files
  show in the changed files and ``git checkout`` brings them back.
* Success checks read `evidence()`: the tree, its diff, and ``run_tests`` (`lbi.envs.repo.harness`), which the
  ``tests`` check kind uses to judge the diff as SWE-bench's harness does.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from pydantic import Field

from lbi.envs.actions import Action, ActionSpec
from lbi.envs.base import COMMON_ACTIONS, BaseEnv, Candidate, EnvCrashed, Evidence, Observation, Task
from lbi.envs.registry import ConformanceContext, EnvSpec
from lbi.envs.repo.commands import (
    DIFF_CHARS,
    DIFF_MARK,
    SKIP_PARTS,
    WRAPPER,
    command_kind,
    explore_commands,
    parse_report,
)
from lbi.envs.repo.harness import DEFAULT_TEST_COMMAND, TestRun, run_tests
from lbi.envs.repo.snapshot import (
    TESTBED,
    Snapshot,
    default_workdir_root,
    disk_usage,
    ensure_snapshot,
    make_tree,
    sandboxed,
    size_watch,
    working_diff,
)
from lbi.envs.sandbox import SandboxOptions, render_result

REPO_ACTIONS: dict[str, ActionSpec] = {
    "bash": ActionSpec(
        "bash",
        (("command", str),),
        "Run a bash command in the repository and see its output and exit code. cd persists between "
        "commands; there is no network; a command that runs too long is killed.",
        "bash(\"grep -rn 'def parse' --include='*.py' . | head\")",
    ),
    "submit": ActionSpec(
        "submit",
        (),
        "Finish the task: your answer is the diff of the working tree against the base commit (every change "
        "you made, new files included).",
        "submit()",
    ),
    **COMMON_ACTIONS,
}


class RepoEnv(BaseEnv):
    """A repository in the sandbox; see the module docstring."""

    name: ClassVar[str] = "repo"
    deterministic_reset: ClassVar[bool] = True
    actions = REPO_ACTIONS
    bare_action = ("bash", ("bash", "sh", "shell", "console"))
    intro = (
        "You work in a git repository at /testbed inside a sandbox without network. Run one bash command "
        "per step with bash(command); read the code, run the tests, edit files (sed, python, a heredoc). "
        "When your change is complete, call submit(): the diff of your changes is your answer."
    )

    def __init__(
        self,
        repo: str | Path,
        *,
        cache_dir: str | Path | None = None,
        workdir_root: str | Path | None = None,
        test_command: str = DEFAULT_TEST_COMMAND,
        time_limit_s: float = 30.0,
        test_time_limit_s: float = 300.0,
        max_output_chars: int = 4000,
        max_repo_mb: float = 200.0,
        max_tree_mb: float = 1024.0,
        nproc: int = 128,
        memory_mb: int = 4096,
        fsize_mb: int = 64,
    ) -> None:
        super().__init__()
        self.snapshot: Snapshot = ensure_snapshot(repo, cache_dir, max_mb=max_repo_mb)
        self.workdir_root = Path(workdir_root) if workdir_root else default_workdir_root()
        if self.workdir_root:
            self.workdir_root.mkdir(parents=True, exist_ok=True)
        self.test_command = test_command
        self.time_limit_s = time_limit_s
        self.test_time_limit_s = test_time_limit_s
        self.max_output_chars = max_output_chars
        self.max_tree_mb = max_tree_mb
        self.limits: dict[str, Any] = {"nproc": nproc, "memory_mb": memory_mb, "fsize_mb": fsize_mb}
        self.episode_dir: Path | None = None
        self.base = self.snapshot.meta.base
        self.start_patch: str | None = None
        self.cwd = TESTBED
        self.changed: list[str] = []
        self._signature = "repo:start"
        self._candidates: list[Candidate] | None = None

    @property
    def tree(self) -> Path | None:
        """The episode's working tree on the host (mounted at /testbed in the sandbox)."""
        return self.episode_dir / "testbed" if self.episode_dir else None

    # -- episode --------------------------------------------------------------------------------------
    def _reset(self, task: Task | None) -> Observation:
        self._remove_episode()
        self.episode_dir = Path(tempfile.mkdtemp(prefix="lbi-repo-", dir=self.workdir_root))
        self.start_patch = (task.start.get("patch") if task else None) or None
        assert self.tree is not None
        self.base = make_tree(self.snapshot, self.tree, self.start_patch)
        probe = sandboxed(self.tree, "git update-index -q --refresh >/dev/null; ls -F", timeout_s=30, **self.limits)
        if probe["exit_code"] != 0:
            raise EnvCrashed(f"cannot start the sandbox: {probe['stderr'].strip()[-300:]}")
        self.cwd, self.changed, self._signature = TESTBED, [], "repo:start"
        text = (
            f"Repository {self.snapshot.meta.name} at {TESTBED}: a git repository whose one commit is the "
            f"base of your task.\nRun its tests with: {self.test_command} [test ids or files]\n"
            f"{TESTBED}$ ls -F\n{probe['stdout'].rstrip()}\n[cwd: {TESTBED}]"
        )
        return self._obs(text)

    def _execute(self, action: Action) -> Observation:
        if self.tree is None:
            return self._error_obs("no repository (call reset first)")
        if action.name == "submit":
            return self._submit()
        if action.name != "bash":
            return self._error_obs(f"unsupported action {action.name}()")
        command = str(action.args[0])
        if not command.strip():
            return self._error_obs("bash(): the command is empty")
        res = sandboxed(
            self.tree,
            WRAPPER,
            timeout_s=self.time_limit_s,
            report=True,
            max_output_bytes=self.max_output_chars * 4,
            watch=size_watch(self.tree, self.max_tree_mb),
            env={"LBI_COMMAND": command, "LBI_CWD": self.cwd, "LBI_SINCE": f"@{time.time() - 0.01:.3f}"},
            **self.limits,
        )
        cwd, written, status = parse_report(res["report"])
        ran_in = self.cwd
        self.cwd = cwd or self.cwd  # no report: the command ended the shell before its EXIT trap could run
        newly = [] if status is None else sorted({e[3:] for e in set(status) ^ set(self.changed)})  # came or went
        self.changed = self.changed if status is None else status
        named = self._named_files(command, ran_in) + self._named_files(command, self.cwd)  # before and after a cd
        files = sorted(set(written) | set(newly) | set(named))
        self._signature = f"repo:{command_kind(command)}" + (f":{','.join(files[:3])}" if files else "")
        parts = [render_result(f"{ran_in}$ {command}", res, self.max_output_chars, self.time_limit_s)]
        if self.changed:
            shown = ", ".join(e.strip() for e in self.changed[:10])
            more = f" and {len(self.changed) - 10} more" if len(self.changed) > 10 else ""
            parts.append(f"[changed files: {shown}{more}]")
        if (written or newly) and (self.tree / ".git" / "HEAD").is_file():
            parts.append(self._diff_block())
        parts.append(f"[cwd: {self.cwd}]")
        obs = self._obs("\n".join(parts))
        obs.info.update(
            exit_code=res["exit_code"], timed_out=res["timed_out"], duration_s=res["duration_s"], touched=files
        )
        if res["timed_out"]:
            obs.last_action_error = (
                f"command timed out after {self.time_limit_s:g}s and was killed (with all its processes)"
            )
        elif res["stopped"]:
            obs.last_action_error = f"command killed: {res['stopped']}"
        return self._end_if_broken(obs)

    def _end_if_broken(self, obs: Observation) -> Observation:
        """End the episode cleanly when a command deleted the repository's .git (nothing is left to diff) or grew
        the tree past `max_tree_mb` (the tree is deleted at once to give the space back)."""
        assert self.tree is not None
        why = None
        if not (self.tree / ".git" / "HEAD").is_file():
            why = "the command deleted the repository's .git: there is nothing left to diff, so the episode ends"
        size_mb = disk_usage(self.tree) / 2**20
        if size_mb > self.max_tree_mb:
            self._remove_episode()
            why = (
                f"the repository grew to {size_mb:.0f} MB, more than max_tree_mb={self.max_tree_mb:g}: the "
                "episode ends and its tree is deleted"
            )
        if why:
            obs.done, obs.answer = True, None
            obs.last_action_error = f"{obs.last_action_error}; {why}" if obs.last_action_error else why
        return obs

    def _diff_block(self) -> str:
        """The working tree's diff so far, after a command that changed files (cut at `DIFF_CHARS`): the agent sees
        what its edit did, and a replay shows the diff at every step."""
        assert self.tree is not None
        diff, error = working_diff(self.tree, self.base)
        if diff is None:
            return f"{DIFF_MARK}: unavailable ({error})]"
        if not diff:
            return f"{DIFF_MARK}: no changes]"
        files = len(re.findall(r"^diff --git ", diff, re.M))
        cut = "" if len(diff) <= DIFF_CHARS else f"\n… (diff cut: {len(diff)} characters in total)"
        return f"{DIFF_MARK}: {files} file(s)]\n{diff[:DIFF_CHARS].rstrip()}{cut}"

    def _named_files(self, command: str, cwd: str) -> list[str]:
        """Repository files a command names (read or written), relative to the repository's root."""
        assert self.tree is not None
        try:
            words = shlex.split(command, comments=True)
        except ValueError:
            words = command.split()
        found = []
        for word in words:
            if word.startswith("-") or len(word) > 300:
                continue
            path = PurePosixPath(os.path.normpath(PurePosixPath(cwd) / word.split("::", 1)[0]))
            if not path.is_relative_to(TESTBED) or path == PurePosixPath(TESTBED):
                continue
            rel = path.relative_to(TESTBED)
            host = self.tree / rel  # the agent's tree: a symlink in it must not lead the host outside
            if (
                host.resolve().is_relative_to(self.tree.resolve())
                and host.is_file()
                and not (SKIP_PARTS & set(rel.parts))
            ):
                found.append(str(rel))
        return found

    def _submit(self) -> Observation:
        assert self.tree is not None
        diff, error = working_diff(self.tree, self.base)
        self._signature = "repo:submit"
        obs = self._obs(self.last_obs.text if self.last_obs else "")
        obs.done = True
        if diff is None:
            obs.last_action_error = f"submit(): {error}"
            obs.answer = ""
            return obs
        files = len(re.findall(r"^diff --git ", diff, re.M))
        shown = (
            diff
            if len(diff) <= self.max_output_chars
            else diff[: self.max_output_chars] + f"\n… (diff truncated: {len(diff)} characters in total)"
        )
        obs.text = f"Submitted the diff of {files} file(s):\n{shown}" if diff else "Submitted: no changes."
        obs.answer = diff
        obs.info["files_changed"] = files
        return obs

    def _observe(self) -> Observation:
        return self._obs(self.last_obs.text if self.last_obs else "")

    def _obs(self, text: str) -> Observation:
        return Observation(
            text=text, state_signature=self._signature, info={"cwd": self.cwd, "changed": [e[3:] for e in self.changed]}
        )

    # -- checks, exploration --------------------------------------------------------------------------
    def evidence(self) -> Evidence:
        if self.tree is None or not (self.tree / ".git" / "HEAD").is_file():
            return Evidence(workdir=self.tree, run_tests=self.run_tests)
        diff, _ = working_diff(self.tree, self.base)
        return Evidence(workdir=self.tree, patch=diff, run_tests=self.run_tests)

    def run_tests(
        self, patch: str, test_ids: list[str], test_patch: str | None = None, timeout_s: float | None = None
    ) -> TestRun:
        """The current task's tests on ``patch``, in a fresh copy of its base tree (`lbi.envs.repo.harness`)."""
        return run_tests(
            self.snapshot,
            self.start_patch,
            patch,
            test_ids,
            test_patch=test_patch,
            command=self.test_command,
            timeout_s=timeout_s or self.test_time_limit_s,
            scratch=self.workdir_root,
            max_tree_mb=self.max_tree_mb,
            limits=self.limits,
        )

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]:
        if self._candidates is None:
            self._candidates = [
                Candidate("action", name=c, action=f"bash({c!r})")
                for c in explore_commands(self.snapshot, self.test_command)
            ]
        return self._candidates

    def _remove_episode(self) -> None:
        if self.episode_dir is not None:
            shutil.rmtree(self.episode_dir, ignore_errors=True)
        self.episode_dir = None

    def _close(self) -> None:
        self._remove_episode()


class RepoOptions(SandboxOptions):
    """Options of the ``repo`` environment."""

    repo: Path = Field(
        description="The repository: a folder (a git work tree, an unpacked sdist) or a .tar.gz/.zip "
        "archive; its files as they are, without history, are every episode's start."
    )
    cache_dir: Path | None = Field(
        default=None, description="Where snapshots are kept (default: $XDG_CACHE_HOME/lbi/repo-snapshots)."
    )
    workdir_root: Path | None = Field(
        default=None,
        description="Where the episodes' trees are made (default: /dev/shm, in memory, else the system temp dir).",
    )
    test_command: str = Field(
        default=DEFAULT_TEST_COMMAND,
        description="How the tests run (pytest; the tests check adds -rA and the test ids).",
    )
    time_limit_s: float = Field(default=30.0, description="Wall time of one command, in seconds.")
    test_time_limit_s: float = Field(default=300.0, description="Wall time of a tests check's test run, in seconds.")
    max_repo_mb: float = Field(default=200.0, description="Largest repository accepted, in MB.")
    max_tree_mb: float = Field(
        default=1024.0,
        description="Largest an episode's tree may grow, in MB: a command "
        "that fills it more is killed and ends the episode.",
    )
    memory_mb: int = Field(
        default=4096, description="Address space of one command, in MB (test suites need more than a shell command)."
    )


def _make(options: RepoOptions) -> RepoEnv:
    return RepoEnv(**options.kwargs("screenshot_dir"))  # a terminal has nothing to screenshot


def _docs(options: RepoOptions) -> Path:
    return ensure_snapshot(options.repo, options.cache_dir, max_mb=options.max_repo_mb).docs


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    repo = ctx.tmp_path / "tiny-repo"
    (repo / "tiny").mkdir(parents=True)
    (repo / "README.md").write_text("# tiny\n\nAdds numbers.\n")
    (repo / "tiny" / "__init__.py").write_text('def add(a, b):\n    """Add two numbers."""\n    return a + b\n')
    return {
        "repo": repo,
        "cache_dir": ctx.tmp_path / "snapshots",
        "workdir_root": ctx.tmp_path / "work",
        "time_limit_s": 10,
    }


SPEC = EnvSpec(
    name="repo",
    factory=_make,
    options=RepoOptions,
    description="A git repository in a bubblewrap sandbox (SWE-bench style: bash, submit a diff; option repo).",
    options_docs=_docs,
    conformance=_conformance,
    shipped_options=("repo",),
    replay_judge=True,
)

__all__ = ["REPO_ACTIONS", "SPEC", "RepoEnv", "RepoOptions"]
