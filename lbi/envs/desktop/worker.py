"""The desktop worker: one X display with a window manager, a session D-Bus with the accessibility bus, and one
application, driven over JSON lines on stdin/stdout.

It runs under Debian's ``/usr/bin/python3``, not lbi's virtual environment: the AT-SPI bindings
(``python3-gi``, ``gir1.2-atspi-2.0``) are Debian packages (PyPI's PyGObject is a source package that needs
girepository-2.0, newer than Debian 12's GLib). So this file imports only the standard library and ``gi``, and
is started as a script (``/usr/bin/python3 worker.py``); :mod:`lbi.envs.desktop.session` is its client.

Processes die with their parent: the worker asks the kernel for SIGTERM when lbi dies (even by ``kill -9``),
becomes the subreaper of everything it starts (so daemons that double-fork, like D-Bus's activated
``at-spi-bus-launcher``, stay its descendants), gives its direct children SIGKILL when it dies, and on SIGTERM,
at EOF on stdin or on ``shutdown`` kills its whole process group. Requests: ``{"op": NAME, ...}``; replies:
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; see the ``op_*`` functions.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from typing import TYPE_CHECKING

# imported as lbi.envs.desktop.worker (the documentation test walks every module; mypy reads this branch)
if TYPE_CHECKING or __package__:
    from lbi.envs.desktop import tree
else:  # run as a script by Debian's python: its folder is first on the path
    import tree

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_worker() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Worker:
    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.app: subprocess.Popen | None = None
        self.app_log: str | None = None
        self.atspi = None
        self.width = self.height = 0
        self.remove_dir: str | None = None
        self.closing = False

    # -- the desktop ---------------------------------------------------------------------------------------
    def op_start(
        self, width: int, height: int, run_dir: str, wm_config: str | None = None, remove_dir: bool = False
    ) -> dict:
        """Xvfb on a free display (``-displayfd``), a session bus, openbox; then the AT-SPI client. With
        ``remove_dir`` the worker deletes ``run_dir`` when it ends (also when lbi was killed)."""
        self.width, self.height = width, height
        self.remove_dir = run_dir if remove_dir else None
        read, write = os.pipe()
        self.procs["xvfb"] = self._spawn(
            [
                "Xvfb",
                "-displayfd",
                str(write),
                "-screen",
                "0",
                f"{width}x{height}x24",
                "-nolisten",
                "tcp",
                "-ac",
                "-noreset",
            ],
            pass_fds=(write,),
        )
        os.close(write)
        number = _read_line(read, 20).strip()
        os.close(read)
        if not number:
            raise RuntimeError("Xvfb did not start (no display number)")
        os.environ["DISPLAY"] = f":{number}"
        bus = self._spawn(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:tmpdir={run_dir}"],
            stdout=subprocess.PIPE,
        )
        self.procs["dbus"] = bus
        assert bus.stdout is not None  # stdout=PIPE
        address = _read_line(bus.stdout.fileno(), 20).strip()
        if not address:
            raise RuntimeError("dbus-daemon did not print its address")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        os.environ.pop("NO_AT_BRIDGE", None)
        os.environ["XDG_RUNTIME_DIR"] = run_dir
        os.environ["GTK_A11Y"] = "atspi"
        wm = ["openbox", "--sm-disable"] + (["--config-file", wm_config] if wm_config else [])
        self.procs["wm"] = self._spawn(wm)
        import gi  # only now: the bindings read DISPLAY and the bus address when they start

        gi.require_version("Atspi", "2.0")
        gi.require_version("Gdk", "3.0")
        from gi.repository import Atspi, Gdk

        Atspi.init()
        Atspi.set_timeout(1500, 15000)  # a hung application costs 1.5 s per call, not D-Bus's 25 s
        self.atspi, self.gdk = Atspi, Gdk
        return {"display": os.environ["DISPLAY"], "pids": {k: p.pid for k, p in self.procs.items()}}

    def _spawn(
        self,
        argv: list[str],
        *,
        stdout: int = subprocess.DEVNULL,
        pass_fds: tuple = (),
        env: dict | None = None,
        log: str | None = None,
    ) -> subprocess.Popen:
        out = open(log, "ab") if log else None  # noqa: SIM115 - the child keeps it
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out or stdout,
                stderr=out or subprocess.DEVNULL,
                pass_fds=pass_fds,
                env=env,
                preexec_fn=_die_with_worker,
            )
        finally:
            if out:
                out.close()

    # -- the application -----------------------------------------------------------------------------------
    def op_launch(self, argv: list[str], env: dict, match: str, wait_s: float, log: str) -> dict:
        """Start the application and wait until a window whose title contains ``match`` shows."""
        self.op_kill_app()
        started = time.monotonic()
        self.app = self._spawn(argv, env={**os.environ, **env}, log=log)
        self.app_log = log
        deadline = started + wait_s
        while time.monotonic() < deadline:
            code = self.app.poll()
            if code is not None:
                raise RuntimeError(f"{os.path.basename(argv[0])} exited with {code} while starting; see {log}")
            frame = tree.find_window(self.atspi, self.app.pid, match)
            if frame is not None:
                return {"pid": self.app.pid, "seconds": round(time.monotonic() - started, 3), "title": frame.get_name()}
            time.sleep(0.05)
        raise RuntimeError(f"no window titled *{match}* within {wait_s:g}s")

    def op_kill_app(self) -> dict:
        started = time.monotonic()
        if self.app is not None and self.app.poll() is None:
            self.app.kill()
            self.app.wait(5)
        code = None if self.app is None else self.app.returncode
        self.app = None
        return {"code": code, "seconds": round(time.monotonic() - started, 3)}

    def op_status(self) -> dict:
        """Whether the application runs (its exit code when not)."""
        if self.app is None:
            return {"running": False, "code": None}
        code = self.app.poll()
        return {"running": code is None, "code": code, "pid": self.app.pid}

    # -- seeing --------------------------------------------------------------------------------------------
    def op_observe(
        self, screenshot: str | None = None, max_nodes: int = 3000, max_cells: int = 600, cells: bool = True
    ) -> dict:
        """The application's showing tree (nodes with paths, roles, names, states, boxes) and a screenshot."""
        if self.app is None or self.app.poll() is not None:
            return {"nodes": [], "crashed": True, "code": None if self.app is None else self.app.returncode}
        snap = tree.snapshot(self.atspi, self.app.pid, max_nodes=max_nodes, max_cells=max_cells, cells=cells)
        if screenshot:
            snap["screenshot"] = self.op_screenshot(screenshot)["path"]
        return snap

    def op_screenshot(self, path: str) -> dict:
        root = self.gdk.get_default_root_window()
        pixbuf = self.gdk.pixbuf_get_from_window(root, 0, 0, self.width, self.height)
        if pixbuf is None:
            raise RuntimeError("could not read the screen")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        pixbuf.savev(path, "png", ["compression"], ["3"])
        return {"path": path}

    # -- acting --------------------------------------------------------------------------------------------
    def op_xdotool(self, args: list[str], timeout_s: float = 10.0) -> dict:
        """Run xdotool (pointer and keyboard through XTEST); its complaints come back as ``warning``."""
        res = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=timeout_s, check=False)
        warning = "; ".join(line for line in res.stderr.splitlines() if line.strip())
        return {"code": res.returncode, "warning": warning}

    def op_keysym_ok(self, names: list[str]) -> dict:
        """The names among ``names`` that X does not know as key names."""
        return {"unknown": [n for n in names if self.gdk.keyval_from_name(n) in (0, 0xFFFFFF)]}

    def op_ping(self) -> dict:
        return {"pid": os.getpid()}

    def shutdown(self) -> None:
        """Stop the application and everything else, then delete the run folder (once; see ``on_term``)."""
        self.closing = True
        try:
            self.op_kill_app()
        finally:
            kill_group()
            if self.remove_dir:
                import shutil

                shutil.rmtree(self.remove_dir, ignore_errors=True)


