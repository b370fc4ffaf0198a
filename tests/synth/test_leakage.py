"""The leakage check on content (`lbi.synth.leakage`), on a real store with the real embedder: the SQL demo's schema
page states a held-out answer; a synthesized example that asks a held-out question is kept out of the committee's
kept set, the export and the index until a person allows it; a held-out BrowserGym seed is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbi.cli import app
from lbi.config import save_config
from lbi.demos import demo_tasks
from lbi.docs.ingest import add_source
from lbi.envs.tasks import Task, task_rows
from lbi.models.fake import FakeModel
from lbi.paths import demo_data_dir
from lbi.project import Project
from lbi.store import committee, leaks
from lbi.synth.generate import generate_tasks
from lbi.synth.leakage import literals, refresh, task_answers
from lbi.synth.overlap import answer_in_context, containment
from lbi.synth.rollout import plan
from lbi.use.evaluate import leakage
from lbi.use.export import export
from lbi.use.index import Index

SCHEMA = demo_data_dir() / "sql" / "schema.md"
SQL_003 = "Who is the default owner of the 'frontend' component?"
SHOP_TASK = {
    "id": "h-count",
    "env": "sql",
    "instruction": "How many items are in the shop?",
    "split": "heldout",
    "check": {"kind": "answer", "params": {"expected": "2", "match": "number"}},
}


# -- the measures ----------------------------------------------------------------------------------
def test_an_answer_counts_where_its_question_is_asked() -> None:
    page = SCHEMA.read_text(encoding="utf-8")
    score, excerpt = answer_in_context(SQL_003, "bob", page)
    assert score == 1.0 and "frontend bob" in excerpt
    users = "Users are identified by their user name (alice, bob, carol, dave, anonymous)."
    assert answer_in_context(SQL_003, "bob", users)[0] == 0.0, "a name in a list of users answers nothing"
    assert answer_in_context(SQL_003, "bob", "The default owner of the frontend component is dave.")[0] == 0.0
    assert containment(SQL_003, "Who is the default owner of the 'frontend' component?") == 1.0
    assert containment("How many tickets are closed?", "How many tickets are open?") == pytest.approx(2 / 3)


def test_answers_and_literals_of_the_demo_tasks() -> None:
    tasks = {t.id: t for t in demo_tasks()}
    assert task_answers(tasks["sql-003"]) == ["bob"]
    assert task_answers(tasks["sql-010"]) == ["carol@example.org"]
    assert task_answers(tasks["sql-002"]) == [], "an sql_result query states no answer"
    assert "bob" not in task_answers(tasks["sql-032"]), "a write task's value is in its instruction: no secret"
    assert task_answers(tasks["trac-web-004"]) == ["2.0"], "a regex is not an answer; the reference's stop() is"
    assert literals("List the ids of the tickets with priority 'blocker'.") == {"blocker"}
    assert literals("What is the summary of ticket #7?") == {"7"}


# -- the SQL demo's schema page ----------------------------------------------------------------------
@pytest.fixture
def demo(sql_project: Project) -> Project:
    """A project with the SQL demo's documentation (its schema page) and held-out tasks, and one shop task."""
    add_source(sql_project, SCHEMA)
    sql_project.store.add_tasks(task_rows(demo_tasks("sql")))
    sql_project.store.add_tasks(task_rows([Task.model_validate(SHOP_TASK)]))
    return sql_project


def test_the_schema_page_states_a_held_out_answer(demo: Project) -> None:
    store = demo.store
    chunks = {r["id"]: r["text"] for r in store.query("SELECT id, text FROM chunks")}
    report = refresh(demo, ("chunk",))
    assert report.checked["chunk"] == len(chunks) > 1
    flagged = leaks.flags(store, "chunk")
    assert len(flagged) == 1, flagged
    chunk = flagged[0]
    assert "`frontend` (bob)" in chunks[chunk["item"]] and chunk["blocked"]
    assert [(h["heldout"], h["measure"], h["score"]) for h in chunk["hits"]] == [("sql-003", "answer", 1.0)]
    assert refresh(demo, ("chunk",)).checked["chunk"] == 0, "nothing new: nothing is checked again"

    # task generation does not read it, nor does the docs index hold it
    generated = generate_tasks(demo, per_chunk=1)
    assert (generated.chunks, generated.leaked) == (len(chunks) - 1, 1)
    assert not store.query("SELECT 1 FROM tasks WHERE chunk_id = ?", (chunk["item"],))
    index = Index(demo)
    index.sync()
    assert index.counts()["chunks"] == len(chunks) - 1

    # until a person allows it
    store.add_leak_override("chunk", chunk["item"], "allow", who="tester", note="the demo's owners are public")
    assert leaks.blocked(store, "chunk") == set()
    assert index.sync().chunks_added == 1
    store.add_leak_override("chunk", chunk["item"], "block", who="tester")
    assert index.sync().chunks_removed == 1


