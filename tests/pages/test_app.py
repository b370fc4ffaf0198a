"""The workbench pages under Streamlit's AppTest, on a real store."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lbi.project import Project

ROOT = Path(__file__).resolve().parents[2]


def _app(project_dir: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_dir"] = str(project_dir)
    return at


def test_overview_shows_funnel_usage_and_runs(project: Project) -> None:
    project.llm().ask("hello")
    project.store.start_run("demo-run", "synthesize")
    at = _app(project.dir).run()
    assert not at.exception
    assert at.title[0].value == "lbi workbench"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Default model"] == "fake"
    assert metrics["Environment"] == "trac"
    frames = [df.value for df in at.dataframe]
    assert any("demo-run" in frame.to_string() for frame in frames)
    assert any("agent" in frame.to_string() for frame in frames)


def test_overview_explains_a_missing_project(tmp_path: Path) -> None:
    at = _app(tmp_path / "nowhere").run()
    assert not at.exception
    assert "lbi init" in at.error[0].value
