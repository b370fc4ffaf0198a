"""A node that leaves the cluster mid-run (every process of it killed, as when a machine goes away): the
episodes its actors were playing run again on the nodes left, and the run completes with nothing lost or
duplicated."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from tests.cluster.conftest import Cluster, add_node
from tests.cluster.helpers import actions, in_background, sql_project

LEAVING_IP = "127.0.0.4"


def _actors_on(node: psutil.Process) -> list[psutil.Process]:
    return [p for p in node.children(recursive=True) if " ".join(p.cmdline()).startswith("ray::EpisodeWorker")]


def test_a_node_that_leaves_has_its_episodes_run_again_elsewhere(ray_cluster: Cluster, tmp_path: Path) -> None:
    from lbi.synth.rollout import rollout

    leaving = add_node(ray_cluster, LEAVING_IP, 2, tmp_path / "node.log")
    node = psutil.Process(leaving.pid)
    # 5 actors fill the 5 CPUs of the three nodes, so two of them play on the node that leaves
    project = sql_project(tmp_path, ray_cluster.address, model="fake/latency-0.5", workers=5, tasks=24)
    thread, result = in_background(lambda: rollout(project, "leave", policy="llm"))
    killed: list[int] = []
    deadline = time.monotonic() + 300
    while not killed and time.monotonic() < deadline and thread.is_alive():
        playing = project.store.query(
            "SELECT COUNT(DISTINCT t.id) FROM trajectories t JOIN steps s ON "
            "s.trajectory_id = t.id WHERE t.status = 'running'"
        )[0][0]
        if playing >= 4 and _actors_on(node):  # the other nodes hold 3 actors: one plays on the leaving node
            everything = [node, *node.children(recursive=True)]
            for proc in everything:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed = [p.pid for p in everything]
        time.sleep(0.05)
    thread.join(timeout=400)
    assert killed, "the node was not caught with episodes on it"
    assert not thread.is_alive(), "the run did not end after the node left"
    assert "error" not in result, result
    report = result["report"]
    assert (report.done, report.failed, report.steps) == (24, 0, 96), report
    assert report.ray.retried >= 1, "no episode was caught on the node that left"
    for steps in actions(project).values():
        assert [s[0] for s in steps] == [0, 1, 2, 3]  # each run again from its start: no step twice, none missing
    assert not project.store.query("SELECT key FROM trajectories GROUP BY key HAVING COUNT(*) > 1")
