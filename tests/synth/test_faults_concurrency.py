"""The workbench reads (and now and then writes an override) while two runs write the same store.

Two real `lbi rollout` processes (one with two worker processes of its own) write trajectories and
steps; meanwhile this process does what a page rerun does, over and over: open the project, read the
funnel, usage, runs, decisions and a trajectory's steps, and record a human override. Nothing may fail
with "database is locked" (or anything else), and both runs must finish complete.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from lbi.config import save_config
from lbi.project import Project, open_project
from lbi.store import committee, read
from tests.conftest import ROOT


def _start(project_dir: Path, run: str, concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    args = [
        "rollout",
        "--run",
        run,
        "--policy",
        "explore",
        "--episodes",
        "8",
        "--max-steps",
        "5",
        "--concurrency",
        str(concurrency),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lbi.cli", *args, "--project", str(project_dir)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def test_reading_and_overriding_while_two_runs_write(project: Project, tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [(f"item{i}", i * 1.5) for i in range(30)])
    project.config.env.name, project.config.env.options = "sql", {"db": str(db)}
    save_config(project.dir, project.config)
    # something for the reader's overrides to point at
    tid, _ = project.store.begin_trajectory("seed", policy="explore", env="sql")
    project.store.add_step(tid, 0, observation="seed", action="execute_sql('SELECT 1')")
    project.store.finish_trajectory(tid, status="done")
    example = project.store.add_examples(
        [{"trajectory_id": tid, "span_start": 0, "span_end": 0, "instruction": "Run a query", "mode": "batched"}]
    )[0]

    errors: list[BaseException] = []
    reads = 0
    stop = threading.Event()

    def page_reruns() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                page = open_project(project.dir)  # a rerun opens the project afresh
                read.funnel(page.store)
                read.usage_by_role(page.store)
                read.recent_runs(page.store)
                committee.decisions(page.store, "majority", 3)
                latest = page.store.query("SELECT id FROM trajectories ORDER BY id DESC LIMIT 1")[0][0]
                page.store.query("SELECT idx, observation, action FROM steps WHERE trajectory_id = ?", (latest,))
                if reads % 10 == 0:
                    page.store.add_override(example, "keep" if reads % 20 else "drop", who="reader", note="busy")
                page.store.close()
                reads += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is what this test is looking for
                errors.append(exc)
                return

    readers = [threading.Thread(target=page_reruns) for _ in range(2)]
    procs = [_start(project.dir, "a", 2, tmp_path / "a.log"), _start(project.dir, "b", 1, tmp_path / "b.log")]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 240
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline and not errors:
        time.sleep(0.1)
    stop.set()
    for reader in readers:
        reader.join(timeout=60)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)

    assert not errors, repr(errors[0])
    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in ("a", "b")}
    for name, proc in zip(logs, procs, strict=True):
        assert proc.returncode == 0, logs[name][-2000:]
        assert "locked" not in logs[name].lower()
    assert reads > 20
    store = project.store
    counts = {
        r[0]: r[1]
        for r in store.query(
            "SELECT r.name, COUNT(t.id) FROM runs r JOIN trajectories t ON t.run_id = r.id AND t.status = 'done' "
            "GROUP BY r.name"
        )
    }
    assert counts == {"a": 8, "b": 8}
    assert store.query("SELECT COUNT(*) FROM steps")[0][0] == 1 + 16 * 5
    assert store.query("SELECT COUNT(*) FROM overrides")[0][0] > 2
