"""One Ray cluster for the tests of this folder: a head and a second worker node, both on loopback (the two-machine
setup of the README, on one machine), each started by `ray start --block` in a process group of its own, so
the finalizer stops exactly what it started (never `ray stop`, which would stop every Ray on the machine)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import LOCAL_TEST_PORT, ROOT
from tests.tiers import starts

RAY = str(Path(sys.executable).parent / "ray")
TOKEN_DIR = Path(tempfile.mkdtemp(prefix="lbi-ray-token-"))
TOKEN_FILE = TOKEN_DIR / "auth_token"
TOKEN_FILE.write_text(uuid.uuid4().hex)
TOKEN_FILE.chmod(0o600)
atexit.register(shutil.rmtree, TOKEN_DIR, ignore_errors=True)
LOOPBACK = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(TOKEN_FILE)}
"""The test cluster's own token, made here in a private temp folder and given to every node, driver and `lbi` the
tests start (`RAY_AUTH_TOKEN_PATH`): `ray start --head` with `RAY_AUTH_MODE=token` makes none, and `~/.ray` is
never read or written. Set before Ray is imported. The nodes are 127.0.0.2 and 127.0.0.3 (loopback, as all of
127.0.0.0/8): in a cluster that other nodes join, Ray swaps 127.0.0.1 itself for the machine's own address."""
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
os.environ.update(LOOPBACK)
BASE_PORT = 20000 + LOCAL_TEST_PORT % 10000 * 2  # one range per concurrent test session (its model port)
MB = 1024 * 1024


@dataclass
class Cluster:
    address: str
    temp_dir: Path
    nodes: list[subprocess.Popen]

    def ray_processes(self) -> list[int]:
        """Pids of the processes of this cluster still running (by its temp dir in their command line)."""
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
        return [int(line.split(None, 1)[0]) for line in out.splitlines() if str(self.temp_dir) in line]


def _node(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", **LOOPBACK}
    with log.open("ab") as out:
        return subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )


def _stop(nodes: list[subprocess.Popen]) -> None:
    """SIGTERM to every node's process group at once (`ray start --block` stops the node's processes on it),
    then SIGKILL to a group still there after 5 s (Ray's own shutdown took the whole 20 s this waited before)."""
    running = [proc for proc in nodes if proc.poll() is None]
    for proc in running:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_for_nodes(count: int, nodes: list[subprocess.Popen], log: Path) -> None:
    """Until the cluster this process joined has `count` live nodes."""
    import ray

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        for proc in nodes:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        if sum(node["Alive"] for node in ray.nodes()) >= count:
            return
        time.sleep(1)
    raise AssertionError(f"the test cluster did not come up: {log.read_text(errors='replace')[-3000:]}")


def _join(address: str, nodes: list[subprocess.Popen], log: Path) -> None:
    import ray

    deadline = time.monotonic() + 240
    while True:
        assert nodes[0].poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            return
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def add_node(cluster: Cluster, ip: str, cpus: int, log: Path) -> subprocess.Popen:
    """Start one more worker node of `cpus` CPUs at `ip` (a loopback address) and wait until it is up; the
    cluster's finalizer stops it with the others."""
    p = BASE_PORT + 8 + 6 * (len(cluster.nodes) - 1)  # six ports per worker node, after the head's eight
    node = _node(
        [
            "--object-store-memory",
            str(80 * MB),
            "--node-ip-address",
            ip,
            "--address",
            cluster.address,
            "--num-cpus",
            str(cpus),
            "--dashboard-agent-listen-port",
            str(p),
            "--dashboard-agent-grpc-port",
            str(p + 1),
            "--runtime-env-agent-port",
            str(p + 2),
            "--metrics-export-port",
            str(p + 3),
            "--node-manager-port",
            str(p + 4),
            "--object-manager-port",
            str(p + 5),
        ],
        log,
    )
    cluster.nodes.append(node)
    _wait_for_nodes(len(cluster.nodes), cluster.nodes, log)
    return node


@pytest.fixture(scope="package")  # stopped once tests/cluster is done, not at the end of a full run
@starts("ray")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    temp_dir = Path(f"/tmp/lbi-rt-{BASE_PORT}")  # short: Ray's socket paths must fit in 107 bytes
    shutil.rmtree(temp_dir, ignore_errors=True)
    log = tmp_path_factory.mktemp("ray") / "cluster.log"
    p = BASE_PORT
    address = f"{HEAD_IP}:{p}"
    common = ["--object-store-memory", str(80 * MB)]
    head = _node(
        [
            *common,
            "--node-ip-address",
            HEAD_IP,
            "--head",
            "--port",
            str(p),
            "--num-cpus",
            "1",
            "--include-dashboard",
            "false",
            "--ray-client-server-port",
            str(p + 1),
            "--temp-dir",
            str(temp_dir),
            "--dashboard-agent-listen-port",
            str(p + 2),
            "--dashboard-agent-grpc-port",
            str(p + 3),
            "--runtime-env-agent-port",
            str(p + 4),
            "--metrics-export-port",
            str(p + 5),
            "--node-manager-port",
            str(p + 6),
            "--object-manager-port",
            str(p + 7),
        ],
        log,
    )
    cluster = Cluster(address, temp_dir, [head])
    try:
        _join(address, cluster.nodes, log)
        add_node(cluster, WORKER_IP, 2, log)
        yield cluster
    finally:
        import ray

        ray.shutdown()  # this process's connection (tests that call lbi in-process join the cluster)
        _stop(cluster.nodes)
        left = cluster.ray_processes()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes outlived their node: {left}"
