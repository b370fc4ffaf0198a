"""Rollouts on a real SQLite environment: recording, resume, parallel workers, crashes."""

from pathlib import Path

import pytest

from lbi.envs import EnvError
from lbi.errors import UserError
from lbi.project import Project
from lbi.synth.rollout import plan, rollout


def test_explore_rollout_records_every_step(sql_project: Project) -> None:
    report = rollout(sql_project, "walk", policy="explore", episodes=3, concurrency=1)
    assert (report.planned, report.done, report.failed) == (3, 3, 0)
    rows = sql_project.store.query("SELECT idx, observation, action, state_signature FROM steps ORDER BY id")
    assert len(rows) == report.steps == 12
    assert all(r["action"].startswith("execute_sql(") and r["observation"] for r in rows)
    traj = sql_project.store.query("SELECT status, final_observation, policy FROM trajectories")
    assert all(t["status"] == "done" and t["final_observation"] and t["policy"] == "explore" for t in traj)
    run = sql_project.store.query("SELECT status, progress_done, progress_total FROM runs")[0]
    assert tuple(run) == ("done", 3, 3)


def test_rerunning_a_run_skips_finished_trajectories(sql_project: Project) -> None:
    rollout(sql_project, "walk", policy="explore", episodes=2, concurrency=1)
    again = rollout(sql_project, "walk", policy="explore", episodes=3, concurrency=1)
    assert (again.skipped, again.done) == (2, 3)
    assert sql_project.store.counts()["trajectories"] == 3


def test_llm_policy_on_tasks_with_bad_model_replies(sql_project: Project) -> None:
    sql_project.store.add_tasks(
        [
            {"id": "t1", "instruction": "How many items are there?", "env": "sql"},
            {"id": "h1", "instruction": "held out", "env": "sql", "split": "heldout"},
        ]
    )
    items = plan(sql_project, "llm", policy="llm")
    assert [i.task["id"] for i in items] == ["t1"]  # held-out tasks are never rolled out for synthesis
    report = rollout(sql_project, "llm", policy="llm", concurrency=1)
    assert report.done == 1
    steps = sql_project.store.query("SELECT action, error, reasoning FROM steps")
    # the fake model's actions are not valid SQL-env actions: each error is recorded, the episode goes on
    assert len(steps) == 4 and all(s["error"] for s in steps)


def test_parallel_workers_share_a_run(sql_project: Project) -> None:
    report = rollout(sql_project, "par", policy="explore", episodes=4, concurrency=2)
    assert (report.done, report.failed) == (4, 0)
    keys = {r[0] for r in sql_project.store.query("SELECT key FROM trajectories")}
    assert keys == {f"par/explore-{k}" for k in range(4)}


def test_an_environment_configured_wrong_is_refused_before_the_run_starts(sql_project: Project, tmp_path: Path) -> None:
    sql_project.config.env.options = {"db": str(tmp_path / "missing.db")}
    with pytest.raises(EnvError, match="missing.db"):
        rollout(sql_project, "broken", policy="explore", episodes=1, concurrency=1)
    assert sql_project.store.query("SELECT COUNT(*) FROM runs")[0][0] == 0


def test_an_environment_that_cannot_start_fails_its_episodes_and_says_why(sql_project: Project, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database " * 20)
    sql_project.config.env.options = {"db": str(garbage)}
    report = rollout(sql_project, "broken", policy="explore", episodes=2, concurrency=1)
    assert (report.done, report.failed, report.steps) == (0, 2, 0)
    errors = [r[0] for r in sql_project.store.query("SELECT error FROM trajectories ORDER BY id")]
    assert all(e.startswith("environment did not start") and "not a database" in e for e in errors)
    run = sql_project.store.query("SELECT status, message FROM runs WHERE name = 'broken'")[0]
    assert run["status"] == "done" and "2 failed" in run["message"]


def test_web_rollout_keeps_boxed_screenshots_relative_to_the_project(project: Project) -> None:
    project.config.env.name = "trac"
    project.config.synth.max_steps = 3
    report = rollout(project, "web", policy="explore", episodes=1, concurrency=1)
    assert report.done == 1
    shots = [r[0] for r in project.store.query("SELECT screenshot FROM steps ORDER BY idx")]
    assert len(shots) == 3 and all(s and not Path(s).is_absolute() for s in shots)
    assert all((path := project.resolve(s)) and path.is_file() for s in shots)
    assert any(s.endswith("_action.png") for s in shots)  # the acted-on element is boxed
    final = project.store.query("SELECT final_screenshot FROM trajectories")[0][0]
    assert (path := project.resolve(final)) and path.is_file()


def test_explore_walks_start_where_the_synthetic_tasks_start(sql_project: Project) -> None:
    with pytest.raises(UserError, match="no synthetic tasks to start from"):
        plan(sql_project, "walk", policy="explore", episodes=2, explore_from="tasks")
    with pytest.raises(UserError, match="explore start"):
        plan(sql_project, "walk", policy="explore", episodes=2, explore_from="task")
    sql_project.store.add_tasks(
        [
            {"id": "t1", "instruction": "Add an item.", "env": "sql", "spec_json": '{"start": {"writable": true}}'},
            {"id": "t2", "instruction": "Count the items.", "env": "sql"},
        ]
    )
    items = plan(sql_project, "walk", policy="explore", episodes=3, explore_from="tasks")
    assert [i.task["start"] for i in items] == [{"writable": True}, {}, {"writable": True}]
    assert all(i.task["instruction"] == "" and i.policy == "explore" for i in items)  # the walk ignores the task
    report = rollout(sql_project, "walk", policy="explore", episodes=3, max_steps=2, explore_from="tasks")
    assert report.done == 3
