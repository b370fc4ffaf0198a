"""Backward construction with no model (`hindsight`, `goal`), the `reward` judge, and training on one mode or a
fixed budget of records, on trajectories written to a real store as a BrowserGym rollout writes them."""

from __future__ import annotations

import json

import pytest

from lbi.config import JudgeSpec
from lbi.project import Project
from lbi.synth import hindsight
from lbi.synth.backward import construct
from lbi.synth.judge import judge_examples
from lbi.train.data import TrainDataError, training_data

PAGE = """RootWebArea 'Click Button Task', focused
\t[12] button 'Yes', clickable=True
\t[13] textbox '', clickable=True
\t[15] button 'Submit', clickable=True
\t[16] link "Read more about it"
\tStaticText 'lorem ipsum'
\t[17] generic, clickable=True
\t\tStaticText 'sed'
\t\t\tInlineTextBox 'sed'
\tStaticText 'massa sed'"""


def _trajectory(project: Project, key: str, actions: list[tuple[str, str | None]], goal: str, reward: float) -> int:
    """A finished trajectory of `actions` (action, error) on PAGE, with the goal and reward the env gave."""
    store = project.store
    tid, _ = store.begin_trajectory(
        key, run_id=None, task_id=None, instruction=None, policy="explore", model=None, env="browsergym"
    )
    store.set_trajectory_goal(tid, goal, {"task": "miniwob.click-button", "seed": 3}, as_instruction=False)
    for k, (action, error) in enumerate(actions):
        store.add_step(tid, k, observation=PAGE, action=action, reasoning="explore", url="http://x/", error=error)
    store.finish_trajectory(tid, status="done", reward=reward)
    return tid


def test_describe_steps_and_spans() -> None:
    step = {"observation": PAGE, "error": None}
    assert hindsight.describe_step({**step, "action": "click('12')"}) == 'Click on the "Yes" button'
    assert hindsight.describe_step({**step, "action": "fill('13', 'Kasie')"}) == 'Enter "Kasie" into the text field'
    assert hindsight.describe_step({**step, "action": 'click("16")'}) == 'Click on the "Read more about it" link'
    assert hindsight.describe_step({**step, "action": "fill('13', 'Zoë \"Z\"')"}) == (
        'Enter "Zoë "Z"" into the text field'
    )
    # a MiniWoB++ link: an element with no name of its own, named by the text it holds
    assert hindsight.describe_step({**step, "action": "click('17')"}) == 'Click on the "sed" element'
    assert hindsight.describe_step({**step, "action": "click('13')"}) == "Click on the text field"
    nameless = {"observation": "RootWebArea ''\n\t[20] generic, clickable=True\n\t[21] button ''", "error": None}
    assert hindsight.describe_step({**nameless, "action": "click('20')"}) is None  # "Click on the element."
    assert hindsight.describe_step({**nameless, "action": "click('21')"}) is None
    assert hindsight.describe_step({**step, "action": "click('99')"}) is None  # a bid the page does not show
    assert hindsight.describe_step({**step, "action": "click('12')", "error": "not visible"}) is None
    assert hindsight.describe_step({**step, "action": "scroll(0, 200)"}) is None
    assert hindsight.describe_step({**step, "action": "stop('done')"}) is None
    pair = [{**step, "action": "fill('13', 'Kasie')"}, {**step, "action": "click('15')"}]
    assert hindsight.describe_span(pair) == 'Enter "Kasie" into the text field and click on the "Submit" button.'
    assert hindsight.describe_span([*pair, {**step, "action": "click('99')"}]) is None


def test_reward_judge() -> None:
    config = {"goal": 'Click on the "Yes" button.', "reward": 1.0}
    ok, why = hindsight.judge_reward('click on the  "Yes" button.', [{"idx": 0, "error": None}], config)
    assert ok and "reward was 1" in why
    ok, why = hindsight.judge_reward('Click on the "Yes" button.', [], {**config, "reward": 0.0})
    assert not ok and "reward was 0" in why
    ok, why = hindsight.judge_reward('Click on the "Yes" button.', [], {"goal": config["goal"]})
    assert not ok and "no reward" in why
    ok, why = hindsight.judge_reward("Click on the link.", [{"idx": 1, "error": "element not visible"}], config)
    assert not ok and "step 1 failed" in why
    assert hindsight.judge_reward("Click on the link.", [{"idx": 1, "error": None}], config)[0]


