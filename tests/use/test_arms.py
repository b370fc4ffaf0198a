"""Evaluation arms across runs (a base and a trained model on the same held-out tasks), and the leakage check
through training runs, on a real store, SQL env and evaluation loop (fake model)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lbi.cli import app
from lbi.config import save_config
from lbi.errors import NotFoundError, UserError
from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.use.arms import Grid, arms, by_type, compare, grid, resolve
from lbi.use.evaluate import evaluate, leakage
from tests.use.test_use import HELDOUT


def _answer(text: str) -> None:
    FakeModel.register_responder("act", lambda m, s: json.dumps({"reasoning": "count", "action": f'stop("{text}")'}))


@pytest.fixture
def two_runs(sql_project: Project) -> Project:
    """Run `base` (model fake, answers wrong) and run `trained` (model fake/trained, answers right), baseline mode."""
    project = sql_project
    project.store.add_tasks(
        {"id": t["id"], "instruction": t["instruction"], "env": "sql", "split": "heldout", "spec_json": t}
        for t in HELDOUT
    )
    _answer("no idea")
    evaluate(project, ["baseline"], run="base")
    _answer("2")
    project.config.models.agent = "fake/trained"
    evaluate(project, ["baseline"], run="trained")
    return project


def test_arms_of_two_runs_compare_a_base_and_a_trained_model(two_runs: Project) -> None:
    base, trained = arms(two_runs.store)
    assert (base.label, base.model, base.n, base.successes, base.errors) == ("base:baseline", "fake", 3, 0, 1)
    assert (trained.label, trained.model, trained.successes) == ("trained:baseline", "fake/trained", 1)
    for arm in (base, trained):  # one act call per task (each episode stops at once), counted in its arm
        assert arm.calls == 3 and arm.tokens > 0 and arm.steps == 3 and arm.wall_s >= 0
    result = compare(two_runs.store, ["base", "trained:baseline"])
    (pair,) = result.pairs
    assert [a.label for a in result.arms] == ["base:baseline", "trained:baseline"]
    assert (pair.a, pair.b, pair.tasks, pair.only_a, pair.only_b) == (
        "base:baseline",
        "trained:baseline",
        3,
        [],
        ["h-count"],
    )
    assert pair.p_value == 1.0 and pair.flips() == "+h-count"
    cells = grid(two_runs.store, result.arms)
    assert cells.tasks == ["h-broken", "h-count", "h-names"]
    assert [cells.outcome("h-count", a) for a in cells.arms] == ["failed", "solved"]
    assert cells.outcome("h-broken", "base:baseline") == "error"
    assert cells.cells[("h-count", "trained:baseline")]["trajectory_id"]


def test_arms_are_named_run_and_mode(two_runs: Project) -> None:
    _answer("2")
    two_runs.config.models.agent = "fake/trained"
    evaluate(two_runs, ["baseline", "examples-rag"], run="trained", task_ids=["h-count"])
    known = arms(two_runs.store)
    assert resolve("trained:examples-rag", known).n == 1
    with pytest.raises(UserError, match="has several modes: name one"):
        resolve("trained", known)
    with pytest.raises(NotFoundError, match="has no mode 'agentic': it ran baseline"):
        resolve("base:agentic", known)
    with pytest.raises(NotFoundError, match="no eval run 'nope': the eval runs are base, trained"):
        resolve("nope", known)
    with pytest.raises(UserError, match="at least two arms"):
        compare(two_runs.store, ["base"])


def test_a_run_keeps_one_model(two_runs: Project) -> None:
    two_runs.config.models.agent = "fake/other"
    with pytest.raises(UserError, match="eval run 'base' was run with the model 'fake'"):
        evaluate(two_runs, ["baseline"], run="base")


def test_eval_compare_prints_arms_and_the_paired_test(two_runs: Project) -> None:
    save_config(two_runs.dir, two_runs.config)
    out = CliRunner().invoke(app, ["eval", "compare", "-p", str(two_runs.dir), "base", "trained"])
    assert out.exit_code == 0, out.output
    assert "base:baseline" in out.output and "trained:baseline" in out.output and "0.0% [0.0%, 56.2%]" in out.output
    assert (
        "trained:baseline vs base:baseline on 3 tasks: 1 solved only by trained:baseline, 0 only by "
        "base:baseline; McNemar exact p = 1; flipped: +h-count"
    ) in " ".join(out.output.split())
    assert "training runs: none" in out.output


def test_leakage_covers_what_training_runs_used(two_runs: Project) -> None:
    store = two_runs.store
    assert leakage(two_runs)["ok"]
    eval_traj = store.query("SELECT trajectory_id FROM evaluations LIMIT 1")[0][0]
    store.add_tasks([{"id": "syn-1", "instruction": "List the items.", "env": "sql"}])
    synth_run = store.start_run("walk", "rollout")
    clean_traj, _ = store.begin_trajectory("walk/0", run_id=synth_run, task_id="syn-1", policy="llm", env="sql")
    (clean,) = store.add_examples(
        [
            {
                "trajectory_id": clean_traj,
                "span_start": 0,
                "span_end": 0,
                "mode": "per-span",
                "instruction": "List the items.",
            }
        ]
    )
    store.set_train_run(store.start_run("sft-ok", "train"), base_model="tiny", examples_json=[clean])
    assert leakage(two_runs)["ok"], "a training run on synthetic examples is fine"
    # an example made from an evaluation trajectory (construct never makes one; a hand-made or old store might)
    (leaked,) = store.add_examples(
        [
            {
                "trajectory_id": eval_traj,
                "span_start": 0,
                "span_end": 0,
                "mode": "per-span",
                "instruction": "How many items are in the shop?",
            }
        ]
    )
    store.set_train_run(store.start_run("sft-bad", "train"), base_model="tiny", examples_json=[clean, leaked, 999])
    check = leakage(two_runs)
    assert not check["ok"]
    assert check["examples_from_heldout"] == [leaked] and check["trained_on_heldout"] == {"sft-bad": [leaked]}
    assert check["trained_missing"] == {"sft-bad": [999]}
    assert "training run 'sft-bad' used such examples" in check["detail"]


def test_success_per_task_type_groups_seeds_of_one_task() -> None:
    def cell(success: int) -> dict[str, object]:
        return {"success": success, "error": None, "trajectory_id": 1}

    tasks = ["miniwob.click-link@1000", "miniwob.click-link@1001", "miniwob.enter-text@1000"]
    cells = {
        (tasks[0], "base:baseline"): cell(0),
        (tasks[1], "base:baseline"): cell(1),
        (tasks[2], "base:baseline"): cell(0),
        (tasks[0], "trained:baseline"): cell(1),
        (tasks[1], "trained:baseline"): cell(1),
    }
    rows = by_type(Grid(tasks, ["base:baseline", "trained:baseline"], cells))
    assert rows == [
        {"type": "miniwob.click-link", "base:baseline": "1/2 [9%, 91%]", "trained:baseline": "2/2 [34%, 100%]"},
        {"type": "miniwob.enter-text", "base:baseline": "0/1 [0%, 79%]", "trained:baseline": ""},
    ]
    assert by_type(Grid(["h-count", "h-names"], ["base:baseline"], {})) == []  # tasks without seeds: no groups
