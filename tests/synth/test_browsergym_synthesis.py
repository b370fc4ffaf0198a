"""Synthesis end to end on a BrowserGym-backed environment with the fake model: BrowserGym task ids × seeds
imported for synthesis and held out (no seed on both sides), llm rollouts whose goal the task states at reset,
explore walks in parallel worker processes (one BrowserGym env each), backward construction, the committee,
retrieval, export, evaluation by the task's own reward, and the workbench replaying a bridged trajectory with its
screenshots."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from lbi.config import save_config
from lbi.envs import EnvError
from lbi.envs.browsergym.benchmark import import_benchmark
from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.synth.backward import construct
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout
from lbi.use.evaluate import evaluate, leakage
from lbi.use.export import export
from lbi.use.index import Index
from lbi.use.retrieval import Retriever
from tests.conftest import ROOT
from tests.use.test_export import check_adp

pytestmark = pytest.mark.browser  # starts it in the tests' own bodies (tests/tiers.py)


@contextmanager
def _quiet(stage: str) -> Iterator[Callable[[int, int], None]]:
    yield lambda done, total: None


def solver(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    """An agent for lbitest.type-word that reads the goal and the observation as the llm policy shows them."""
    turn = messages[-1]["content"]
    goal = re.search(r'Task: .*?type "(\w+)"', turn)
    assert goal, turn
    word = goal.group(1)
    page = turn.split("Current observation:", 1)[1]
    start = re.search(r"\[(\w+)\] generic, clickable=True\n\s*StaticText 'START'", page)
    box = re.search(r"\[(\w+)\] textbox 'Word'(?: value='(\w*)')?", page)
    submit = re.search(r"\[(\w+)\] button 'Submit'", page)
    if start:
        action, why = f"click('{start.group(1)}')", "start the task"
    else:
        assert box and submit, page
        if box.group(2) != word:
            action, why = f"fill('{box.group(1)}', '{word}')", f"type {word}"
        else:
            action, why = f"click('{submit.group(1)}')", "submit"
    return json.dumps({"reasoning": why, "action": action})


def label(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    actions = re.findall(r"(click|fill)\('(\w+)'", messages[-1]["content"])
    verb = {"click": "Click", "fill": "Type into"}[actions[0][0]] if actions else "Open"
    return json.dumps({"instruction": f"{verb} element {actions[0][1] if actions else 'page'} on the word form"})


def approve(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    return json.dumps({"reason": "the span does it", "verdict": True})


@pytest.fixture()
def bg_project(project: Project) -> Project:
    project.config.env.name = "browsergym"
    project.config.env.options = {
        "task": "lbitest.type-word",
        "imports": ["tests.envs.browsergym.bgym_tasks"],
        "synth_seeds": "0-99",
        "pre_observation_delay": 0.1,
    }
    project.config.env.description = "a word form behind a START overlay (BrowserGym)"
    project.config.models.judges = [j for j in project.config.models.judges if j.focus != "grounding"]
    save_config(project.dir, project.config)  # the worker processes read it
    return project


def test_browsergym_synthesis_end_to_end(bg_project: Project, tmp_path: Path) -> None:
    project = bg_project
    assert import_benchmark(project.store, project.config.env, "lbitest.type-*", "1000-1001") == (2, 2)
    assert import_benchmark(project.store, project.config.env, "lbitest.type-*", "3-4", split="synthetic") == (2, 2)
    with pytest.raises(EnvError, match=r"leakage: 1 .*lbitest.type-word@1000"):
        import_benchmark(project.store, project.config.env, "lbitest.type-word", "1000", split="synthetic")
    with pytest.raises(EnvError, match="leakage"):  # inside synth_seeds: explore walks may draw it
        import_benchmark(project.store, project.config.env, "lbitest.type-word", "50")

    FakeModel.register_responder("act", solver)
    llm = rollout(project, "bg-llm", policy="llm", max_steps=4, concurrency=1)  # the scripted agent is here
    assert (llm.done, llm.failed, llm.steps) == (2, 0, 6)  # START, type the word, submit: the task is over
    assert not project.store.query("SELECT error FROM steps WHERE error IS NOT NULL")
    rows = project.store.query("SELECT instruction, config_json FROM trajectories ORDER BY id")
    goals = {json.loads(r["config_json"])["seed"]: r["instruction"] for r in rows}  # the goal at reset
    assert goals == {
        s: f'Start the task, then type "{w}" in the Word box and submit it.' for s, w in ((3, "cloud"), (4, "maple"))
    }

    walks = rollout(project, "bg-explore", policy="explore", episodes=2, max_steps=2, concurrency=2)
    assert (walks.done, walks.failed, walks.steps) == (2, 0, 4)
    explored = project.store.query(
        "SELECT t.instruction, t.config_json, s.screenshot, s.action FROM trajectories t "
        "JOIN steps s ON s.trajectory_id = t.id WHERE t.policy = 'explore'"
    )
    assert all(r["instruction"] is None for r in explored)  # backward construction labels walks
    assert all(0 <= json.loads(r["config_json"])["seed"] <= 99 for r in explored)
    assert all((project.dir / r["screenshot"]).is_file() for r in explored)

    FakeModel.register_responder("backward-per-span", label)
    for judge in ("accomplishment", "instruction", "efficiency"):
        FakeModel.register_responder(f"judge-{judge}", approve)
    back = construct(project, mode="per-span", max_span=3)
    assert back.examples > 0 and back.failed == 0
    judged = judge_examples(project)
    assert judged.kept > 0

    records = [json.loads(line) for line in export(project, tmp_path / "bg.jsonl", per="step").path.open()]
    assert records and all(r["env"] == "browsergym" for r in records)
    assert "- click(bid, button='left', modifiers=[]): " in records[0]["messages"][0]["content"]
    assert any("clickable=True" in r["messages"][1]["content"] for r in records)
    steps = [json.loads(line) for line in export(project, tmp_path / "al.jsonl", fmt="agentlab").path.open()]
    assert steps and all(s["obs"]["url"].endswith(".html") and "[" in s["obs"]["axtree_txt"] for s in steps)
    adp = [json.loads(line) for line in export(project, tmp_path / "adp.jsonl", fmt="adp").path.open()]
    for record in adp:
        check_adp(record)
    web = [c for r in adp for c in r["content"] if c["class_"] == "web_observation"]
    assert web and all(Path(w["image_observation"]["content"]).is_file() for w in web)
    assert any(c.get("kwargs", {}).get("bid") for r in adp for c in r["content"] if c["class_"] == "api_action")

    report = evaluate(project, ["baseline", "agentic"], run="bg-eval", max_steps=4, limit=1)
    assert {m: (s.n, s.successes) for m, s in report.summaries.items()} == {"baseline": (1, 1), "agentic": (1, 1)}
    assert "reward 1" in project.store.query("SELECT detail FROM evaluations")[0][0]
    got = Retriever(project, "agentic", index=Index(project)).retrieve('Start the task, then type "lemon".')
    assert got.model_hits and "generic, clickable=True" in got.rendered  # a bridged step, in the agent's format
    check = leakage(project)
    assert check["ok"] and check["heldout_seeds_synthesized"] == []

    tid = project.store.query("SELECT id FROM trajectories WHERE key = 'bg-llm/lbitest.type-word@3'")[0][0]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_dir"] = str(project.dir)
    at.session_state["traj_pick"] = tid
    at.run()
    at.switch_page("pages/rollouts.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.code[0].value.startswith("click(") and len(at.image) == 1


def test_explore_from_tasks_records_the_reward(bg_project: Project) -> None:
    """Explore walks start where the synthetic tasks start (their seeds, not synth_seeds'), and every episode keeps
    the env's reward, which the `goal` mode and the `reward` judge read."""
    project = bg_project
    import_benchmark(project.store, project.config.env, "lbitest.type-word", "3-4", split="synthetic")
    walks = rollout(project, "walk", policy="explore", episodes=3, max_steps=1, explore_from="tasks")
    assert walks.done == 3
    FakeModel.register_responder("act", solver)
    rollout(project, "solve", policy="llm", task_ids=["lbitest.type-word@3"], max_steps=4)
    rows = project.store.query("SELECT key, config_json FROM trajectories ORDER BY key")
    config = {r["key"]: json.loads(r["config_json"]) for r in rows}
    assert [config[f"walk/explore-{k}"]["seed"] for k in range(3)] == [3, 4, 3]  # the tasks' starts, in turn
    assert all(c["reward"] == 0.0 for k, c in config.items() if k.startswith("walk/"))  # one click solves nothing
    assert config["solve/lbitest.type-word@3"]["reward"] == 1.0
    assert construct(project, mode="goal").examples == 1
    goal = project.store.query("SELECT instruction FROM examples WHERE mode = 'goal'")[0][0]
    assert goal == 'Start the task, then type "cloud" in the Word box and submit it.'
