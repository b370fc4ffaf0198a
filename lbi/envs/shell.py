"""Shell environment: each command runs in the bubblewrap sandbox (:mod:`lbi.envs.sandbox`).

A fresh working directory per episode, seeded from a directory or from the task's
``start = {"files": {"path": "content"}}``, is mounted at ``/sandbox``: no network, system
directories read-only, limits on time, processes, file size and memory.

Like mini-swe-agent, every command runs in a new shell: ``cd`` does not persist; chain
with ``&&`` instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from lbi.envs.actions import Action, ActionSpec
from lbi.envs.base import COMMON_ACTIONS, BaseEnv, Candidate, EnvCrashed, Evidence, Observation, Task
from lbi.envs.registry import ConformanceContext, EnvSpec
from lbi.envs.sandbox import NOBODY, SANDBOX_DIR, SandboxOptions, render_result, run_sandboxed

SHELL_ACTIONS: dict[str, ActionSpec] = {
    "run": ActionSpec(
        "run",
        (("command", str),),
        "Run a bash command in the sandbox working directory and see stdout, stderr and "
        "the exit code. Each command starts in a new shell in /sandbox (cd does not "
        "persist); there is no network.",
        "run(\"grep -rn 'TODO' . | head\")",
    ),
    **COMMON_ACTIONS,
}


class ShellEnv(BaseEnv):
    """Sandboxed bash; see the module docstring."""

    name: ClassVar[str] = "shell"
    deterministic_reset: ClassVar[bool] = True
    actions = SHELL_ACTIONS
    bare_action = ("run", ("bash", "sh", "shell", "console"))
    intro = (
        "You have a bash shell in a sandbox: the working directory /sandbox is the "
        "only writable place and there is no network. Run one command per step; when "
        "the task is done, call stop(answer)."
    )

    def __init__(
        self,
        seed_dir: str | Path | None = None,
        *,
        workdir_root: str | Path | None = None,
        time_limit_s: float = 10.0,
        max_output_chars: int = 4000,
        nproc: int = 128,
        memory_mb: int = 2048,
        fsize_mb: int = 64,
    ) -> None:
        super().__init__()
        self.seed_dir = Path(seed_dir) if seed_dir else None
        if self.seed_dir is not None and not self.seed_dir.is_dir():
            raise EnvCrashed(f"seed directory {self.seed_dir} does not exist")
        self.workdir_root = Path(workdir_root) if workdir_root else None
        self.time_limit_s = time_limit_s
        self.max_output_chars = max_output_chars
        self.limits: dict[str, Any] = {"nproc": nproc, "memory_mb": memory_mb, "fsize_mb": fsize_mb}
        self.workdir: Path | None = None
        self._signature = "shell:start"

    def _reset(self, task: Task | None) -> Observation:
        self._remove_workdir()
        if self.workdir_root:
            self.workdir_root.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="lbi-shell-", dir=self.workdir_root))
        if self.seed_dir is not None:
            shutil.copytree(self.seed_dir, self.workdir, dirs_exist_ok=True)
        files = (task.start.get("files") if task else None) or {}
        for rel, content in files.items():
            target = (self.workdir / rel).resolve()
            if not target.is_relative_to(self.workdir.resolve()):
                raise EnvCrashed(f"task file {rel!r} is outside the sandbox")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        if os.geteuid() == 0:  # the command runs as nobody; bwrap (root) must enter it
            for path in [self.workdir, *self.workdir.rglob("*")]:
                os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
            self.workdir.chmod(0o755)
        probe = run_sandboxed(self.workdir, "ls -la", timeout_s=self.time_limit_s, **self.limits)
        if probe["exit_code"] != 0:
            raise EnvCrashed(f"cannot start the sandbox: {probe['stderr'].strip()}")
        self._signature = "shell:start"
        return Observation(
            text=f"Sandbox ready: {SANDBOX_DIR}\n$ ls -la\n{probe['stdout']}",
            state_signature=self._signature,
            info={"workdir": str(self.workdir)},
        )

    def _execute(self, action: Action) -> Observation:
        if action.name != "run":
            return self._error_obs(f"unsupported action {action.name}()")
        command = str(action.args[0])
        if not command.strip():
            return self._error_obs("run(): the command is empty")
        if self.workdir is None:
            return self._error_obs("no sandbox (call reset first)")
        res = run_sandboxed(
            self.workdir,
            command,
            timeout_s=self.time_limit_s,
            max_output_bytes=self.max_output_chars * 4,
            **self.limits,
        )
        words = command.strip().split()
        self._signature = f"shell:{Path(words[0]).name}" if words else "shell:?"
        text = render_result(f"$ {command}", res, self.max_output_chars, self.time_limit_s)
        error = None
        if res["timed_out"]:
            error = f"command timed out after {self.time_limit_s:g}s and was killed (with all its processes)"
        obs = Observation(
            text=text,
            state_signature=self._signature,
            last_action_error=error,
            info={
                "workdir": str(self.workdir),
                "exit_code": res["exit_code"],
                "timed_out": res["timed_out"],
                "duration_s": res["duration_s"],
            },
        )
        return obs

    def _observe(self) -> Observation:
        text = self.last_obs.text if self.last_obs else ""
        return Observation(text=text, state_signature=self._signature, info={"workdir": str(self.workdir)})

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]:
        cmds = ["ls -la", "pwd", "find . -maxdepth 2 | head -50", "du -sh ."]
        if self.workdir is not None:
            for path in sorted(self.workdir.rglob("*"))[:20]:
                rel = path.relative_to(self.workdir)
                if path.is_file():
                    cmds += [f"head -20 '{rel}'", f"wc -l '{rel}'"]
                else:
                    cmds.append(f"ls -la '{rel}'")
        return [Candidate("action", name=c, action=f"run({c!r})") for c in cmds]

    def evidence(self) -> Evidence:
        return Evidence(workdir=self.workdir)

    def _remove_workdir(self) -> None:
        if self.workdir is not None and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def _close(self) -> None:
        self._remove_workdir()


class ShellOptions(SandboxOptions):
    """Options of the ``shell`` environment."""

    seed_dir: Path | None = Field(default=None, description="A folder copied into /sandbox at every reset.")
    workdir_root: Path | None = Field(
        default=None, description="Where the episodes' working directories are made (default: the system temp dir)."
    )
    time_limit_s: float = Field(default=10.0, description="Wall time of one command, in seconds.")


def _make(options: ShellOptions) -> ShellEnv:
    return ShellEnv(**options.kwargs("screenshot_dir"))  # a terminal has nothing to screenshot


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    return {"workdir_root": ctx.tmp_path, "time_limit_s": 5}


SPEC = EnvSpec(
    name="shell",
    factory=_make,
    options=ShellOptions,
    description="bash in a bubblewrap sandbox without network (options: seed_dir, time_limit_s, ...).",
    conformance=_conformance,
    shipped_options=("seed_dir",),
)