# -- synthesized examples ------------------------------------------------------------------------------
def _span(demo: Project, key: str, instruction: str, answer: str, *, run: str = "walk") -> int:
    """A synthesis trajectory of two steps (a query, then stop(answer)) and its example, judged yes by all."""
    store = demo.store
    run_id = store.start_run(run, "rollout")
    tid, _ = store.begin_trajectory(key, run_id=run_id, policy="explore", env="sql")
    store.add_step(tid, 0, action="execute_sql(\"SELECT owner FROM component WHERE name = 'frontend'\")")
    store.add_step(tid, 1, action=f"stop({answer!r})")
    store.finish_trajectory(tid, status="done", answer=answer)
    (example,) = store.add_examples(
        [{"trajectory_id": tid, "span_start": 0, "span_end": 1, "mode": "per-span", "instruction": instruction}]
    )
    for judge in demo.config.models.judges:
        store.set_verdict(example, judge.name, True, "fine")
    return example


def test_an_example_that_asks_a_held_out_question_is_kept_out(demo: Project, tmp_path: Path) -> None:
    store, judges = demo.store, len(demo.config.models.judges)
    asks = _span(demo, "w/1", "Which user is the default owner of the frontend component?", "bob")
    answers = _span(demo, "w/2", "Find out who owns the frontend component by default.", "bob")
    other = _span(demo, "w/3", "Who is the default owner of the 'backend' component?", "alice")
    clean = _span(demo, "w/4", "Show the time of the newest ticket change.", "2024-05-01")
    assert set(committee.kept_ids(store, "strict", judges)) == {asks, answers, other, clean}, "before the check"

    check = leakage(demo)
    assert check["ok"], "flagged examples are kept out: nothing leaked into training"
    assert check["content_flagged"]["example"] == [str(asks), str(answers)]
    hits = {f["item"]: {(h["heldout"], h["measure"]) for h in f["hits"]} for f in check["flags"]}
    assert {("sql-003", "embedding"), ("sql-003", "ngram"), ("sql-003", "answer")} <= hits[str(asks)]
    assert ("sql-003", "answer") in hits[str(answers)]
    assert committee.kept_ids(store, "strict", judges) == [other, clean], (
        "a one-value variant ('backend', alice) is another question"
    )

    # an override of the committee's verdict does not let a leak through; a leak decision does
    store.add_override(asks, "keep", who="tester")
    assert asks not in committee.kept_ids(store, "strict", judges)
    out = tmp_path / "data.jsonl"
    assert export(demo, out).examples == 2
    assert (
        "left out because they resemble a held-out task (`lbi leakage`): 2 examples"
        in out.with_name("data.card.md").read_text()
    )
    store.add_leak_override("example", str(asks), "allow", who="tester", note="checked: it is a different database")
    assert asks in committee.kept_ids(store, "strict", judges)
    assert {json.loads(line)["example_id"] for line in out.read_text().splitlines()} == {other, clean}

    # a training run that used a flagged example is a leak, allowed or not
    store.set_train_run(store.start_run("sft", "train"), base_model="tiny", examples_json=[answers, clean])
    check = leakage(demo)
    assert not check["ok"] and check["trained_on_flagged"] == {"sft": [answers]}
    assert check["content_allowed"]["example"] == [str(asks)]

    # an edited instruction is checked again
    store.edit_example(clean, "Which user is the default owner of the frontend component?", who="tester")
    assert refresh(demo, ("example",)).flagged["example"] == 1
    assert clean not in committee.kept_ids(store, "strict", judges)


