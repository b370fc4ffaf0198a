"""`kill -9` of a real `lbi synthesize` process at random points, then resume with the same command.

The run (fake model, SQLite env) is killed whenever the store's progress (model calls logged + steps
recorded) passes a randomly drawn point, at least five times, then re-run until it finishes. After every
kill, the trajectories finished so far are remembered; at the end each must still be there, finished,
with the very same steps, and no record may be duplicated.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lbi.config import Config
from lbi.project import Project, init_project
from lbi.store.db import Store
from lbi.synth.backward import eligible_spans
from tests.conftest import ROOT

MIN_KILLS = 5
ARGS = [
    "synthesize",
    "--chunks",
    "3",
    "--per-chunk",
    "2",
    "--tasks",
    "3",
    "--explore",
    "2",
    "--max-steps",
    "4",
    "--mode",
    "per-span",
    "--max-span",
    "3",
    "--name",
    "synth",
]


def _project(tmp_path: Path) -> Project:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0)])
    config = Config(project="kill")
    config.models.default = "fake"
    config.env.name = "sql"
    config.env.options = {"db": str(db)}
    return init_project(tmp_path / "proj", config)


def _progress(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(
                conn.execute("SELECT (SELECT COUNT(*) FROM llm_calls) + (SELECT COUNT(*) FROM steps)").fetchone()[0]
            )
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _finished(store: Store) -> dict[str, tuple[int, list[tuple[Any, ...]]]]:
    """Finished trajectories by key: (id, their steps)."""
    out = {}
    for t in store.query("SELECT id, key FROM trajectories WHERE status != 'running'"):
        steps = [
            tuple(r)
            for r in store.query(
                "SELECT idx, action, observation, error FROM steps WHERE trajectory_id = ? ORDER BY idx", (t["id"],)
            )
        ]
        out[t["key"]] = (t["id"], steps)
    return out


def _stage(store: Store) -> str:
    """The stage the killed run was in (its newest run row still marked running)."""
    rows = store.query("SELECT name FROM runs WHERE status = 'running' ORDER BY id DESC LIMIT 1")
    return rows[0][0] if rows else "before the first stage"


def _start(project_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COLUMNS": "120"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lbi.cli", *ARGS, "--project", str(project_dir)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def test_kill_9_at_random_points_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path)
    db = project.store.path
    log = tmp_path / "synth.log"
    rng = random.Random(int(os.environ.get("LBI_KILL_SEED", "20250")))
    # one point in each fifth of the run's first ~100 units of progress (it makes 107: explore, backward and the
    # committee on its examples, then generate and the llm rollouts), so the kills fall in different stages
    points = [rng.randrange(lo, lo + 19) for lo in range(4, 4 + 19 * MIN_KILLS, 19)]
    kills: list[int] = []
    stages: list[str] = []
    seen_finished: dict[str, tuple[int, list[tuple[Any, ...]]]] = {}
    for point in [*points, None]:
        target = None if point is None else max(point, _progress(db) + 2)
        proc = _start(project.dir, log)
        while proc.poll() is None and (target is None or _progress(db) < target):
            time.sleep(0.01)
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills.append(_progress(db))
        stages.append(_stage(project.store))
        for key, value in _finished(project.store).items():
            seen_finished.setdefault(key, value)
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert len(kills) == MIN_KILLS, f"the run ended before the kill points {points}: killed at {kills}"
    print(f"killed at progress {kills} in stages {stages}")
    assert len(set(stages)) >= 2, stages  # the points fall in different stages, not all in one
    store = project.store

    # no finished trajectory was lost or redone
    final = _finished(store)
    for key, (tid, steps) in seen_finished.items():
        assert final[key] == (tid, steps), f"trajectory {key} changed after a resume"
    # everything finished
    assert {r[0] for r in store.query("SELECT status FROM runs")} == {"done"}
    assert not store.query("SELECT key FROM trajectories WHERE status = 'running'")
    keys = [r[0] for r in store.query("SELECT key FROM trajectories")]
    assert sorted(k for k in keys if k.startswith("synth-explore/")) == [
        "synth-explore/explore-0",
        "synth-explore/explore-1",
    ]
    assert len([k for k in keys if k.startswith("synth-llm/")]) == 3
    # no duplicate records: steps contiguous per trajectory, one example per eligible span, one verdict per judge
    for tid in (r[0] for r in store.query("SELECT id FROM trajectories")):
        rows = [
            dict(r) for r in store.query("SELECT idx, error FROM steps WHERE trajectory_id = ? ORDER BY idx", (tid,))
        ]
        assert [s["idx"] for s in rows] == list(range(len(rows))) and len(rows) == 4
        spans = sorted(
            tuple(r) for r in store.query("SELECT span_start, span_end FROM examples WHERE trajectory_id = ?", (tid,))
        )
        assert spans == sorted(eligible_spans(rows, 3))
    judges = len(project.config.models.judges)
    assert not store.query("SELECT example_id FROM verdicts GROUP BY example_id HAVING COUNT(*) != ?", (judges,))
    assert (
        store.query("SELECT COUNT(*) FROM examples")[0][0]
        == store.query("SELECT COUNT(DISTINCT example_id) FROM verdicts")[0][0]
        > 0
    )
    assert not store.query("SELECT name FROM runs GROUP BY name HAVING COUNT(*) > 1")
    assert not store.query("SELECT instruction FROM tasks GROUP BY instruction HAVING COUNT(*) > 1")
    assert not store.query("SELECT source FROM documents GROUP BY source HAVING COUNT(*) > 1")
