"""The Ray executor on a two-node cluster (loopback): the same data as the local executor, the driver the only
writer, the env's files shipped to the workers, and a worker killed mid-episode."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from lbi.cli.common import ray_flag_value
from lbi.cluster.session import IN_PROCESS, ClusterError, use_ray
from lbi.config import Config
from lbi.synth.backward import construct
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout
from tests.cluster.conftest import Cluster
from tests.cluster.helpers import actions, episode_actors, in_background, sql_project


def test_ray_flag_takes_an_address_or_none(ray_cluster: Cluster) -> None:
    assert ray_flag_value(["rollout", "--ray"]) == ["rollout", "--ray", IN_PROCESS]
    assert ray_flag_value(["rollout", "--ray", "--run", "x"]) == ["rollout", "--ray", IN_PROCESS, "--run", "x"]
    assert ray_flag_value(["rollout", "--ray", "auto"]) == ["rollout", "--ray", "auto"]
    config = Config()
    use_ray(config, None)
    assert config.synth.executor == "local"
    use_ray(config, IN_PROCESS)
    assert (config.synth.executor, config.ray.address) == ("ray", "")
    use_ray(config, ray_cluster.address)
    assert config.ray.address == ray_cluster.address
    # an address where nothing listens is refused at once (Ray itself retries it for minutes)
    started = time.monotonic()
    with pytest.raises(ClusterError, match="no Ray cluster answers at 127.0.0.9:1"):
        use_ray(config, "127.0.0.9:1")
    assert time.monotonic() - started < 10
    with pytest.raises(ClusterError, match="give HOST:PORT"):
        use_ray(config, "headnode")


def test_rollout_backward_and_committee_on_two_nodes_match_the_local_executor(
    ray_cluster: Cluster, tmp_path: Path
) -> None:
    local = sql_project(tmp_path / "local", "")
    remote = sql_project(tmp_path / "ray", ray_cluster.address, workers=3)
    for project, concurrency in ((local, 1), (remote, None)):  # the local one inline: no process to start
        report = rollout(project, "walk", policy="explore", episodes=3, concurrency=concurrency)
        assert (report.done, report.failed, report.steps) == (3, 0, 12)
        backward = construct(project, mode="batched", max_span=2)
        judged = judge_examples(project)
        assert backward.examples > 0 and judged.verdicts == judged.examples * 3 + judged.examples  # + grounding
    assert report.ray.episodes == 3, report.ray  # which nodes played them is timing (a fast actor takes more)
    assert actions(remote) == actions(local)
    for query in (
        "SELECT t.key, e.span_start, e.span_end, e.instruction FROM examples e JOIN trajectories t "
        "ON t.id = e.trajectory_id ORDER BY 1, 2, 3",
        "SELECT t.key, e.span_start, e.span_end, v.judge, v.verdict FROM verdicts v JOIN examples e "
        "ON e.id = v.example_id JOIN trajectories t ON t.id = e.trajectory_id ORDER BY 1, 2, 3, 4",
        "SELECT role, purpose, COUNT(*) FROM llm_calls GROUP BY 1, 2 ORDER BY 1, 2",
    ):
        assert [tuple(r) for r in remote.store.query(query)] == [tuple(r) for r in local.store.query(query)], query
    # resuming a finished run on Ray does nothing
    again = rollout(remote, "walk", policy="explore", episodes=3)
    assert (again.skipped, again.done) == (3, 3) and again.ray is None


def test_workers_get_the_env_files_from_the_driver(ray_cluster: Cluster, tmp_path: Path) -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from lbi.cluster.session import connect
    from lbi.cluster.shipping import open_worker_project, ship

    project = sql_project(tmp_path, ray_cluster.address)
    connect(project.config)
    shipment = ship(project)

    @ray.remote(num_cpus=0)
    def seen(shipment) -> tuple[str, str, str]:  # noqa: ANN001
        worker = open_worker_project(shipment)
        db = Path(worker.config.env.options["db"])
        worker.close()
        return ray.get_runtime_context().get_node_id(), str(db), hashlib.sha256(db.read_bytes()).hexdigest()

    driver_db = Path(project.config.env.options["db"])
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    on = [
        seen.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(shipment)
        for node in nodes
    ]
    for node, (ran_on, path, digest) in zip(nodes, ray.get(on), strict=True):  # each node unpacks its own copy
        assert ran_on == node and Path(path).name == driver_db.name and path != str(driver_db)
        assert digest == hashlib.sha256(driver_db.read_bytes()).hexdigest()


def test_a_worker_killed_mid_episode_is_replaced_and_the_episode_run_again(
    ray_cluster: Cluster, tmp_path: Path
) -> None:
    project = sql_project(tmp_path, ray_cluster.address, model="fake/latency-0.4", workers=1, tasks=3)
    thread, result = in_background(lambda: rollout(project, "kill", policy="llm"))
    killed: list[int] = []
    deadline = time.monotonic() + 240
    while not killed and time.monotonic() < deadline and thread.is_alive():
        running = project.store.query(
            "SELECT t.id FROM trajectories t JOIN steps s ON s.trajectory_id = t.id WHERE t.status = 'running' LIMIT 1"
        )
        pids = episode_actors(ray_cluster)
        if running and pids:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed = pids
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed, "no episode was caught mid-way"
    assert "error" not in result, result
    report = result["report"]
    assert (report.done, report.failed, report.steps) == (3, 0, 12), report
    assert report.ray.retried >= 1
    for steps in actions(project).values():
        assert [s[0] for s in steps] == [0, 1, 2, 3]  # restarted clean: no step twice, none missing
