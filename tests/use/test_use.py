"""Index, agentic retrieval, held-out evaluation and export on a real store, env and index."""

import json
from pathlib import Path

import pytest

from lbi.agent import History
from lbi.docs.ingest import add_source
from lbi.models.fake import FakeModel
from lbi.project import Project, task_from_row
from lbi.store import committee, read
from lbi.synth.backward import construct
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout
from lbi.use.evaluate import evaluate, leakage, mcnemar, paired, results, wilson
from lbi.use.export import export
from lbi.use.index import Index
from lbi.use.retrieval import Hit, Retriever, fit_budget
from tests.conftest import ROOT

HELDOUT = [
    {
        "id": "h-count",
        "env": "sql",
        "instruction": "How many items are in the shop?",
        "split": "heldout",
        "check": {"kind": "answer", "params": {"expected": "2", "match": "number"}},
    },
    {
        "id": "h-names",
        "env": "sql",
        "instruction": "List the names of all items.",
        "split": "heldout",
        "check": {"kind": "sql_result", "params": {"query": "SELECT name FROM items"}},
    },
    {
        "id": "h-broken",
        "env": "sql",
        "instruction": "A task whose check cannot run.",
        "split": "heldout",
        "check": {"kind": "no-such-check", "params": {}},
    },
]


def _yes(messages, schema):
    return json.dumps({"reason": "fine", "verdict": True})


@pytest.fixture
def filled(sql_project: Project) -> Project:
    project = sql_project
    project.config.synth.max_steps = 3
    add_source(project, ROOT / "tests" / "fixtures" / "docs" / "guide.md")
    project.store.add_tasks(
        {"id": t["id"], "instruction": t["instruction"], "env": "sql", "split": "heldout", "spec_json": t}
        for t in HELDOUT
    )
    rollout(project, "walk", policy="explore", episodes=3, concurrency=1)
    construct(project, mode="per-span")
    # the three model judges, scripted to say yes (the fake model's instructions name nothing, so the grounding
    # rule would drop them all; tests/synth/test_grounding.py covers it)
    project.config.models.judges = [j for j in project.config.models.judges if j.focus != "grounding"]
    for name in ("accomplishment", "instruction", "efficiency"):
        FakeModel.register_responder(f"judge-{name}", _yes)
    judge_examples(project)
    return project


def test_index_sync_is_incremental_and_follows_overrides(filled: Project) -> None:
    index = Index(filled)
    kept = committee.kept_ids(filled.store, "strict", 3)
    first = index.sync()
    assert first.examples_added == len(kept) > 0 and first.chunks_added > 0 and first.steps_added > 0
    again = index.sync()
    assert (again.examples_added, again.examples_removed, again.steps_added, again.chunks_added) == (0, 0, 0, 0)
    filled.store.add_override(kept[0], "drop", who="tester", note="wrong")
    after = index.sync()
    assert after.examples_removed == 1
    now_kept = committee.kept_ids(filled.store, "strict", 3)
    assert kept[0] not in now_kept
    assert index.counts()["examples"] == len(now_kept)  # a duplicate of the dropped one may now be kept
    assert index.examples.get(ids=[f"ex-{kept[0]}"])["ids"] == []


def test_agentic_retrieval_returns_observation_and_model_hits(filled: Project) -> None:
    Index(filled).sync()
    retriever = Retriever(filled, "agentic")
    with filled.make_env() as env:
        obs = env.reset(task_from_row({"id": "q", "instruction": "count items", "env": "sql"}))
        result = retriever.retrieve("How many items are there?", obs, History())
    assert result.observation_hits, "a state seen during synthesis must match by signature or text"
    assert result.query and result.model_hits
    assert result.rendered and result.tokens <= filled.config.retrieval.token_budget
    assert any(h.meta.get("state_signature") == obs.state_signature for h in result.observation_hits)
    docs = Retriever(filled, "docs-rag").retrieve("How many items are there?")
    assert docs.instruction_hits and all(h.kind == "doc" for h in docs.instruction_hits)


def test_empty_index_gives_no_examples_not_an_error(project: Project) -> None:
    result = Retriever(project, "agentic").retrieve("anything")
    assert result.rendered == "" and not result.model_hits


def test_budget_is_respected_and_duplicates_dropped() -> None:
    hits = [
        Hit("step", "a", "observation", "x" * 400),
        Hit("step", "a", "model", "x" * 400),
        Hit("example", "b", "model", "y" * 400),
        Hit("example", "c", "model", "z" * 4000),
    ]
    used, text = fit_budget(hits, 250)
    assert [h.key for h in used] == ["a", "b"]
    assert len(text) <= 250 * 4


