"""The reply example in the agent's prompt (`models.agent_example`): an action on the page, or none."""

from __future__ import annotations

import json

from lbi.agent import History
from lbi.agent.policies import ExplorePolicy, LLMPolicy, example_action, outline_example, with_reply_example
from lbi.envs.tasks import CheckSpec, Task
from lbi.models.fake import FakeModel
from lbi.models.schema import schema_hint
from lbi.observations import actionable
from lbi.project import Project
from lbi.prompts.messages import agent_system
from lbi.prompts.replies import reply_schema


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


def test_an_explore_step_records_the_prompt_an_llm_agent_has_there(sql_project: Project) -> None:
    """Explore walks make most of the training data: their turns must be the agent's, reply example included,
    or a model is trained in one prompt and acts in another."""
    task = Task(id="t", env="sql", instruction="", check=CheckSpec(kind="answer", params={"expected": "x"}))
    for example in ("page", "none"):
        with sql_project.make_env() as env:
            obs = env.reset(None)
            history = History()
            FakeModel.enqueue(json.dumps({"reasoning": "look", "action": "noop()"}))
            agent = LLMPolicy(sql_project.llm(), example=example).act(env, task, obs, history)
            walk = ExplorePolicy(0, example=example).act(env, task, obs, history)
            assert walk.system == agent.system and walk.observation == agent.observation
            assert walk.system and ('"action": "..."' in walk.system) == (example == "none")


OUTLINE = """URL: http://127.0.0.1:1/miniwob/login-user.html
RootWebArea 'Login User Task', focused
\t[12] StaticText 'Enter the username'
\t[13] button 'Login'
\t[14] textbox ''
\t[15] LabelText ''
\t\tStaticText 'Password'
\t[16] generic, clickable=True
\t\tStaticText 'sed'
\t[17] link 'more'"""


def test_the_outline_rule_picks_the_elements_a_user_acts_on() -> None:
    assert actionable(OUTLINE) == [("13", "button"), ("14", "textbox"), ("16", "generic"), ("17", "link")]
    shown = [outline_example(OUTLINE, seed) for seed in range(5)]
    assert shown == ["click('13')", "fill('14', 'some text')", "click('16')", "click('17')", "click('13')"]
    assert outline_example("Tables: items(name, price)\n3 rows", 0) is None


def test_only_the_reply_example_of_a_system_message_is_replaced() -> None:
    placeholder = agent_system("A shop.", "click(bid): Click.", schema_hint(reply_schema(None, ".*")))
    shown = with_reply_example(placeholder, "click('13')")
    assert shown.startswith(placeholder.rsplit("\n\n", 1)[0]) and shown.endswith('"action": "click(\'13\')"}')
    assert with_reply_example(shown, None) == placeholder
    assert with_reply_example("no reply hint here", "click('1')") == "no reply hint here"
