"""Shell environment: each command runs in a bubblewrap sandbox.

The sandbox (``bwrap`` from Debian):

* a fresh working directory per episode, seeded from a directory or from the task's
  ``start = {"files": {"path": "content"}}``; mounted at ``/sandbox``, the only writable
  place besides a private ``/tmp`` tmpfs;
* the system directories (``/usr``, ``/etc``...) read-only; nothing else of the host
  (no ``/home``, ``/root``, no project files) is visible;
* new network namespace (no network, not even the host's loopback), new PID/IPC/UTS
  namespaces, ``--die-with-parent``, ``--new-session``;
* when lbi runs as root, bwrap starts as root and the command runs as ``nobody`` (setpriv)
  with no capabilities: the process-count limit (RLIMIT_NPROC, against fork bombs) does
  not apply to root; otherwise bwrap runs unprivileged in a user namespace;
* limits per command: wall time (the process group is killed), processes, file size,
  address space; output truncated to ``max_output_chars``.

Like mini-swe-agent, every command runs in a new shell: ``cd`` does not persist; chain
with ``&&`` instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from lbi.envs.actions import Action, ActionSpec
from lbi.envs.base import COMMON_ACTIONS, BaseEnv, Candidate, EnvCrashed, Evidence, Observation
from lbi.envs.registry import ConformanceContext, EnvOptions, EnvSpec

if TYPE_CHECKING:
    from lbi.envs.tasks import Task

SANDBOX_DIR = "/sandbox"
NOBODY = 65534
RO_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc")

SHELL_ACTIONS: dict[str, ActionSpec] = {
    "run": ActionSpec(
        "run", (("command", str),),
        "Run a bash command in the sandbox working directory and see stdout, stderr and "
        "the exit code. Each command starts in a new shell in /sandbox (cd does not "
        "persist); there is no network.",
        "run(\"grep -rn 'TODO' . | head\")"),
    **COMMON_ACTIONS,
}


def sandbox_command(workdir: Path, command: str, *, nproc: int = 128,
                    fsize_mb: int = 64, memory_mb: int = 2048,
                    network: bool = False, mount: str = SANDBOX_DIR,
                    env: Mapping[str, str] | None = None) -> list[str]:
    """The argv that runs ``command`` with bash inside the sandbox: ``workdir`` is mounted at ``mount``
    (the working directory), ``env`` adds variables to the clean environment."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise EnvCrashed("bubblewrap is not installed (apt-get install bubblewrap)")
    limits = ["prlimit", f"--nproc={nproc}", f"--fsize={fsize_mb * 1024 * 1024}",
              f"--as={memory_mb * 1024 * 1024}", "--core=0", "--"]
    inner: list[str] = []
    argv: list[str] = []
    if os.geteuid() == 0:  # bwrap as root, then drop to nobody without capabilities inside
        inner = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--", *limits]
    else:  # unprivileged bwrap (user namespace) under the limits
        argv = list(limits)
    argv += [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
             "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        argv.append("--unshare-user-try")
    if not network:
        argv.append("--unshare-net")
    for d in RO_DIRS:
        if Path(d).is_symlink():
            argv += ["--symlink", os.readlink(d), d]
        elif Path(d).is_dir():
            argv += ["--ro-bind", d, d]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
             "--bind", str(workdir), mount, "--chdir", mount,
             "--hostname", "sandbox", "--clearenv",
             "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
             "--setenv", "HOME", mount, "--setenv", "LANG", "C.UTF-8",
             "--setenv", "TERM", "dumb"]
    for name, value in (env or {}).items():
        argv += ["--setenv", name, value]
    argv += ["--", *inner, "/bin/bash", "--noprofile", "--norc", "-c", command]
    return argv


def _drain(stream: Any, limit: int, sink: list[bytes], total: list[int]) -> None:
    """Read a pipe to the end, keeping at most ``limit`` bytes."""
    kept = 0
    while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
        total[0] += len(chunk)
        if kept < limit:
            sink.append(chunk[: limit - kept])
            kept += len(sink[-1])


