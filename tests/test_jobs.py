"""lbi.jobs: `lbi` commands in a background process, their log and exit status (real subprocesses)."""

import time
from pathlib import Path

from lbi import jobs
from lbi.project import Project


def _wait(job: jobs.Job, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while (code := job.exit_code()) is None:
        assert time.monotonic() < deadline, jobs.tail(job.log)
        time.sleep(0.2)
    return code


def test_a_job_runs_its_commands_in_turn_and_leaves_its_exit_status(project: Project, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nHow to open the roadmap.\n")
    job = jobs.start(project.dir, ["docs", "add", str(tmp_path / "a.md")], "docs", then=[["docs", "list"]])
    assert _wait(job) == 0
    assert job.exit_file.read_text() == "0"
    log = job.log.read_text()
    assert log.index("$ lbi docs add") < log.index("1 new documents") < log.index("$ lbi docs list")
    assert "$ lbi" not in job.output() and "1 new documents" in job.output()
    assert project.store.counts()["documents"] == 1


def test_a_failing_command_stops_the_job_with_its_error(project: Project, tmp_path: Path) -> None:
    job = jobs.start(project.dir, ["docs", "add", str(tmp_path / "nowhere")], "docs", then=[["docs", "list"]])
    assert _wait(job) == 2
    assert job.output().startswith("error:") and "$ lbi docs list" not in job.log.read_text()


def test_a_stopped_job_says_so(project: Project) -> None:
    job = jobs.start(project.dir, ["llm", "ask", "hello"], "ask")
    assert jobs.stop(job.pid)
    assert _wait(job) in (jobs.KILLED, 0)  # it may have finished before the signal came
    assert not jobs.stop(job.pid)
