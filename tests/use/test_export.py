"""One format for acting and training: an exported step is the turn and the reply the agent had."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lbi.agent.policies import example_seed, outline_example, with_reply_example
from lbi.models.fake import FakeModel
from lbi.models.schema import schema_hint
from lbi.project import Project
from lbi.prompts.messages import agent_system
from lbi.prompts.replies import reply_schema
from lbi.synth.rollout import rollout
from lbi.use.export import export, step_system

ACTIONS = [
    "execute_sql('SELECT name FROM items')",
    "SELECT nonsense",
    "execute_sql('SELECT COUNT(*) FROM items')",
    "stop('2')",
]


def _agent_run(project: Project, policy: str) -> tuple[int, list[list[dict[str, Any]]]]:
    seen: list[list[dict[str, Any]]] = []

    def act(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        seen.append(messages)
        return json.dumps({"reasoning": f"step {len(seen)}", "action": ACTIONS[len(seen) - 1]})

    FakeModel.register_responder("act", act)
    project.store.add_tasks([{"id": "s1", "instruction": "How many items are there?", "env": "sql"}])
    rollout(project, "r", policy=policy, episodes=1, concurrency=1, max_steps=4)
    tid = project.store.query("SELECT id FROM trajectories")[0][0]
    return tid, seen


def _keep(project: Project, tid: int, start: int, end: int, instruction: str) -> None:
    ids = project.store.add_examples(
        [{"trajectory_id": tid, "span_start": start, "span_end": end, "mode": "per-span", "instruction": instruction}]
    )
    project.store.add_override(ids[0], "keep", who="tester")


def test_an_exported_step_is_the_prompt_and_the_reply_the_agent_had(sql_project: Project, tmp_path: Path) -> None:
    tid, seen = _agent_run(sql_project, "llm")
    assert len(seen) == 4
    _keep(sql_project, tid, 0, 3, "How many items are there?")  # the whole episode, the task's own words
    records = [json.loads(line) for line in export(sql_project, tmp_path / "s.jsonl", per="step").path.open()]
    assert [r["step"] for r in records] == [0, 1, 2, 3]
    for k, (record, prompt) in enumerate(zip(records, seen, strict=True)):
        assert record["messages"][:2] == prompt, f"step {k}: the exported turn differs from the agent's prompt"
        assert json.loads(record["messages"][2]["content"]) == {"reasoning": f"step {k + 1}", "action": ACTIONS[k]}
    assert "no such column: nonsense" in records[2]["messages"][1]["content"]  # the error the agent saw
    conversation = json.loads(export(sql_project, tmp_path / "e.jsonl", per="example").path.read_text())
    assert [m["role"] for m in conversation["messages"]] == ["system"] + ["user", "assistant"] * 4
    assert conversation["messages"][1:3] == records[0]["messages"][1:]


def test_a_relabelled_span_is_the_same_turn_with_its_own_instruction(sql_project: Project, tmp_path: Path) -> None:
    tid, seen = _agent_run(sql_project, "llm")
    _keep(sql_project, tid, 2, 3, "Count the items")
    records = [json.loads(line) for line in export(sql_project, tmp_path / "s.jsonl", per="step").path.open()]
    first = records[0]["messages"]
    assert first[0] == seen[2][0]  # the system message the agent had at step 2
    assert first[1]["content"].startswith("Task: Count the items\n\nPrevious actions:\n(none yet)\n\n")
    assert first[1]["content"].endswith(seen[2][1]["content"].split("Current observation:")[1])


def test_explore_steps_export_in_the_agent_format(sql_project: Project, tmp_path: Path) -> None:
    rollout(sql_project, "w", policy="explore", episodes=1, concurrency=1, max_steps=2)
    tid = sql_project.store.query("SELECT id FROM trajectories")[0][0]
    _keep(sql_project, tid, 0, 1, "Look at the items")
    record = json.loads(next(export(sql_project, tmp_path / "s.jsonl", per="step").path.open()))
    system, user, reply = record["messages"]
    assert "execute_sql(" in system["content"] and "Reply with one JSON object only" in system["content"]
    assert user["content"].startswith("Task: Look at the items") and "Current observation:" in user["content"]
    assert set(json.loads(reply["content"])) == {"reasoning", "action"}


def test_a_step_is_exported_with_the_reply_example_the_agent_is_shown_now(sql_project: Project) -> None:
    """An explore step recorded with the placeholder ("...") gets the page's example by the agent's rule, so
    training shows the model the prompt it acts in; with `models.agent_example = "none"` every example goes."""
    page = "URL: http://127.0.0.1:1/a\nRootWebArea 'A'\n\t[13] button 'ONE'\n\t[14] button 'TWO'"
    placeholder = agent_system("A page.", "click(bid): Click.", schema_hint(reply_schema(None, ".*")))
    shown = agent_system("A page.", "click(bid): Click.", schema_hint(reply_schema("click('14')", ".*")))
    walk = {"prompt_system": placeholder, "observation": page, "idx": 0}
    expected = outline_example(page, example_seed(0, page))
    assert expected and step_system(sql_project, walk) == with_reply_example(placeholder, expected)
    assert step_system(sql_project, {**walk, "prompt_system": shown}) == shown  # the agent's own example stays
    assert step_system(sql_project, {**walk, "observation": "3 rows"}) == placeholder  # no element to show
    sql_project.config.models.agent_example = "none"
    assert step_system(sql_project, {**walk, "prompt_system": shown}) == placeholder


def test_retrieved_examples_show_the_turns_the_agent_had(sql_project: Project) -> None:
    from lbi.agent import History
    from lbi.project import task_from_row
    from lbi.prompts.replies import reply_text
    from lbi.use.index import Index
    from lbi.use.retrieval import Retriever

    tid, seen = _agent_run(sql_project, "llm")
    _keep(sql_project, tid, 0, 3, "How many items are there?")
    Index(sql_project).sync()
    budget = sql_project.config.retrieval.token_budget
    result = Retriever(sql_project, "examples-rag").retrieve("How many items are there?")
    (example,) = result.used
    assert example.text.startswith("Task: How many items are there?\nObservation:\n")
    for k, prompt in enumerate(seen):  # each step: the observation as the agent saw it (cut to fit), its reply
        shown = prompt[1]["content"].split("Current observation:\n")[1]
        assert shown[:100] in example.text
        assert f"\nReply: {reply_text(f'step {k + 1}', ACTIONS[k])}" in example.text
    assert 0 < result.tokens <= budget
    with sql_project.make_env() as env:  # single steps (agentic retrieval) are one-step examples in that format
        obs = env.reset(task_from_row({"id": "q", "instruction": "count", "env": "sql"}))
        agentic = Retriever(sql_project, "agentic").retrieve("How many items are there?", obs, History())
    steps = [h for h in agentic.used if h.kind == "step"]
    assert steps and all(
        h.text.startswith("Task: How many items are there?\nObservation:\n") and h.text.count("\nReply: {") == 1
        for h in steps
    )
    assert {h.source for h in agentic.used} == {"observation", "model"}, "both parts reach the prompt"
    assert agentic.tokens <= budget
    sql_project.config.retrieval.token_budget = 100  # too small for the example: left out, never over budget
    assert Retriever(sql_project, "examples-rag").retrieve("How many items are there?").used == []


def check_adp(record: dict[str, Any]) -> None:
    """The Agent Data Protocol's rules (schema 1.2.0) that lbi's trajectories meet: the root fields, known classes,
    an action followed by an observation names a tool_call_id which that observation repeats, and only then."""
    assert set(record) == {"schema_version", "id", "content", "details"} and record["schema_version"] == "1.2.0"
    classes = {"text_observation", "web_observation", "image_observation", "api_action", "message_action"}
    content = record["content"]
    assert content[0] == {"class_": "text_observation", "content": content[0]["content"], "source": "user"}
    for k, item in enumerate(content):
        assert item["class_"] in classes
        following = content[k + 1] if k + 1 < len(content) else None
        if item["class_"] == "api_action":
            assert set(item) <= {"class_", "function", "kwargs", "description", "tool_call_id"}
            if following is not None:
                assert following["class_"].endswith("observation") and item["tool_call_id"]
                assert following["tool_call_id"] == item["tool_call_id"]
            else:
                assert "tool_call_id" not in item
        if item["class_"] == "text_observation":
            assert item["source"] in ("system", "user", "assistant")


def test_agentlab_and_adp_exports_load_back(sql_project: Project, tmp_path: Path) -> None:
    from datasets import load_dataset

    tid, _ = _agent_run(sql_project, "llm")
    _keep(sql_project, tid, 0, 3, "How many items are there?")
    _keep(sql_project, tid, 2, 2, "Count the items")
    steps = export(sql_project, tmp_path / "a.jsonl", fmt="agentlab")
    table = load_dataset("json", data_files=str(steps.path), split="train")
    assert table.num_rows == 5 and sum(table["reward"]) == 2.0 and sum(table["terminated"]) == 2
    first = table[0]
    assert first["goal"] == "How many items are there?" and first["action"] == ACTIONS[0]
    assert table[2]["obs"]["last_action"] == "SELECT nonsense"  # the step before, and the error it met
    assert "no such column: nonsense" in table[2]["obs"]["last_action_error"]
    assert "step records" in steps.card.read_text()
    adp = [json.loads(line) for line in export(sql_project, tmp_path / "t.jsonl", fmt="adp").path.open()]
    assert len(adp) == 2
    for record in adp:
        check_adp(record)
    whole = adp[0]["content"]
    assert [c["class_"] for c in whole] == ["text_observation"] + ["text_observation", "api_action"] * 3 + [
        "text_observation",
        "message_action",
    ]
    assert whole[2] == {
        "class_": "api_action",
        "function": "execute_sql",
        "description": "step 1",
        "kwargs": {"query": "SELECT name FROM items"},
        "tool_call_id": "call_0",
    }
    assert whole[-1] == {"class_": "message_action", "content": "2", "description": "step 4"}
