"""The environment dies mid-episode during a real rollout on the Trac demo (`lbi.synth.rollout`).

Episode 1: its Chromium is killed (SIGKILL) after the first action; episode 2: its `tracd` is killed.
Each must be recorded as a failed trajectory with the error, the run must go on, and episode 3 (on a
fresh environment) must work. The model is the fake one: its `act` responder does the killing, so the
kill lands exactly between two steps of a live episode.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.synth.rollout import rollout

pytestmark = [pytest.mark.browser, pytest.mark.trac]


def _descendants(root: int) -> dict[int, list[str]]:
    """pid -> argv of every process below `root` (read from /proc)."""
    parents: dict[int, int] = {}
    argv: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: dict[int, list[str]] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in out:
                out[child] = argv.get(child, [])
                frontier.append(child)
    return out


class Killer:
    """The `act` responder: a harmless action each step; kills the named process on an episode's 2nd step."""

    def __init__(self, plan: dict[str, str], ignore: set[int]) -> None:
        self.plan = plan  # instruction -> "browser" | "tracd"
        self.ignore = ignore  # processes of other tests' sessions
        self.calls: dict[str, int] = {}
        self.killed: list[tuple[str, int]] = []

    def _victim(self, what: str) -> int:
        for pid, argv in _descendants(os.getpid()).items():
            if pid in self.ignore or not argv or not argv[0]:
                continue
            is_browser = "chromium" in Path(argv[0]).name and not any(a.startswith("--type=") for a in argv)
            is_tracd = any(Path(a).name == "tracd" for a in argv[:2])
            if (what == "browser" and is_browser) or (what == "tracd" and is_tracd):
                return pid
        raise AssertionError(f"no {what} process of this rollout found")

    def __call__(self, messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        task = next(line[6:] for line in messages[-1]["content"].splitlines() if line.startswith("Task: "))
        self.calls[task] = self.calls.get(task, 0) + 1
        if self.calls[task] == 2 and task in self.plan:
            pid = self._victim(self.plan[task])
            os.kill(pid, signal.SIGKILL)
            self.killed.append((self.plan[task], pid))
        return json.dumps(
            {"reasoning": "look around", "action": "goto('/report')" if self.calls[task] % 2 else "goto('/roadmap')"}
        )


def test_browser_and_trac_killed_mid_episode_fail_that_episode_only(project: Project, demo_dir: Path) -> None:
    project.config.env.name = "trac"
    project.config.env.options = {"demo_dir": str(demo_dir)}
    tasks = {
        "t1": "Open the roadmap (browser dies)",
        "t2": "Open the reports (Trac dies)",
        "t3": "Open the roadmap and the reports",
    }
    project.store.add_tasks([{"id": k, "instruction": v, "env": "trac"} for k, v in tasks.items()])
    killer = Killer({tasks["t1"]: "browser", tasks["t2"]: "tracd"}, ignore=set(_descendants(os.getpid())))
    FakeModel.register_responder("act", killer)

    report = rollout(project, "crashes", policy="llm", concurrency=1, max_steps=4)

    assert [k for k, _ in killer.killed] == ["browser", "tracd"]
    assert (report.done, report.failed) == (1, 2)
    rows = {
        r["task_id"]: dict(r)
        for r in project.store.query(
            "SELECT id, task_id, status, error, (SELECT COUNT(*) FROM steps s WHERE s.trajectory_id = t.id) AS n "
            "FROM trajectories t"
        )
    }
    assert rows["t1"]["status"] == "failed" and "browser crashed" in rows["t1"]["error"]
    assert rows["t2"]["status"] == "failed" and "Trac server" in rows["t2"]["error"]
    assert rows["t1"]["n"] == rows["t2"]["n"] == 2  # the step that met the dead process is recorded too
    crash_steps = project.store.query(
        "SELECT s.error FROM steps s JOIN trajectories t ON t.id = s.trajectory_id WHERE t.task_id IN ('t1', 't2') "
        "AND s.idx = 1"
    )
    assert all(s["error"] for s in crash_steps)
    # the episode after the crashes ran on a fresh environment and worked
    assert rows["t3"]["status"] == "done" and rows["t3"]["error"] is None and rows["t3"]["n"] == 4
    ok = project.store.query("SELECT url, error FROM steps WHERE trajectory_id = ? ORDER BY idx", (rows["t3"]["id"],))
    assert all(s["error"] is None for s in ok) and any("/roadmap" in (s["url"] or "") for s in ok)
    run = project.store.query("SELECT status, progress_done, progress_total FROM runs WHERE name = 'crashes'")[0]
    assert tuple(run) == ("done", 3, 3)
    # nothing of the rollout is left running
    assert not [
        p
        for p, argv in _descendants(os.getpid()).items()
        if p not in killer.ignore and any(Path(a).name == "tracd" for a in argv[:2])
    ]
