"""Shell sandbox: containment is tested for real (bubblewrap)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbi.envs.sandbox import sandbox_available
from lbi.envs.shell import ShellEnv
from lbi.envs.tasks import CheckSpec, Task, check_task

pytestmark = pytest.mark.sandbox  # starts it in the tests' own bodies (tests/tiers.py)


def test_sandbox_is_available() -> None:
    ok, detail = sandbox_available()
    assert ok, detail


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[ShellEnv]:
    seed = tmp_path / "seed"
    (seed / "docs").mkdir(parents=True)
    (seed / "docs" / "readme.txt").write_text("hello sandbox\n")
    with ShellEnv(seed, workdir_root=tmp_path / "work", time_limit_s=3) as shell:
        shell.reset()
        yield shell


def test_runs_commands_in_seeded_workdir(env: ShellEnv) -> None:
    obs = env.step("run('cat docs/readme.txt && pwd')")
    assert "hello sandbox" in obs.text and "/sandbox" in obs.text
    assert obs.info["exit_code"] == 0 and obs.state_signature == "shell:cat"
    obs = env.step("run('echo made > new.txt')")
    assert env.workdir and (env.workdir / "new.txt").read_text() == "made\n"
    obs = env.step("run('echo scratch > /tmp/x && cat /tmp/x')")  # a private /tmp the command may write
    assert obs.info["exit_code"] == 0 and "scratch" in obs.text


def test_nonzero_exit_is_reported(env: ShellEnv) -> None:
    obs = env.step("run('exit 3')")
    assert obs.info["exit_code"] == 3 and "[exit code: 3]" in obs.text
    assert obs.last_action_error is None and not obs.done


def test_cannot_write_outside(env: ShellEnv, tmp_path: Path) -> None:
    marker = tmp_path / "escaped"
    for target in ("/etc/escaped", "/usr/escaped", f"{marker}", "/tmp/../etc/x"):
        obs = env.step(f"run('echo x > {target}')")
        assert obs.info["exit_code"] != 0, target
    assert not marker.exists() and not Path("/etc/escaped").exists()
    obs = env.step('run(\'ls /root /home /work 2>&1; cat /proc/1/cmdline | tr "\\\\0" " "\')')
    assert "No such file" in obs.text
    assert "bash" in obs.text  # pid 1 is the sandbox's own shell, not the host's init


def test_no_network(env: ShellEnv) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        obs = env.step(
            f"run('python3 -c \"import socket; socket.create_connection((\\'127.0.0.1\\', "
            f"{port}), timeout=2)\"; ip -o link 2>/dev/null | wc -l')"
        )
        assert obs.info["exit_code"] == 0
        assert "ConnectionRefusedError" in obs.text or "Network is unreachable" in obs.text
        time.sleep(0.2)
        assert not accepted
    finally:
        server.close()


def test_hang_times_out_and_is_killed(env: ShellEnv) -> None:
    start = time.monotonic()
    obs = env.step("run('sleep 1000 & sleep 1000')")
    assert time.monotonic() - start < 6
    assert "timed out" in (obs.last_action_error or "") and obs.info["timed_out"]
    assert not obs.done
    assert env.step("run('echo alive')").info["exit_code"] == 0
    if os.geteuid() == 0:
        left = subprocess.run(
            ["pgrep", "-u", "65534", "-f", "sleep 1000"], capture_output=True, text=True, check=False
        ).stdout
        assert left.strip() == ""


def test_fork_bomb_is_contained(env: ShellEnv) -> None:
    start = time.monotonic()
    obs = env.step("run(':(){ :|:& };:; sleep 1; echo survived')")
    assert time.monotonic() - start < 8
    assert obs.info["exit_code"] is not None or obs.info["timed_out"]
    time.sleep(0.5)
    assert env.step("run('echo still fine')").info["exit_code"] == 0
    if os.geteuid() == 0:
        count = subprocess.run(
            ["pgrep", "-c", "-u", "65534"], capture_output=True, text=True, check=False
        ).stdout.strip()
        assert int(count or 0) == 0


def test_output_is_truncated(env: ShellEnv) -> None:
    obs = env.step("run('yes | head -c 200000')")
    assert "stdout truncated: 200000 bytes" in obs.text
    assert len(obs.text) < 6000


def test_task_files_and_file_check(tmp_path: Path) -> None:
    task = Task(
        id="s1",
        env="shell",
        instruction="Uppercase notes.txt into NOTES.txt",
        start={"files": {"notes.txt": "abc\n"}},
        check=CheckSpec(kind="file", params={"path": "NOTES.txt", "equals": "ABC"}),
        reference=["run('tr a-z A-Z < notes.txt > NOTES.txt')"],
    )
    with ShellEnv(workdir_root=tmp_path) as shell:
        obs = shell.reset(task)
        assert "notes.txt" in obs.text
        assert not check_task(task, shell, obs).success
        obs = shell.step(task.reference[0])
        assert check_task(task, shell, obs).success
        escape = task.model_copy(update={"check": CheckSpec(kind="file", params={"path": "../../etc/passwd"})})
        result = check_task(escape, shell, obs)
        assert not result.success and "outside" in (result.error or "")


def test_reset_gives_a_fresh_directory(env: ShellEnv) -> None:
    env.step("run('touch junk')")
    first = env.workdir
    env.reset()
    assert env.workdir and env.workdir != first and not (env.workdir / "junk").exists()
    assert first is not None and not first.exists()
