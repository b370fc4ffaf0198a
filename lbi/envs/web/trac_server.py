"""The Trac demo server: a real Trac 1.6 (issue tracker + wiki) on 127.0.0.1.

Trac lives in its own virtual environment (``.venv-trac`` next to ``lbi/``, or
``$LBI_TRAC_VENV``): streamlit's ``python-multipart`` shadows the ``multipart`` module
Trac needs, so the two must never share one. lbi drives it through ``trac-admin`` and
``tracd`` subprocesses.

* :func:`ensure_pristine` builds a seeded environment once (``trac-admin initenv`` plus
  ``data/demo/trac/seed_trac.py``) under ``<demo_dir>/trac-pristine`` and rebuilds it
  only when the seed script or Trac's version changes.
* :class:`TracDemo` copies it to ``<demo_dir>/trac-live-<port>``, runs ``tracd`` and
  resets between episodes by restoring the pristine database with SQLite's backup API
  (milliseconds), bumping Trac's cache generations so the running server reloads.
* ``anonymous`` has TICKET_ADMIN, MILESTONE_ADMIN, WIKI_ADMIN and REPORT_ADMIN (no
  TRAC_ADMIN), so an agent can create and edit everything without logging in.

The ``trac`` environment that acts on it is :mod:`lbi.envs.web.trac_env`. This module needs no browser.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lbi.envs.base import EnvCrashed
from lbi.paths import demo_data_dir, repo_root
from lbi.procs import die_with_parent

PROJECT_NAME = "LBI Demo"
STATE_FILE = "trac-live.json"


def default_demo_dir() -> Path:
    """Where pristine/live Trac environments go: ``$LBI_DEMO_DIR`` or ``<root>/demo``."""
    return Path(os.environ.get("LBI_DEMO_DIR") or repo_root() / "demo")


def trac_venv() -> Path:
    return Path(os.environ.get("LBI_TRAC_VENV") or repo_root() / ".venv-trac")


def trac_bin(name: str) -> Path:
    path = trac_venv() / "bin" / name
    if not path.exists():
        raise EnvCrashed(
            f"{path} not found: install Trac into its own venv "
            f"(python -m venv .venv-trac && .venv-trac/bin/pip install trac) "
            "or set LBI_TRAC_VENV"
        )
    return path


def trac_user_guide_dir() -> Path:
    """Trac's user guide as shipped in the wheel: ``trac/wiki/default-pages/``."""
    for path in sorted(trac_venv().glob("lib/python*/site-packages/trac/wiki/default-pages")):
        if path.is_dir():
            return path
    raise EnvCrashed(f"trac/wiki/default-pages not found under {trac_venv()}")


def _seed_stamp() -> str:
    seed = (demo_data_dir() / "trac" / "seed_trac.py").read_bytes()
    version = ",".join(p.name for p in trac_venv().glob("lib/python*/site-packages/Trac-*"))
    return hashlib.sha256(seed + version.encode()).hexdigest()[:16]


