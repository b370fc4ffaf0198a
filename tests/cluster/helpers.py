"""What the Ray tests share: a SQL project on the fake model pointed at the test cluster, and the cluster's
episode actors found by their parent raylet (to kill one)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lbi.config import Config
from lbi.project import Project, init_project
from tests.cluster.conftest import Cluster


def sql_project(directory: Path, address: str, *, model: str = "fake", workers: int = 3, tasks: int = 0) -> Project:
    """A SQL project; with `tasks`, that many synthetic tasks for the llm policy, whose every step is a model call
    (so `fake/latency-S` makes an episode last 4 × S seconds; explore walks on SQL call no model)."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0)])
    config = Config(project="ray")
    config.models.default = model
    config.env.name, config.env.options = "sql", {"db": str(db)}
    config.synth.max_steps = 4
    if address:
        config.synth.executor = "ray"
        config.ray.address, config.ray.workers = address, workers
        config.ray.default_model_concurrency = 2  # each call in flight needs a worker process: few to start
    project = init_project(directory / "proj", config)
    project.store.add_tasks(
        [
            {
                "id": f"t{k}",
                "instruction": f"How many items cost more than {k}?",
                "env": "sql",
                "split": "synthetic",
                "spec_json": {},
            }
            for k in range(tasks)
        ]
    )
    return project


def in_background(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """`work()` on a thread of its own, started; what it returns lands in `outcome["report"]`, what it raises in
    `outcome["error"]` (so the test's thread can kill things meanwhile, then check)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def episode_actors(cluster: Cluster) -> list[int]:
    """Pids of the episode actors' processes on the test cluster (descendants of its raylets)."""
    import psutil

    def line(proc: psutil.Process) -> str:
        return " ".join(proc.info["cmdline"] or [])

    mine = str(cluster.temp_dir)
    raylets = {p.pid for p in psutil.process_iter(["cmdline"]) if "raylet" in line(p) and mine in line(p)}
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if line(proc).startswith("ray::EpisodeWorker"):
            try:
                if {a.pid for a in proc.parents()} & raylets:
                    found.append(proc.pid)
            except psutil.NoSuchProcess:
                pass
    return found


def actions(project: Project) -> dict[str, list[tuple]]:
    """Every trajectory's steps by key: (idx, action, observation, error)."""
    out = {}
    for t in project.store.query("SELECT id, key, status FROM trajectories"):
        out[t["key"]] = [
            tuple(r)
            for r in project.store.query(
                "SELECT idx, action, observation, error FROM steps WHERE trajectory_id = ? ORDER BY idx", (t["id"],)
            )
        ]
    return out
