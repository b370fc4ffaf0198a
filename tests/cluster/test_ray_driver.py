"""The driver of a Ray run: killed with -9 and re-run, nothing is lost or duplicated (the kill-9 resume test of
tests/synth on the Ray executor); and the workbench shows a Ray run like any other, live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lbi import jobs
from lbi.project import Project
from tests.cluster.conftest import Cluster
from tests.cluster.helpers import actions, episode_actors, sql_project
from tests.conftest import ROOT

ARGS = ["rollout", "--run", "k9", "--policy", "llm"]


def _finished(project: Project) -> dict[str, tuple[int, list]]:
    steps = actions(project)
    return {
        r["key"]: (r["id"], steps[r["key"]])
        for r in project.store.query("SELECT id, key FROM trajectories WHERE status != 'running'")
    }


def _mid_way(project: Project) -> bool:
    return bool(
        project.store.query(
            "SELECT 1 FROM trajectories t JOIN steps s ON s.trajectory_id = t.id WHERE t.status = 'running'"
        )
    )


def _start(project: Project, address: str, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lbi.cli", *ARGS, "--ray", address, "--project", str(project.dir)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "120"},
            start_new_session=True,
        )


def test_driver_killed_with_9_then_rerun_loses_and_duplicates_nothing(ray_cluster: Cluster, tmp_path: Path) -> None:
    # 4 episodes of 4 model calls of 0.3 s on 2 actors: killed once the first finished and another is mid-way
    project = sql_project(tmp_path, ray_cluster.address, model="fake/latency-0.3", workers=2, tasks=4)
    log = tmp_path / "driver.log"
    proc = _start(project, ray_cluster.address, log)
    deadline = time.monotonic() + 300
    while not (_finished(project) and _mid_way(project)):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    seen = _finished(project)
    assert len(seen) < 4, "the run ended before the kill"
    deadline = time.monotonic() + 120
    while episode_actors(ray_cluster):  # the dead driver's actors go with it
        assert time.monotonic() < deadline, "the killed driver's episode actors outlived it"
        time.sleep(0.5)
    proc = _start(project, ray_cluster.address, log)
    assert proc.wait(timeout=400) == 0, log.read_text(errors="replace")[-3000:]
    final = _finished(project)
    assert sorted(final) == [f"k9/t{k}" for k in range(4)]
    for key, value in seen.items():
        assert final[key] == value, f"{key} changed after a resume"
    for _, steps in final.values():
        assert [s[0] for s in steps] == [0, 1, 2, 3]  # the one killed mid-way started again clean
    assert not project.store.query("SELECT key FROM trajectories GROUP BY key HAVING COUNT(*) > 1")
    assert project.store.query("SELECT status FROM runs WHERE name = 'k9'")[0][0] == "done"


def test_the_rollouts_page_shows_a_ray_run_live(ray_cluster: Cluster, tmp_path: Path) -> None:
    # one actor, 3 episodes of 4 one-second model calls: the run lasts long enough to be seen running
    project = sql_project(tmp_path, ray_cluster.address, model="fake/latency-1", workers=1, tasks=3)
    job = jobs.start(project.dir, ["rollout", "--run", "live", "--policy", "llm"], "live")
    try:
        deadline = time.monotonic() + 300
        while not project.store.query(
            "SELECT 1 FROM trajectories t JOIN steps s ON s.trajectory_id = t.id WHERE t.status = 'running'"
        ):
            assert job.alive() and time.monotonic() < deadline, jobs.tail(job.log)
            time.sleep(0.05)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["project_dir"] = str(project.dir)
        at.run()
        at.switch_page("pages/rollouts.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Running now" in [s.value for s in at.subheader]
        assert "running" in at.dataframe[-1].value.to_string()  # a trajectory growing on a Ray worker
        while job.alive():
            assert time.monotonic() < deadline, jobs.tail(job.log)
            time.sleep(0.5)
        assert job.exit_code() == 0, jobs.tail(job.log)
        at.run()
        assert "Running now" not in [s.value for s in at.subheader]
        table = at.dataframe[-1].value.to_string()
        assert table.count("done") == 3 and "running" not in table
        assert project.store.query("SELECT config_json FROM runs WHERE name = 'live'")[0][0].count('"ray"')
    finally:
        jobs.stop(job.pid)