def run_sandboxed(workdir: Path, command: str, *, timeout_s: float = 10.0,
                  max_output_bytes: int = 64_000, stdin: bytes | None = None,
                  report: bool = False, env: Mapping[str, str] | None = None,
                  watch: Callable[[], str | None] | None = None, watch_every_s: float = 0.2,
                  **limits: Any) -> dict[str, Any]:
    """Run one command; returns stdout, stderr, exit_code, timed_out, stopped, duration_s and the
    full output sizes. Never raises for what the command does.

    ``watch`` is asked every ``watch_every_s`` while the command runs; a reason it returns stops the
    command (killed like a time-out) and is under ``stopped`` (e.g. its folder grew too large).

    ``stdin`` is fed to the command. With ``report``, the command also gets a pipe whose
    descriptor number is in ``$LBI_REPORT_FD``: a side channel (e.g. for a shell's ``EXIT``
    trap to report its state past any truncation of stdout); what it wrote is under ``report``."""
    env = dict(env or {})
    side_read = side_write = None
    if report:
        side_read, side_write = os.pipe()
        env["LBI_REPORT_FD"] = str(side_write)
    start = time.monotonic()
    try:
        argv = sandbox_command(workdir, command, env=env, **limits)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                pass_fds=() if side_write is None else (side_write,))
    except BaseException:
        if side_read is not None:
            os.close(side_read)
        raise
    finally:
        if side_write is not None:
            os.close(side_write)  # the command holds the write end now
    side: list[bytes] = []
    out: list[bytes] = []
    err: list[bytes] = []
    sizes = [[0], [0], [0]]
    readers = [threading.Thread(target=_drain, args=(proc.stdout, max_output_bytes, out,
                                                     sizes[0]), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, max_output_bytes, err,
                                                     sizes[1]), daemon=True)]
    side_file = None if side_read is None else os.fdopen(side_read, "rb")
    if side_file is not None:
        readers.append(threading.Thread(target=_drain, args=(side_file, max_output_bytes, side,
                                                             sizes[2]), daemon=True))
    if stdin is not None:
        readers.append(threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True))
    for t in readers:
        t.start()
    timed_out, stopped = _wait(proc, start + timeout_s, watch, watch_every_s)
    for t in readers:
        t.join(timeout=2)
    if side_file is not None:
        side_file.close()
    return {"stdout": b"".join(out).decode("utf-8", "replace"),
            "stderr": b"".join(err).decode("utf-8", "replace"),
            "report": b"".join(side).decode("utf-8", "replace"),
            "stdout_bytes": sizes[0][0], "stderr_bytes": sizes[1][0],
            "exit_code": None if timed_out or stopped else proc.returncode, "timed_out": timed_out,
            "stopped": stopped, "duration_s": round(time.monotonic() - start, 3)}


def _wait(proc: subprocess.Popen[bytes], deadline: float, watch: Callable[[], str | None] | None,
          every_s: float) -> tuple[bool, str | None]:
    """Wait for the command until ``deadline``, asking ``watch`` every ``every_s`` whether to stop it early;
    (timed out, why it was stopped). A command killed either way is killed with its whole process tree."""
    while True:
        left = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(0.0, min(left, every_s if watch else left)))
            return False, None
        except subprocess.TimeoutExpired:
            why = None if left <= 0 or watch is None else watch()
            if left > 0 and why is None:
                continue
            _kill_group(proc)
            proc.wait()
            return why is None, why


def _feed(pipe: Any, data: bytes) -> None:
    """Write ``data`` to the command's stdin; a command that does not read it is its own business."""
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError):
        pass


def render_result(head: str, res: dict[str, Any], max_chars: int, time_limit_s: float) -> str:
    """A command's result as a terminal shows it: ``head`` (the prompt and command), stdout, ``[stderr]`` and
    its text, each cut at ``max_chars`` with the full size, then the exit code or the time-out."""
    parts = [head]
    for key in ("stdout", "stderr"):
        body: str = res[key]
        if not body:
            continue
        if len(body) > max_chars or res[f"{key}_bytes"] > len(body.encode()):
            body = body[:max_chars] + f"\n… ({key} truncated: {res[f'{key}_bytes']} bytes in total)"
        parts.append(body.rstrip("\n") if key == "stdout" else f"[stderr]\n{body.rstrip()}")
    if res["timed_out"]:
        parts.append(f"[timed out after {time_limit_s:g}s; killed]")
    elif res.get("stopped"):
        parts.append(f"[killed: {res['stopped']}]")
    else:
        parts.append(f"[exit code: {res['exit_code']}]")
    return "\n".join(parts)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def sandbox_available() -> tuple[bool, str]:
    """Can a sandbox be created here? (ok, detail)."""
    with tempfile.TemporaryDirectory(prefix="lbi-sbx-check-") as tmp:
        work = Path(tmp)
        if os.geteuid() == 0:
            os.chown(work, NOBODY, NOBODY)
            work.chmod(0o755)
        try:
            res = run_sandboxed(work, "echo ok", timeout_s=10)
        except (OSError, EnvCrashed) as err:
            return False, str(err)
    ok = res["exit_code"] == 0 and res["stdout"].strip() == "ok"
    return ok, "ok" if ok else (res["stderr"].strip() or f"exit {res['exit_code']}")


