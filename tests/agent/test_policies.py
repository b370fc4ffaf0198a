"""The llm policy on the real embedded model: its actions are held to the environment's action grammar."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lbi.agent import Agent, Decision, Recorder
from lbi.agent.policies import LLMPolicy
from lbi.config import Config
from lbi.envs.base import Observation
from lbi.envs.sql import SqlEnv
from lbi.envs.tasks import CheckSpec, Task
from lbi.models.llm import LLM

pytestmark = pytest.mark.local_model


class Keep(Recorder):
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def step(self, index: int, obs: Observation, decision: Decision, after: Observation, seconds: float) -> None:
        self.decisions.append(decision)


def test_the_embedded_model_writes_only_actions_the_env_parses(local_model_config: Config, tmp_path: Path) -> None:
    db = tmp_path / "library.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, year INTEGER)")
        conn.executemany("INSERT INTO books (title, year) VALUES (?, ?)", [("Kindred", 1979), ("Dune", 1965)])
    config = local_model_config.model_copy(deep=True)
    config.llm.cache = False
    task = Task(
        id="t",
        env="sql",
        instruction="Which books were published after 1970?",
        check=CheckSpec(kind="answer", params={"expected": "Kindred"}),
    )
    recorder = Keep()
    with SqlEnv(db) as env:
        Agent(LLMPolicy(LLM(config), env_description="A small library database."), env, recorder, max_steps=3).run(task)
        assert recorder.decisions
        for decision in recorder.decisions:
            assert decision.error is None, decision.error
            env.parse(decision.action)  # raises ActionParseError if the grammar let a bad call through


def test_the_server_takes_the_web_action_grammar(local_model_config: Config) -> None:
    """The web action space's grammar (14 actions, lists, numbers, both quotes) is one llama.cpp accepts: a
    pattern it cannot parse would take the server down (seen with a `\\.` in a pattern)."""
    from lbi.envs.actions import action_pattern, parse_action
    from lbi.envs.web.actions import WEB_ACTIONS
    from lbi.prompts.replies import reply_schema

    config = local_model_config.model_copy(deep=True)
    config.llm.cache = False
    messages = [{"role": "user", "content": 'Page: [12] link "Roadmap" url="/roadmap"\nTask: open the roadmap.'}]
    schema = reply_schema("click('12')", action_pattern(WEB_ACTIONS))
    reply = LLM(config).complete(messages, role="agent", schema=schema, max_tokens=200)
    parse_action(reply.parsed.action, WEB_ACTIONS)
