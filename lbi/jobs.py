"""Background jobs for the workbench: long work runs as `lbi ...` in a subprocess, never in the page script.

A job is one or more `lbi` commands run in turn by one process (`python -m lbi.cli.job_runner`), stopping
at the first that fails. It writes its progress to the store (`runs` rows) and its console output to
`<project>/logs/<name>-<time>.log`; when it ends, its exit status goes to the `.exit` file beside the log.
Pages poll both. Jobs survive a page reload and can be stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lbi.procs import is_alive

KILLED = -1
"""The exit status of a job whose process is gone without leaving one (stopped, or killed)."""


@dataclass
class Job:
    name: str
    pid: int
    log: Path
    args: list[str]

    @property
    def exit_file(self) -> Path:
        return self.log.with_suffix(".exit")

    def alive(self) -> bool:
        return is_alive(self.pid)

    def exit_code(self) -> int | None:
        """None while the job runs; then its exit status (0: every command succeeded, 2: a user error,
        `KILLED`: stopped before it could say)."""
        if self.alive():
            return None
        try:
            return int(self.exit_file.read_text())
        except (OSError, ValueError):
            return KILLED

    def output(self) -> str:
        """What the job's commands printed (without the `$ lbi ...` lines)."""
        return "\n".join(line for line in tail(self.log, 10_000).splitlines() if not line.startswith("$ lbi "))


def logs_dir(project_dir: Path) -> Path:
    path = Path(project_dir) / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start(project_dir: Path, args: list[str], name: str, *, then: Sequence[list[str]] = ()) -> Job:
    """Start `lbi ARGS -p PROJECT` in the background (then each command of `then`, while they succeed);
    output goes to the job's log file."""
    log = logs_dir(project_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.log"
    commands = [[*a, "--project", str(project_dir)] for a in (args, *then)]
    cmd = [sys.executable, "-m", "lbi.cli.job_runner", str(log.with_suffix(".exit")), json.dumps(commands)]
    env = {**os.environ, "COLUMNS": "120", "TERM": "dumb"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
    return Job(name=name, pid=proc.pid, log=log, args=args)


def stop(pid: int) -> bool:
    """Stop a job (its whole process group); True if it was running."""
    if not is_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
