"""Background jobs for the workbench: long work runs as an `lbi ...` subprocess, never in the page script.

The job writes its progress to the store (`runs` rows), and its console output to
`<project>/logs/<name>.log`; pages poll both. Jobs survive a page reload and can be stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Job:
    name: str
    pid: int
    log: Path
    args: list[str]

    def alive(self) -> bool:
        return is_alive(self.pid)


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def logs_dir(project_dir: Path) -> Path:
    path = Path(project_dir) / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start(project_dir: Path, args: list[str], name: str) -> Job:
    """Start `lbi ARGS -p PROJECT` in the background; output goes to the job's log file."""
    log = logs_dir(project_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    cmd = [sys.executable, "-m", "lbi.cli", *args, "--project", str(project_dir)]
    env = {**os.environ, "COLUMNS": "120", "TERM": "dumb"}
    with log.open("wb") as out:
        out.write(("$ lbi " + " ".join(args) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
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
