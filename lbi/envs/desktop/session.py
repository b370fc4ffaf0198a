"""The client of one desktop worker (:mod:`lbi.envs.desktop.worker`): an X display, a window manager, a session
D-Bus with the accessibility bus and one application, in a process of Debian's python that lbi talks to in JSON
lines. Every request has a time limit: a worker that does not answer in time (a hung application blocking an
accessibility call) is killed with its whole process group and the request fails with :class:`WorkerDied`.

The worker and everything it starts die with this process (``PR_SET_PDEATHSIG`` in the worker, which then
kills its process group), also after ``kill -9``; :meth:`DesktopSession.close` kills the group from here too.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from lbi.envs.base import EnvCrashed
from lbi.procs import die_with_parent

SYSTEM_PYTHON = "/usr/bin/python3"
WORKER = Path(__file__).with_name("worker.py")
OPENBOX_RC = """<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy><center>yes</center></placement>
  <theme><name>Clearlooks</name><titleLayout>LIMC</titleLayout></theme>
  <desktops><number>1</number></desktops>
  <applications><application class="*" type="normal"><maximized>yes</maximized><decor>no</decor></application>
  </applications>
</openbox_config>
"""
REQUIRED = {"Xvfb": "xvfb", "openbox": "openbox", "xdotool": "xdotool", "dbus-daemon": "dbus"}


class WorkerDied(EnvCrashed):
    """The desktop worker died or stopped answering (it has been killed)."""


def missing_programs() -> list[str]:
    """Debian packages the desktop needs that are not installed (by the program each gives)."""
    missing = [pkg for prog, pkg in REQUIRED.items() if shutil.which(prog) is None]
    if not Path(SYSTEM_PYTHON).exists():
        missing.append("python3")
    elif not any(
        Path(p).exists()
        for p in (
            "/usr/lib/x86_64-linux-gnu/girepository-1.0/Atspi-2.0.typelib",
            "/usr/lib/aarch64-linux-gnu/girepository-1.0/Atspi-2.0.typelib",
            "/usr/lib/girepository-1.0/Atspi-2.0.typelib",
        )
    ):
        missing.append("gir1.2-atspi-2.0")
    return missing


class DesktopSession:
    """One worker: ``start()``, then ``request(op, ...)``; ``close()`` ends it and everything it started."""

    def __init__(
        self, width: int = 1280, height: int = 800, *, run_dir: str | Path | None = None, timeout_s: float = 20.0
    ) -> None:
        self.width, self.height = width, height
        self.timeout_s = timeout_s
        self._own_dir = run_dir is None
        self.run_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="lbi-desktop-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.display: str | None = None
        self.pids: dict[str, int] = {}
        self._buffer = b""

    def start(self) -> DesktopSession:
        missing = missing_programs()
        if missing:
            raise EnvCrashed(
                f"the desktop environment needs Debian packages: {' '.join(missing)} "
                f"(apt-get install {' '.join(missing)}; `make setup` installs them)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        rc = self.run_dir / "openbox-rc.xml"
        rc.write_text(OPENBOX_RC)
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-u", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(self.run_dir / "worker.log").open("ab"),
            start_new_session=True,
            preexec_fn=die_with_parent,
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")},
        )
        atexit.register(self.close)
        reply = self.request(
            "start",
            width=self.width,
            height=self.height,
            run_dir=str(self.run_dir),
            wm_config=str(rc),
            remove_dir=self._own_dir,
        )
        self.display, self.pids = reply["display"], reply["pids"]
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(self, op: str, *, timeout_s: float | None = None, **args: Any) -> dict[str, Any]:
        """Send one request and wait for its reply; a failed op raises :class:`EnvCrashed` with the worker's
        message, a worker that is gone or silent past the time limit raises :class:`WorkerDied`."""
        if not self.alive:
            raise WorkerDied("the desktop worker is not running")
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            self.kill()
            raise WorkerDied(f"the desktop worker is gone ({err})") from None
        line = self._read_line(timeout_s or self.timeout_s)
        if line is None:
            self.kill()
            raise WorkerDied(
                f"the desktop did not answer {op} within {timeout_s or self.timeout_s:g}s "
                "(application hung); it was stopped"
            )
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise EnvCrashed(f"desktop {op}: {reply['error']}")
        return reply

    def _read_line(self, timeout_s: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def kill(self) -> None:
        """Kill the worker's whole process group at once (the worker, Xvfb, the bus, the application)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """Ask the worker to stop everything, then make sure of it (idempotent)."""
        if self.proc is None:
            return
        if self.alive:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"op": "shutdown"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        self.proc = None
        atexit.unregister(self.close)
        if self._own_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> DesktopSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