def kill_group() -> None:
    """Everything this worker started, all in its process group (it leads it): TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = group_pids()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 1.0
        while pids and time.monotonic() < deadline:
            _reap()
            pids = group_pids()
            time.sleep(0.02)


def group_pids() -> list[int]:
    """Live processes of this worker's process group, but the worker."""
    me, group, out = os.getpid(), os.getpgid(0), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            out.append(int(entry))
    return out


def _read_line(fd: int, timeout_s: float) -> str:
    import select

    data = b""
    deadline = time.monotonic() + timeout_s
    while not data.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def main() -> None:
    if os.getpid() != os.getpgid(0):
        os.setpgid(0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    worker = Worker()

    def on_term(signum: int, frame: object) -> None:
        # lbi died while the worker was already shutting down (stdin closed first): a second shutdown from the
        # handler would wait on the application the first one is polling, time out, and leave the run folder
        if worker.closing:
            return
        worker.shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the reply channel
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            op = request.pop("op")
            if op == "shutdown":
                break
            try:
                reply = {"ok": True, **getattr(worker, f"op_{op}")(**request)}
            except Exception as err:  # noqa: BLE001 - every failure goes back to the client as a reply
                reply = {"ok": False, "error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc(limit=3)}
            out.write(json.dumps(reply) + "\n")
            out.flush()
            _reap(keep={p.pid for p in [*worker.procs.values(), worker.app] if p is not None})
    finally:
        worker.shutdown()


def _reap(keep: set[int] | None = None) -> None:
    """Collect dead orphans that re-parented to us (we are their subreaper); ``keep``: our own children, which
    their ``Popen`` objects collect."""
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for pid in children:
            if keep and pid in keep:
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


if __name__ == "__main__":
    main()