def ensure_pristine(demo_dir: str | Path | None = None, *, rebuild: bool = False) -> Path:
    """The seeded pristine Trac environment directory, built if missing or stale."""
    root = Path(demo_dir) if demo_dir else default_demo_dir()
    target = root / "trac-pristine"
    stamp = _seed_stamp()
    stamp_file = target / "lbi-seed.stamp"
    if not rebuild and stamp_file.exists() and stamp_file.read_text() == stamp:
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".trac-build-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _run([str(trac_bin("trac-admin")), str(tmp), "initenv", PROJECT_NAME, "sqlite:db/trac.db"])
    _run([str(trac_bin("python")), str(demo_data_dir() / "trac" / "seed_trac.py"), str(tmp)])
    (tmp / "lbi-seed.stamp").write_text(stamp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        raise EnvCrashed(f"{' '.join(argv[:3])} failed: {res.stderr.strip()[-2000:]}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TracDemo:
    """A running Trac demo; start/reset/stop. ``with TracDemo() as demo: ...``"""

    def __init__(self, demo_dir: str | Path | None = None, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.demo_dir = Path(demo_dir) if demo_dir else default_demo_dir()
        self.host = host
        self.port = port or 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.pristine: Path | None = None
        self.env_dir: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        assert self.env_dir is not None, "demo not started"
        return self.env_dir / "db" / "trac.db"

    def start(self, *, detach: bool = False, timeout_s: float = 30.0) -> TracDemo:
        """Copy the pristine env and run tracd; ``detach`` keeps it running after we exit
        (state in ``<demo_dir>/trac-live.json``, for ``lbi env demo stop``)."""
        self.pristine = ensure_pristine(self.demo_dir)
        self.port = self.port or free_port(self.host)
        self.env_dir = self.demo_dir / f"trac-live-{self.port}"
        shutil.rmtree(self.env_dir, ignore_errors=True)
        shutil.copytree(self.pristine, self.env_dir)
        log = open(self.env_dir / "log" / "tracd.log", "ab")  # noqa: SIM115 - child keeps it
        self.proc = subprocess.Popen(
            [str(trac_bin("tracd")), "-s", f"--hostname={self.host}", f"--port={self.port}", str(self.env_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=None if detach else die_with_parent,
        )
        log.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvCrashed(f"tracd exited with {self.proc.returncode}; see {self.env_dir / 'log' / 'tracd.log'}")
            if self.healthy():
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise EnvCrashed(f"tracd did not answer on {self.base_url} within {timeout_s}s")
        if not detach:  # do not outlive this interpreter, even after an exception
            atexit.register(self.stop)
        else:
            (self.demo_dir / STATE_FILE).write_text(
                json.dumps(
                    {
                        "pid": self.pid,
                        "port": self.port,
                        "host": self.host,
                        "env_dir": str(self.env_dir),
                        "base_url": self.base_url,
                    }
                )
            )
        return self

    @classmethod
    def attach(cls, demo_dir: str | Path | None = None) -> TracDemo | None:
        """The detached demo recorded in ``<demo_dir>/trac-live.json``, if running."""
        root = Path(demo_dir) if demo_dir else default_demo_dir()
        state_file = root / STATE_FILE
        if not state_file.exists():
            return None
        state = json.loads(state_file.read_text())
        demo = cls(root, port=state["port"], host=state["host"])
        demo.pid, demo.env_dir = state["pid"], Path(state["env_dir"])
        demo.pristine = root / "trac-pristine"
        return demo if demo.alive() else None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def reset(self) -> float:
        """Restore the pristine state (database, attachments, trac.ini); returns seconds."""
        start = time.perf_counter()
        assert self.env_dir is not None and self.pristine is not None, "demo not started"
        copy_into(self.pristine / "db" / "trac.db", self.db_path)
        with sqlite3.connect(self.db_path) as conn:  # make every tracd cache reload
            conn.execute("UPDATE cache SET generation = ?", (time.time_ns() // 1000 % 2**31,))
        conn.close()
        files = self.env_dir / "files"
        if files.exists() and any(p.is_file() for p in files.rglob("*")):
            shutil.rmtree(files)
            if (self.pristine / "files").exists():
                shutil.copytree(self.pristine / "files", files)
        ini, pristine_ini = self.env_dir / "conf" / "trac.ini", self.pristine / "conf" / "trac.ini"
        if ini.read_bytes() != pristine_ini.read_bytes():
            shutil.copy2(pristine_ini, ini)
        return time.perf_counter() - start

    def stop(self) -> None:
        """Stop tracd (idempotent)."""
        if self.pid is not None and self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while self.alive() and time.monotonic() < deadline:
                if self.proc is not None:
                    self.proc.poll()
                time.sleep(0.05)
            if self.alive():
                os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=5)
        state_file = self.demo_dir / STATE_FILE
        if state_file.exists() and json.loads(state_file.read_text()).get("pid") == self.pid:
            state_file.unlink()
        self.proc = None
        self.pid = None

    def status(self) -> dict[str, Any]:
        return {
            "running": self.alive(),
            "base_url": self.base_url,
            "pid": self.pid,
            "env_dir": str(self.env_dir),
            "db": str(self.db_path) if self.env_dir else None,
        }

    def __enter__(self) -> TracDemo:
        return self.start() if self.proc is None and self.pid is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def copy_into(src: Path, dst: Path) -> None:
    """Overwrite the live database ``dst`` with ``src`` through SQLite (safe while tracd
    holds connections to it)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst, timeout=10)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