def test_evaluation_per_mode_with_checks_and_no_leakage(filled: Project) -> None:
    FakeModel.register_responder("act", lambda m, s: json.dumps({"reasoning": "count", "action": 'stop("2")'}))
    before = filled.store.counts()["examples"]
    report = evaluate(filled, ["baseline", "agentic"], run="ev")
    for mode in ("baseline", "agentic"):
        summary = report.summaries[mode]
        assert (summary.n, summary.successes, summary.errors) == (3, 1, 1)
    rows = {(r["task_id"], r["mode"]): dict(r) for r in filled.store.query("SELECT * FROM evaluations")}
    assert rows[("h-count", "baseline")]["success"] == 1
    assert rows[("h-names", "agentic")]["success"] == 0
    assert "no-such-check" in rows[("h-broken", "baseline")]["error"]
    first = report.retrieved["agentic"][0]  # what the agent saw at its first step in agentic mode
    assert 0 < first["used"] <= len(first["observation"]) + len(first["model"]), "retrieved examples reach the prompt"
    assert 0 < first["tokens"] <= filled.config.retrieval.token_budget
    # eval trajectories never become training data, nor does the Backward page offer them
    runs = {r["run"] for r in read.trajectories(filled.store, trainable=True)}
    assert "walk" in runs and "ev" not in runs and "ev" in {r["run"] for r in read.trajectories(filled.store)}
    construct(filled, mode="per-span")
    assert filled.store.counts()["examples"] == before
    assert leakage(filled)["ok"]
    by_mode = {r["mode"]: r for r in results(filled, "ev")}
    assert by_mode["baseline"]["n"] == 3 and by_mode["baseline"]["ci_low"] < 1 / 3 < by_mode["baseline"]["ci_high"]
    # resuming the same run asks the model nothing new
    calls = filled.store.counts()["llm_calls"]
    evaluate(filled, ["baseline"], run="ev")
    assert filled.store.counts()["llm_calls"] == calls


def test_paired_arms_name_the_tasks_that_flipped(filled: Project) -> None:
    def act(messages: list[dict], schema: dict | None) -> str:  # answers right only when shown examples
        shown = "Examples of how similar tasks were done here" in messages[-1]["content"]
        return json.dumps({"reasoning": "count", "action": 'stop("2")' if shown else 'stop("no idea")'})

    FakeModel.register_responder("act", act)
    evaluate(filled, ["baseline", "agentic"], run="arms")
    pair = paired(filled, "arms", "baseline", "agentic")
    assert (pair.tasks, pair.only_a, pair.only_b) == (3, [], ["h-count"])
    assert pair.p_value == 1.0  # one discordant task proves nothing
    assert mcnemar(0, 6) == pytest.approx(0.03125) and mcnemar(10, 2) == pytest.approx(0.0386, abs=1e-4)
    assert paired(filled, "arms", "baseline", "docs-rag").tasks == 0


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 0.0)
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-3) and high == pytest.approx(0.7634, abs=1e-3)


def test_export_jsonl_loads_with_datasets(filled: Project, tmp_path: Path) -> None:
    from datasets import load_dataset

    kept = committee.kept_count(filled.store, "strict", 3)
    report = export(filled, tmp_path / "out.jsonl")
    assert report.records == report.examples == kept
    ds = load_dataset("json", data_files=str(report.path), split="train")
    assert len(ds) == kept
    first = ds[0]["messages"]
    assert first[0]["role"] == "system" and first[1]["role"] == "user" and first[2]["role"] == "assistant"
    assert first[1]["content"].startswith("Task: ")
    card = report.card.read_text()
    assert f"kept examples: {kept}" in card and "## by mode" in card
    steps = export(filled, tmp_path / "steps.jsonl", per="step")
    assert steps.records > steps.examples
    parquet = export(filled, tmp_path / "out.parquet", fmt="parquet")
    import pandas as pd

    assert len(pd.read_parquet(parquet.path)) == kept


def test_export_counts_missing_screenshots(filled: Project, tmp_path: Path) -> None:
    filled.store.connect().execute("UPDATE steps SET screenshot = '/nonexistent/shot.png'")
    report = export(filled, tmp_path / "out.jsonl")
    assert report.missing_screenshots > 0
    assert "missing on disk: " + str(report.missing_screenshots) in report.card.read_text()


def test_compare_modes_at_a_task_start_state(filled: Project) -> None:
    from lbi.use.retrieval import compare

    data = compare(
        filled, "How many items are in the shop?", ["agentic", "examples-rag", "docs-rag"], task_id="h-count"
    )
    assert set(data["results"]) == {"agentic", "examples-rag", "docs-rag"}
    assert data["observation"]["state_signature"]
    assert data["results"]["agentic"]["observation"] and data["results"]["agentic"]["query"]
    assert data["results"]["docs-rag"]["instruction"][0]["kind"] == "doc"
    assert data["index"]["examples"] > 0


def test_eval_runs_another_agent_model_when_asked(filled: Project) -> None:
    from typer.testing import CliRunner

    from lbi.cli import app
    from lbi.config import save_config

    save_config(filled.dir, filled.config)  # the CLI reads the project from disk
    FakeModel.register_responder("act", lambda m, s: json.dumps({"reasoning": "count", "action": 'stop("2")'}))
    out = CliRunner().invoke(
        app,
        ["eval", "-p", str(filled.dir), "--modes", "baseline,agentic", "--run", "other", "--model", "fake/other-agent"],
    )
    assert out.exit_code == 0, out.output
    models = {
        r[0]
        for r in filled.store.query(
            "SELECT DISTINCT e.model FROM evaluations e JOIN runs r ON r.id = e.run_id WHERE r.name = 'other'"
        )
    }
    assert models == {"fake/other-agent"}
    assert "agentic vs baseline on 3 tasks" in out.output and "McNemar exact p = 1" in out.output