def test_lbi_leakage_and_lbi_eval_list_what_is_flagged(demo: Project) -> None:
    asks = _span(demo, "w/1", "Which user is the default owner of the frontend component?", "bob")
    save_config(demo.dir, demo.config)
    runner = CliRunner()
    out = runner.invoke(app, ["leakage", "-p", str(demo.dir)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "resembling held-out tasks by content (kept out unless allowed): 1 examples, 0 tasks, 1 chunks" in text
    assert (
        f"example {asks} [kept out] ~ sql-003: ngram 0.857 Who is the default owner of the 'frontend' component?"
        in text
    )

    out = runner.invoke(
        app, ["leakage", "allow", "example", str(asks), "-p", str(demo.dir), "--note", "fine", "--who", "tester"]
    )
    assert out.exit_code == 0 and "allowed by tester" in out.output
    assert leaks.blocked(demo.store, "example") == set()
    out = runner.invoke(app, ["leakage", "block", "chunk", "nope", "-p", str(demo.dir)])
    assert out.exit_code != 0

    FakeModel.register_responder("act", lambda m, s: json.dumps({"reasoning": "count", "action": 'stop("2")'}))
    out = runner.invoke(app, ["eval", "-p", str(demo.dir), "--modes", "baseline", "--tasks", "h-count"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert (
        "by content (kept out unless allowed): 0 examples, 0 tasks, 1 chunks; allowed by a person: 1 examples" in text
    )
    assert f"example {asks} [allowed, allow by tester: fine]" in text
    assert "~ sql-003: answer 1.0 'bob' in: default owner of new tickets of the component" in text


# -- BrowserGym: seeds and goals ----------------------------------------------------------------------
def test_a_held_out_seed_is_caught_and_a_seeded_goal_text_is_not(project: Project) -> None:
    store = project.store
    held = {
        "id": "miniwob.click-button@1000",
        "env": "browsergym",
        "split": "heldout",
        "instruction": "miniwob.click-button (seed 1000): the goal is given at reset",
        "goal_at_reset": True,
        "start": {"task": "miniwob.click-button", "seed": 1000},
        "check": {"kind": "env_reward", "params": {}},
    }
    store.add_tasks(task_rows([Task.model_validate(held)]))
    evaluation = store.start_run("eval", "eval")
    seen, _ = store.begin_trajectory("eval/1", run_id=evaluation, task_id=held["id"], policy="llm", env="browsergym")
    store.set_trajectory_goal(
        seen, 'Click on the "Submit" button.', {"task": "miniwob.click-button", "seed": 1000}, as_instruction=True
    )
    walk = store.start_run("walk", "rollout")
    examples = []
    for k, (seed, instruction) in enumerate(
        [(1000, "Type hello."), (3, 'Click on the "Submit" button.'), (4, "Type hello.")]
    ):
        tid, _ = store.begin_trajectory(f"walk/{k}", run_id=walk, policy="explore", env="browsergym")
        store.set_trajectory_goal(tid, "", {"task": "miniwob.click-button", "seed": seed}, as_instruction=False)
        store.add_step(tid, 0, action="click('12')")
        examples += store.add_examples(
            [{"trajectory_id": tid, "span_start": 0, "span_end": 0, "mode": "per-span", "instruction": instruction}]
        )
    # a synthetic task on the held-out seed (`lbi tasks import` refuses to make one; an older store may hold it)
    store.add_tasks(
        [
            {
                "id": "syn@1000",
                "instruction": "miniwob.click-button (seed 1000)",
                "env": "browsergym",
                "split": "synthetic",
                "spec_json": {"start": {"task": "miniwob.click-button", "seed": 1000}},
            },
            {
                "id": "syn@5",
                "instruction": "miniwob.click-button (seed 5)",
                "env": "browsergym",
                "split": "synthetic",
                "spec_json": {"start": {"task": "miniwob.click-button", "seed": 5}},
            },
        ]
    )
    refresh(project)
    hits = {f["item"]: {(h["heldout"], h["measure"]) for h in f["hits"]} for f in leaks.flags(store)}
    # the synthetic seed's 'Click on the "Submit" button.' is not flagged: the goal is the task type's template text,
    # the same on every seed; the held-out thing is the held-out seed's page
    assert hits == {str(examples[0]): {(held["id"], "seed")}, "syn@1000": {(held["id"], "seed")}}
    assert leaks.blocked(store, "task") == {"syn@1000"}
    project.config.env.name = "browsergym"
    assert [item.key for item in plan(project, "llm", policy="llm")] == ["llm/syn@5"], "not rolled out"
