"""The `lbi` command as a user runs it (a real subprocess)."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from lbi.config import load_config
from lbi.synth import trust

LBI = [sys.executable, "-m", "lbi.cli"]


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LBI, *args], capture_output=True, text=True, cwd=cwd, timeout=120, env={**os.environ, **(env or {})}
    )


def test_init_status_and_ask_with_the_fake_model(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    out = run("init", str(proj), "--model", "fake")
    assert out.returncode == 0, out.stderr
    assert (proj / "lbi.toml").exists() and (proj / "lbi.db").exists()
    status = run("status", "-p", str(proj))
    assert status.returncode == 0, status.stderr
    assert "funnel: chunks 0" in status.stdout and "no runs yet" in status.stdout
    ask = run("llm", "ask", "hello there", "-p", str(proj))
    assert ask.returncode == 0, ask.stderr
    assert ask.stdout.startswith("fake reply")
    assert "tokens/s" in ask.stderr
    again = run("llm", "ask", "hello there", "-p", str(proj))
    assert "[cache hit]" in again.stderr
    status = run("status", "-p", str(proj))
    assert "llm_calls" in status.stdout


def test_a_repository_project_gets_a_replay_judge(tmp_path: Path) -> None:
    """In a repository the recorded steps do not show the diff: `grounding` alone is at chance there on the judge
    benchmark, so `lbi init --env repo` adds the `replay` judge (which gives it the diff), as in trac; sql does not."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("x = 1\n", encoding="utf-8")
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a"]
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run([*git, *cmd], cwd=repo, check=True)
    out = run("init", str(tmp_path / "code"), "--env", "repo", "-o", f"repo={repo}", "--model", "local/smollm2")
    assert out.returncode == 0, out.stderr
    config = load_config(tmp_path / "code")
    assert [(j.name, j.focus) for j in config.models.judges][-1] == ("replay", "replay")
    assert trust.voters(config) == ("grounding", "replay")  # the embedded model's judges: at chance in repo
    shop = tmp_path / "shop.db"
    sqlite3.connect(shop).close()
    sql = run("init", str(tmp_path / "sql"), "--env", "sql", "-o", f"db={shop}", "--model", "fake")
    assert sql.returncode == 0 and "replay" not in [j.focus for j in load_config(tmp_path / "sql").models.judges]
    trac = run("init", str(tmp_path / "trac"), "--model", "fake")  # the default env
    assert trac.returncode == 0 and load_config(tmp_path / "trac").models.judges[-1].focus == "replay"


def test_bad_config_is_one_clear_line_and_nothing_is_lost(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    assert run("init", str(proj), "--model", "fake").returncode == 0
    run("llm", "ask", "keep me", "-p", str(proj))
    (proj / "lbi.toml").write_text("[models]\ndefault = \n")
    out = run("status", "-p", str(proj))
    assert out.returncode == 2
    assert "error:" in out.stderr and "lbi.toml is not valid TOML" in out.stderr
    assert "Traceback" not in out.stderr
    assert (proj / "lbi.db").stat().st_size > 0
    assert run("init", str(proj), "--model", "fake", "--force").returncode == 0
    assert "llm_calls" in run("status", "-p", str(proj)).stdout


def test_unknown_model_string_is_one_clear_line(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    run("init", str(proj), "--model", "nonsense-provider/x")
    out = run("llm", "ask", "hi", "-p", str(proj))
    assert out.returncode == 2
    assert "unknown model string 'nonsense-provider/x'" in out.stderr
    assert "Traceback" not in out.stderr


def test_llm_status_reports_a_stopped_server(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    run("init", str(proj))
    (proj / "lbi.toml").write_text((proj / "lbi.toml").read_text().replace("port = 8742", "port = 8799"))
    out = run("llm", "status", "-p", str(proj))
    assert out.returncode == 1
    assert '"running": false' in out.stdout


def test_filter_says_how_far_each_judge_can_be_trusted(tmp_path: Path) -> None:
    from lbi.synth import trust

    proj = tmp_path / "p"
    assert run("init", str(proj), "--model", "fake").returncode == 0  # the Trac env, every judge on `fake`, + replay
    out = run("filter", "-p", str(proj), env={"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    printed = " ".join(out.stdout.split())  # the console wraps long lines
    quality = trust.load()
    assert quality is not None
    grounding = quality.figure("grounding+replay", "trac")  # beside the replay judge `lbi init` adds in trac
    assert grounding is not None
    assert f"grounding: P {trust.percent(grounding.precision, grounding.precision_ci)}" in printed
    assert f"n {grounding.n} (trac)" in printed
    assert f"accomplishment: not measured: the benchmark ran the model judges on {quality.model}, not fake" in printed
