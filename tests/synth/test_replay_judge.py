"""The replay judge on the committee: each trajectory replayed once from its task's reset, every span on it
judged from that replay, and the grounding rule given the replay's real effects."""

from __future__ import annotations

from lbi.config import JudgeSpec
from lbi.project import Project
from lbi.synth.judge import judge_examples

JUDGES = [JudgeSpec(name="grounding", focus="grounding"), JudgeSpec(name="replay", focus="replay")]


def _trajectory(project: Project, key: str, steps: list[tuple[str, str]], final: str) -> int:
    store = project.store
    tid, _ = store.begin_trajectory(key, policy="explore", env="sql", model="fake")
    for idx, (observation, action) in enumerate(steps):
        store.add_step(tid, idx, observation=observation, action=action, state_signature="sql")
    store.finish_trajectory(tid, status="done", final={"observation": final})
    return tid


def _start(project: Project) -> str:
    from lbi.envs import make_env

    with make_env("sql", **project.config.env.options) as env:
        return env.reset().text


def test_spans_that_reproduce_pass_and_a_lucky_one_is_dropped(sql_project: Project) -> None:
    sql_project.config.models.judges = JUDGES
    start = _start(sql_project)
    names = "name\n---\npen\nink\n(2 rows)"
    good = _trajectory(
        sql_project,
        "good",
        [(start, "execute_sql('SELECT name FROM items')"), (names, "execute_sql('SELECT COUNT(*) FROM items')")],
        "COUNT(*)\n---\n2\n(1 row)",
    )
    lucky = _trajectory(
        sql_project, "lucky", [(start, "execute_sql('SELECT COUNT(*) FROM items')")], "COUNT(*)\n---\n7\n(1 row)"
    )  # recorded an end state the action does not give
    ids = sql_project.store.add_examples(
        [
            {
                "trajectory_id": good,
                "span_start": 0,
                "span_end": 1,
                "instruction": "Show the item names, then count the items.",
                "mode": "per-span",
            },
            {
                "trajectory_id": good,
                "span_start": 1,
                "span_end": 1,
                "instruction": "Count the items.",
                "mode": "per-span",
            },
            {
                "trajectory_id": lucky,
                "span_start": 0,
                "span_end": 0,
                "instruction": "Count the items.",
                "mode": "per-span",
            },
        ]
    )
    report = judge_examples(sql_project)
    rows = {
        (r["example_id"], r["judge"]): r
        for r in sql_project.store.query("SELECT example_id, judge, verdict, reason, model FROM verdicts")
    }
    assert report.verdicts == 6 and report.failed == 0
    assert rows[(ids[0], "replay")]["verdict"] == 1 and rows[(ids[1], "replay")]["verdict"] == 1
    assert rows[(ids[0], "replay")]["model"] == "rule/replay"
    assert rows[(ids[2], "replay")]["verdict"] == 0 and "end state" in rows[(ids[2], "replay")]["reason"]
    assert rows[(ids[1], "grounding")]["verdict"] == 1  # "count the items": its query, with its real result


def test_a_trajectory_from_another_environment_cannot_be_replayed(sql_project: Project) -> None:
    sql_project.config.models.judges = JUDGES[1:]
    tid, _ = sql_project.store.begin_trajectory("web", policy="explore", env="trac", model="fake")
    sql_project.store.add_step(tid, 0, observation="page", action="click('12')")
    sql_project.store.finish_trajectory(tid, status="done")
    sql_project.store.add_examples(
        [{"trajectory_id": tid, "span_start": 0, "span_end": 0, "instruction": "Open it.", "mode": "per-span"}]
    )
    judge_examples(sql_project)
    row = sql_project.store.query("SELECT verdict, reason FROM verdicts WHERE judge = 'replay'")[0]
    assert row["verdict"] == 0 and "cannot be replayed: the trajectory ran in trac" in row["reason"]
