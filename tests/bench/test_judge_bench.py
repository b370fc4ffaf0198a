"""The judge benchmark: its metrics (Wilson intervals, a verdict that could not be reached left out, never a pass)
and its set builder, which reports and skips a pair it cannot replay or whose reference fails."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from judge_quality import Quality, half, policy, quality, replay_verdicts, summary  # noqa: E402
from judge_set import build_pairs, build_project, changed_check, load_pairs  # noqa: E402

from lbi.cli import main  # noqa: E402
from lbi.config import LOCAL_MODEL  # noqa: E402
from lbi.envs.sql import SqlEnv  # noqa: E402
from lbi.envs.tasks import CheckSpec, Task  # noqa: E402
from lbi.synth import trust  # noqa: E402


def test_precision_recall_accuracy_with_wilson_intervals() -> None:
    q, left_out = quality([True, True, True, False, False, True], [True, True, False, True, False, None])
    assert (q.tp, q.fp, q.fn, q.tn, left_out) == (2, 1, 1, 1, 1)  # the undecided pair is no pass
    assert q.precision == pytest.approx(2 / 3) and q.recall == pytest.approx(2 / 3) and q.accuracy == 0.6
    wide = q.intervals()["precision"]
    assert wide[0] < 2 / 3 < wide[1] and wide[1] - wide[0] > 0.5  # three verdicts say little
    eight = Quality(tp=8, fp=2).intervals()["precision"]
    assert eight == pytest.approx((0.490, 0.943), abs=1e-3)  # Wilson 95%, as tabulated
    assert Quality(tp=90, fp=10, fn=30).meets() and not Quality(tp=90, fp=11, fn=30).meets()
    assert Quality().precision != Quality().precision  # nothing kept: NaN, not 0 or 1
    assert Quality(tp=1).row()["precision"].startswith("100% [")


def test_policies_count_a_missing_verdict_as_no() -> None:
    votes: list[list[bool | None]] = [[True, True, None], [True, False, True], [True, True, True]]
    assert policy(votes, "strict") == [True, False, False]  # votes are per judge: pair 3 lacks judge 1's verdict
    assert policy(votes, "majority") == [True, True, True]
    two_judges: list[list[bool | None]] = [[False, None], [True, None], [False, True]]
    assert policy(two_judges, "majority") == [False, False]


def test_the_figures_lbi_ships_pool_each_judge_and_leave_undefined_rates_empty(tmp_path: Path) -> None:
    measured = [
        ("grounding", "sql", "all", Quality(tp=9, fp=1, fn=1, tn=9), 0),
        ("grounding", "trac", "all", Quality(tp=1, fp=1, fn=0, tn=8), 2),
        ("replay", "sql", "all", Quality(tn=3), 1),
    ]
    args = argparse.Namespace(set=trust.QUALITY_PATH.parent, model=LOCAL_MODEL, sample=0)
    source = {"command": "bench/judge_quality.py --quality", "commit": "abc1234", "dirty": False, "at": "2026-01-01"}
    figures = summary(measured, args, source, 12.5)
    pooled = figures.figure("grounding", trust.POOLED)
    assert pooled is not None and (pooled.tp, pooled.fp, pooled.fn, pooled.tn, pooled.left_out) == (10, 2, 1, 17, 2)
    assert pooled.envs == ["sql", "trac"] and pooled.precision == pytest.approx(10 / 12, abs=1e-4)
    replay = figures.figure("replay", "sql")
    assert replay is not None and replay.precision is None and replay.precision_ci is None and replay.accuracy == 1
    assert figures.model is None and figures.set == "data/judge_bench" and figures.envs == ["sql", "trac"]
    path = tmp_path / "quality.json"
    path.write_text(trust.dump(figures), encoding="utf-8")
    assert trust.load(path) == figures


def test_halves_are_fixed_by_task() -> None:
    assert {half(f"t-{k}") for k in range(20)} == {"tune", "test"}
    assert half("sql-001") == half("sql-001")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, colour TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO items (name, colour, price) VALUES (?, ?, ?)",
            [("pen", "blue", 1.5), ("ink", "black", 4.0), ("cap", "blue", 0.5)],
        )
    conn.close()
    return db


def _task(tid: str, instruction: str, query: str, **extra: object) -> Task:
    return Task(
        id=tid,
        env="sql",
        instruction=instruction,
        reference=[f"execute_sql({query!r})"],
        check=CheckSpec(kind="sql_result", params={"query": query}),
        **extra,
    )


def test_the_builder_skips_and_reports_what_cannot_be_replayed_or_fails(shop: Path, tmp_path: Path) -> None:
    good = _task("blue", "List the names of the 'blue' items.", "SELECT name FROM items WHERE colour = 'blue'")
    other = _task("cheap", "List the names of the items under 1.", "SELECT name FROM items WHERE price < 1")
    broken = _task("broken", "Count the items.", "SELECT COUNT(*) FROM items").model_copy(
        update={"reference": ["execute_sql('SELECT nope FROM items')"]}
    )
    seeded = _task("seeded", "Show the colours.", "SELECT colour FROM items", goal_at_reset=True)  # a random seed
    with SqlEnv(shop) as env:
        built = build_pairs("sql", env, [good, other, broken, seeded], log=lambda line: None)
    why = {(s["task"], s["kind"]): s["why"] for s in built["skipped"]}
    assert "random seed" in why[("seeded", "positive")] and "the reference fails" in why[("broken", "positive")]
    pairs = built["pairs"]
    assert {p["span_task"] for p in pairs} == {"blue", "cheap"}  # nothing of the skipped ones is counted
    kinds = {(p["task"], p["kind"]): p for p in pairs}
    assert kinds[("blue", "positive")]["label"] and not kinds[("cheap", "other_span")]["label"]
    assert kinds[("cheap", "other_span")]["span_task"] == "blue"  # cheap's instruction on blue's span
    changed = kinds[("blue", "other_step")]
    assert not changed["label"] and "colour = 'black'" in changed["detail"]  # another value of the same column
    assert kinds[("blue", "other_instruction")]["instruction"] == "List the names of the 'black' items."
    out = tmp_path / "sql.jsonl"
    out.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    out.with_suffix(".pages.json").write_text(json.dumps(built["pages"]))
    loaded = load_pairs(out)
    assert loaded[0]["steps"][0]["observation"].startswith("Connected to SQLite database shop.db")
    assert "effect" in loaded[0]["steps"][0] and loaded[0]["after"]["observation"]


def _lbi(*args: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 0


def test_a_project_brings_its_own_held_out_tasks_and_the_replay_judge_runs_them_in_its_env(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LBI_PROJECT", raising=False)
    tasks = tmp_path / "tasks.jsonl"
    blue = _task("blue", "List the names of the 'blue' items.", "SELECT name FROM items WHERE colour = 'blue'")
    cheap = _task("cheap", "List the names of the items under 1.", "SELECT name FROM items WHERE price < 1")
    tasks.write_text("".join(t.model_dump_json() + "\n" for t in (blue, cheap)))
    project = tmp_path / "proj"
    _lbi("init", str(project), "--env", "sql", "-o", f"db={shop}")
    _lbi("tasks", "import", str(tasks), "-p", str(project))
    built = build_project(project, log=lambda line: None)
    kinds = {(p["task"], p["kind"]): p for p in built["pairs"]}
    assert kinds[("blue", "positive")]["label"] and kinds[("blue", "positive")]["env"] == "sql"
    out = tmp_path / "set" / "sql.jsonl"
    out.parent.mkdir()
    out.write_text("".join(json.dumps(p) + "\n" for p in built["pairs"]))
    out.with_suffix(".pages.json").write_text(json.dumps(built["pages"]))
    pairs = load_pairs(out)
    assert pairs[0]["steps"][0]["observation"].startswith("Connected to SQLite database shop.db")  # not the demo's
    mine, _, _ = replay_verdicts("sql", pairs, frozenset(), log=lambda line: None, project=project)
    assert mine == [True] * len(pairs)  # re-run on the project's shop.db, every span comes out the same


def test_a_changed_entity_changes_the_check_and_drops_the_branches_it_leaves_alone() -> None:
    spec = CheckSpec(
        kind="any",
        params={
            "checks": [
                {"kind": "sql_result", "params": {"query": "SELECT summary FROM ticket WHERE id = 7"}},
                {"kind": "answer", "params": {"expected": "REST API"}},
            ]
        },
    )
    changed = changed_check(spec, "7", "8")
    assert changed is not None and changed.params["checks"] == [
        {"kind": "sql_result", "params": {"query": "SELECT summary FROM ticket WHERE id = 8"}}
    ]
    assert changed_check(CheckSpec(kind="answer", params={"expected": "carol"}), "docs", "infra") is None
