"""The bundled Trac demo: start, reset, stop, crash, CLI."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from typer.testing import CliRunner

from lbi.cli.env import app
from lbi.envs import env_spec
from lbi.envs.web.env import BrowserSession
from lbi.envs.web.trac_env import TracWebEnv
from lbi.envs.web.trac_server import TracDemo, ensure_pristine, trac_user_guide_dir


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_pristine_is_seeded_and_cached(demo_dir: Path) -> None:
    pristine = ensure_pristine(demo_dir)
    db = pristine / "db" / "trac.db"
    assert _count(db, "SELECT COUNT(*) FROM ticket") == 20
    assert _count(db, "SELECT COUNT(*) FROM component") == 4
    assert _count(db, "SELECT COUNT(*) FROM wiki WHERE name = 'ReleaseProcess'") == 1
    mtime = db.stat().st_mtime
    assert ensure_pristine(demo_dir) == pristine and db.stat().st_mtime == mtime


def test_user_guide_and_sql_docs() -> None:
    guide = trac_user_guide_dir()
    for page in ("TracTickets", "TracQuery", "TracReports", "TracWorkflow"):
        assert (guide / page).is_file()
    assert env_spec("trac").docs() == guide
    assert (sql_docs := env_spec("sql").docs()) and (sql_docs / "schema.md").is_file()


def test_demo_serves_and_resets(trac_env: TracWebEnv, trac_demo: TracDemo) -> None:
    assert trac_demo.healthy()
    obs = trac_env.reset()
    assert obs.title and "LBI Demo" in obs.title and obs.url == trac_demo.base_url + "/"
    for action in ("goto('/newticket')", "fill('field-summary', 'Temporary ticket')", "click('submit')"):
        obs = trac_env.step(action)
        assert obs.last_action_error is None, action
    assert "/ticket/21" in (obs.url or "")
    assert _count(trac_demo.db_path, "SELECT COUNT(*) FROM ticket") == 21
    start = time.perf_counter()
    obs = trac_env.reset()
    assert time.perf_counter() - start < 3
    assert obs.info["state_reset_s"] < 0.5
    assert _count(trac_demo.db_path, "SELECT COUNT(*) FROM ticket") == 20
    obs = trac_env.step("goto('/ticket/21')")  # the running server sees the restored state
    assert "does not exist" in obs.text or "Error" in (obs.title or "")


def test_forbidden_origins_from_trac(trac_env: TracWebEnv) -> None:
    trac_env.reset()
    obs = trac_env.step("goto('https://trac.edgewall.org/')")
    assert "blocked" in (obs.last_action_error or "")
    obs = trac_env.step("click('tracpowered')")  # the footer's external link
    assert "blocked" in (obs.last_action_error or "") and "LBI Demo" in (obs.title or "")


def test_server_crash_ends_episode(demo_dir: Path, browser: BrowserSession) -> None:
    demo = TracDemo(demo_dir).start()
    env = TracWebEnv(demo, browser=browser)
    try:
        env.reset()
        demo.stop()
        obs = env.step("goto('/roadmap')")
        assert obs.done and "stopped" in (obs.last_action_error or "")
    finally:
        env.close()
        demo.stop()
    assert not demo.alive()


def test_cli_demo_lifecycle(tmp_path: Path, demo_dir: Path) -> None:
    runner = CliRunner()
    pristine = ensure_pristine(demo_dir)
    import shutil

    shutil.copytree(pristine, tmp_path / "trac-pristine")  # reuse the build
    result = runner.invoke(app, ["demo", "start", "--demo-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "running at http://127.0.0.1:" in result.output
    status = runner.invoke(app, ["demo", "status", "--demo-dir", str(tmp_path)])
    assert "running: True" in status.output and "user guide:" in status.output
    out = runner.invoke(
        app,
        ["try", "sql", "--demo", "--demo-dir", str(tmp_path), "-a", "SELECT COUNT(*) FROM ticket", "-a", "stop('20')"],
    )
    assert out.exit_code == 0 and "20" in out.output and "DONE answer='20'" in out.output
    stop = runner.invoke(app, ["demo", "stop", "--demo-dir", str(tmp_path)])
    assert "stopped" in stop.output
    assert "not running" in runner.invoke(app, ["demo", "status", "--demo-dir", str(tmp_path)]).output


def test_cli_list_and_try_shell() -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["list"])
    assert all(name in out.output for name in ("web", "sql", "shell", "trac"))
    out = runner.invoke(app, ["try", "shell", "--show-actions", "-a", "run('echo hi')"])
    assert out.exit_code == 0 and "- run(command): " in out.output and "hi" in out.output