def test_rule_modes_committee_and_training_budget(project: Project) -> None:
    won = _trajectory(project, "r/explore-0", [("click('12')", None)], 'Click on the "Yes" button.', 1.0)
    lost = _trajectory(
        project,
        "r/explore-1",
        [("fill('13', 'river')", None), ("click('15')", None), ("click('16')", "Timeout")],
        'Click on the "No" button.',
        0.0,
    )
    goal = construct(project, mode="goal")
    assert (goal.trajectories, goal.examples) == (2, 1)  # only the rewarded episode
    back = construct(project, mode="hindsight", max_span=2)
    assert back.examples == 4  # won: [0]; lost: [0], [1], [0-1]; the failed click says nothing
    assert construct(project, mode="hindsight").examples == 0  # a re-run adds nothing
    rows = project.store.query("SELECT trajectory_id, span_start, span_end, mode, instruction, model FROM examples")
    made = {(r[0], r[1], r[2], r[3]): r[4] for r in rows}
    assert made[(won, 0, 0, "goal")] == 'Click on the "Yes" button.'
    assert made[(lost, 0, 1, "hindsight")] == 'Enter "river" into the text field and click on the "Submit" button.'
    assert {r[5] for r in rows} == {"rule/goal", "rule/hindsight"}

    project.config.models.judges = [JudgeSpec(name="reward", focus="reward")]
    judge_examples(project)
    verdicts: dict[str, int] = {
        r[0]: r[1]
        for r in project.store.query(
            "SELECT e.mode || ':' || e.span_start || '-' || e.span_end || '@' || e.trajectory_id, v.verdict "
            "FROM verdicts v JOIN examples e ON e.id = v.example_id"
        )
    }
    assert verdicts[f"goal:0-0@{won}"] == 1
    assert verdicts[f"hindsight:0-1@{lost}"] == 1  # a relabel: the reward does not apply, the actions ran

    goal_only = training_data(project, modes=["goal"])
    assert len(goal_only.records) == 1
    turn, reply = goal_only.records[0]["messages"][1:]
    assert 'Task: Click on the "Yes" button.' in turn["content"]  # the reasoning says what the step does
    assert json.loads(reply["content"]) == {"reasoning": 'Click on the "Yes" button.', "action": "click('12')"}
    every = training_data(project)
    budget = training_data(project, max_records=2)
    assert len(every.records) > 2 and len(budget.records) == 2
    assert [r["messages"] for r in budget.records] == [
        r["messages"] for r in training_data(project, max_records=2).records
    ]
    assert set(budget.example_ids) == {r["example_id"] for r in budget.records}
    with pytest.raises(TrainDataError, match="are counts"):
        training_data(project, max_per_instruction=-1)
    with pytest.raises(TrainDataError, match="among the batched examples"):
        training_data(project, modes=["batched"])


def test_a_rewarded_click_the_rule_cannot_name_restates_the_goal(project: Project) -> None:
    """A goal example whose click is on an element the rule cannot name: the record's reasoning restates the
    instruction, never the walk's own ("explore")."""
    _trajectory(project, "r/explore-0", [("click('99')", None)], "Close the dialog box.", 1.0)
    construct(project, mode="goal")
    project.config.models.judges = [JudgeSpec(name="reward", focus="reward")]
    judge_examples(project)
    (record,) = training_data(project, modes=["goal"]).records
    assert json.loads(record["messages"][-1]["content"]) == {
        "reasoning": "Close the dialog box.",
        "action": "click('99')",
    }


LOGIN = """RootWebArea 'Login User Task', focused
\t[14] paragraph ''
\t\t[15] LabelText ''
\t\t\tStaticText 'Username'
\t\t\t\tInlineTextBox 'Username'
\t\t[16] textbox '', clickable=True
\t[17] paragraph ''
\t\tStaticText 'Password'
\t\t[19] textbox '', clickable=True
\t[20] textbox '', clickable=True
\t[21] button 'Login', clickable=True"""


def test_a_nameless_field_is_said_by_its_label() -> None:
    """MiniWoB++'s login form (as BrowserGym shows it): each field's label is its previous sibling."""

    def said(action: str) -> str | None:
        return hindsight.describe_step({"observation": LOGIN, "action": action, "error": None})

    assert said("fill('16', 'cierra')") == 'Enter "cierra" into the "Username" text field'
    assert said("fill('19', '11L')") == 'Enter "11L" into the "Password" text field'
    assert said("click('16')") == 'Click on the "Username" text field'
    assert said("fill('20', 'x')") == 'Enter "x" into the text field'  # its previous sibling is no label
    assert hindsight.field_label(LOGIN, "99") == ""
