"""The reply example in the agent's prompt (`models.agent_example`): an action on the page, or none."""

from __future__ import annotations

import json

from lbi.agent import History
from lbi.agent.policies import LLMPolicy, example_action
from lbi.envs.tasks import CheckSpec, Task
from lbi.models.fake import FakeModel
from lbi.project import Project


def _system(project: Project, example: str) -> tuple[str | None, str | None]:
    FakeModel.enqueue(json.dumps({"reasoning": "look", "action": "noop()"}))
    with project.make_env() as env:
        obs = env.reset(None)
        policy = LLMPolicy(project.llm(), example=example)
        decision = policy.act(
            env,
            Task(
                id="t",
                env=env.name,
                instruction="Find the pens.",
                check=CheckSpec(kind="answer", params={"expected": "pen"}),
            ),
            obs,
            History(),
        )
        return decision.system, example_action(env, obs, len(obs.text))


def test_the_page_example_names_an_element_and_none_does_not(sql_project: Project) -> None:
    on_page, sample = _system(sql_project, "page")
    none, _ = _system(sql_project, "none")
    assert on_page and none and sample
    assert f'"action": {json.dumps(sample)}' in on_page
    assert '"action": "..."' in none and json.dumps(sample) not in none
