"""The bubblewrap sandbox that runs commands for the ``shell`` and ``repo`` environments.

The sandbox (``bwrap`` from Debian):

* a working directory mounted at ``/sandbox`` (``shell``) or ``/testbed`` (``repo``), the only writable
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
from typing import Any

from pydantic import Field

from lbi.envs.base import EnvCrashed
from lbi.envs.registry import EnvOptions

SANDBOX_DIR = "/sandbox"
NOBODY = 65534
RO_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc")


def sandbox_command(
    workdir: Path,
    command: str,
    *,
    nproc: int = 128,
    fsize_mb: int = 64,
    memory_mb: int = 2048,
    network: bool = False,
    mount: str = SANDBOX_DIR,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The argv that runs ``command`` with bash inside the sandbox: ``workdir`` is mounted at ``mount``
    (the working directory), ``env`` adds variables to the clean environment."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise EnvCrashed("bubblewrap is not installed (apt-get install bubblewrap)")
    limits = [
        "prlimit",
        f"--nproc={nproc}",
        f"--fsize={fsize_mb * 1024 * 1024}",
        f"--as={memory_mb * 1024 * 1024}",
        "--core=0",
        "--",
    ]
    inner: list[str] = []
    argv: list[str] = []
    if os.geteuid() == 0:  # bwrap as root, then drop to nobody without capabilities inside
        inner = [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            *limits,
        ]
    else:  # unprivileged bwrap (user namespace) under the limits
        argv = list(limits)
    argv += [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    if os.geteuid() != 0:
        argv.append("--unshare-user-try")
    if not network:
        argv.append("--unshare-net")
    for d in RO_DIRS:
        if Path(d).is_symlink():
            argv += ["--symlink", os.readlink(d), d]
        elif Path(d).is_dir():
            argv += ["--ro-bind", d, d]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--bind",
        str(workdir),
        mount,
        "--chdir",
        mount,
        "--hostname",
        "sandbox",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/local/bin:/usr/bin:/bin",
        "--setenv",
        "HOME",
        mount,
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "TERM",
        "dumb",
    ]
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


def run_sandboxed(
    workdir: Path,
    command: str,
    *,
    timeout_s: float = 10.0,
    max_output_bytes: int = 64_000,
    stdin: bytes | None = None,
    report: bool = False,
    env: Mapping[str, str] | None = None,
    watch: Callable[[], str | None] | None = None,
    watch_every_s: float = 0.2,
    **limits: Any,
) -> dict[str, Any]:
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
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=() if side_write is None else (side_write,),
        )
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
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, max_output_bytes, out, sizes[0]), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, max_output_bytes, err, sizes[1]), daemon=True),
    ]
    side_file = None if side_read is None else os.fdopen(side_read, "rb")
    if side_file is not None:
        readers.append(threading.Thread(target=_drain, args=(side_file, max_output_bytes, side, sizes[2]), daemon=True))
    if stdin is not None:
        readers.append(threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True))
    for t in readers:
        t.start()
    timed_out, stopped = _wait(proc, start + timeout_s, watch, watch_every_s)
    for t in readers:
        t.join(timeout=2)
    if side_file is not None:
        side_file.close()
    return {
        "stdout": b"".join(out).decode("utf-8", "replace"),
        "stderr": b"".join(err).decode("utf-8", "replace"),
        "report": b"".join(side).decode("utf-8", "replace"),
        "stdout_bytes": sizes[0][0],
        "stderr_bytes": sizes[1][0],
        "exit_code": None if timed_out or stopped else proc.returncode,
        "timed_out": timed_out,
        "stopped": stopped,
        "duration_s": round(time.monotonic() - start, 3),
    }


def _wait(
    proc: subprocess.Popen[bytes], deadline: float, watch: Callable[[], str | None] | None, every_s: float
) -> tuple[bool, str | None]:
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


class SandboxOptions(EnvOptions):
    """The output cut and the limits of commands in the sandbox: options of every env that runs them (shell,
    repo)."""

    max_output_chars: int = Field(default=4000, description="Characters kept of stdout and of stderr.")
    nproc: int = Field(default=128, description="Most processes of the sandbox user.")
    memory_mb: int = Field(default=2048, description="Address space of one command, in MB.")
    fsize_mb: int = Field(default=64, description="Largest file a command may write, in MB.")