class ShellEnv(BaseEnv):
    """Sandboxed bash; see the module docstring."""

    name: ClassVar[str] = "shell"
    deterministic_reset: ClassVar[bool] = True
    actions = SHELL_ACTIONS
    bare_action = ("run", ("bash", "sh", "shell", "console"))
    intro = ("You have a bash shell in a sandbox: the working directory /sandbox is the "
             "only writable place and there is no network. Run one command per step; when "
             "the task is done, call stop(answer).")

    def __init__(self, seed_dir: str | Path | None = None, *,
                 workdir_root: str | Path | None = None, time_limit_s: float = 10.0,
                 max_output_chars: int = 4000, nproc: int = 128, memory_mb: int = 2048,
                 fsize_mb: int = 64) -> None:
        super().__init__()
        self.seed_dir = Path(seed_dir) if seed_dir else None
        if self.seed_dir is not None and not self.seed_dir.is_dir():
            raise EnvCrashed(f"seed directory {self.seed_dir} does not exist")
        self.workdir_root = Path(workdir_root) if workdir_root else None
        self.time_limit_s = time_limit_s
        self.max_output_chars = max_output_chars
        self.limits = {"nproc": nproc, "memory_mb": memory_mb, "fsize_mb": fsize_mb}
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
        probe = run_sandboxed(self.workdir, "ls -la", timeout_s=self.time_limit_s,
                              **self.limits)
        if probe["exit_code"] != 0:
            raise EnvCrashed(f"cannot start the sandbox: {probe['stderr'].strip()}")
        self._signature = "shell:start"
        return Observation(text=f"Sandbox ready: {SANDBOX_DIR}\n$ ls -la\n{probe['stdout']}",
                           state_signature=self._signature,
                           info={"workdir": str(self.workdir)})

    def _execute(self, action: Action) -> Observation:
        if action.name != "run":
            return self._error_obs(f"unsupported action {action.name}()")
        command = str(action.args[0])
        if not command.strip():
            return self._error_obs("run(): the command is empty")
        if self.workdir is None:
            return self._error_obs("no sandbox (call reset first)")
        res = run_sandboxed(self.workdir, command, timeout_s=self.time_limit_s,
                            max_output_bytes=self.max_output_chars * 4, **self.limits)
        words = command.strip().split()
        self._signature = f"shell:{Path(words[0]).name}" if words else "shell:?"
        text = render_result(f"$ {command}", res, self.max_output_chars, self.time_limit_s)
        error = None
        if res["timed_out"]:
            error = (f"command timed out after {self.time_limit_s:g}s and was killed "
                     "(with all its processes)")
        obs = Observation(text=text, state_signature=self._signature, last_action_error=error,
                          info={"workdir": str(self.workdir), "exit_code": res["exit_code"],
                                "timed_out": res["timed_out"],
                                "duration_s": res["duration_s"]})
        return obs

    def _observe(self) -> Observation:
        text = self.last_obs.text if self.last_obs else ""
        return Observation(text=text, state_signature=self._signature,
                           info={"workdir": str(self.workdir)})

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


class SandboxOptions(EnvOptions):
    """The output cut and the limits of commands in the sandbox: options of every env that runs them (shell,
    repo)."""

    max_output_chars: int = Field(default=4000, description="Characters kept of stdout and of stderr.")
    nproc: int = Field(default=128, description="Most processes of the sandbox user.")
    memory_mb: int = Field(default=2048, description="Address space of one command, in MB.")
    fsize_mb: int = Field(default=64, description="Largest file a command may write, in MB.")


class ShellOptions(SandboxOptions):
    """Options of the ``shell`` environment."""

    seed_dir: Path | None = Field(default=None, description="A folder copied into /sandbox at every reset.")
    workdir_root: Path | None = Field(default=None, description="Where the episodes' working directories "
                                                                "are made (default: the system temp dir).")
    time_limit_s: float = Field(default=10.0, description="Wall time of one command, in seconds.")


def _make(options: ShellOptions) -> ShellEnv:
    return ShellEnv(**options.kwargs("screenshot_dir"))  # a terminal has nothing to screenshot


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    return {"workdir_root": ctx.tmp_path, "time_limit_s": 5}


SPEC = EnvSpec(
    name="shell", factory=_make, options=ShellOptions,
    description="bash in a bubblewrap sandbox without network (options: seed_dir, time_limit_s, ...).",
    conformance=_conformance, shipped_options=("seed_dir",))
