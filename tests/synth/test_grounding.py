"""The grounding judge: an instruction must name what its span acted on and not copy page text."""

from __future__ import annotations

import pytest

from lbi.project import Project
from lbi.synth.grounding import judge, words
from lbi.synth.judge import judge_examples

START_PAGE = ('[12] heading "Welcome to Trac"\nTrac is a minimalistic approach to web-based management of software '
              'projects.\n[14] link "Wiki" url="/wiki"\n[15] link "Timeline" url="/timeline"')
WIKI = [{"action": "click('14')", "observation": START_PAGE, "url": "/"}]
TICKET = [{"action": "fill('field-summary', 'Crash when saving a report file')",
           "observation": '[field-summary] textbox "Summary"'},
          {"action": "click('submit')", "observation": 'Ticket #21\n[submit] button "Create ticket"'}]
SQL = [{"action": 'execute_sql("SELECT name FROM component")', "observation": "Tables: component(name, owner)"}]


@pytest.mark.parametrize("instruction, steps, verdict, reason", [
    ("This task is to create a Trac 1.6 web-based tracking and management of software projects.", WIKI, False,
     "names nothing the span acted on"),
    ("Trac is a minimalistic approach to web-based management of software projects.", WIKI, False,
     "repeats page text the span did not type: 'trac is a minimalistic approach to'"),
    ("Open the Wiki.", WIKI, True, "names what the span acted on: wiki"),
    ("Create a ticket titled 'Crash when saving a report file'.", TICKET, True, "crash"),  # typed, not copied
    ("List every component name.", SQL, True, "component, name"),
    ("Show me the milestones.", SQL, False, "SELECT name FROM component"),
])
def test_verdicts_and_reasons(instruction: str, steps: list[dict], verdict: bool, reason: str) -> None:
    got = judge(instruction, steps)
    assert got.verdict is verdict and reason in got.reason


def test_failed_steps_ground_nothing_and_words_split_names() -> None:
    failed = [{**WIKI[0], "error": "no element with bid '14'"}]
    assert not judge("Open the Wiki.", failed).verdict
    assert words("goto('/wiki/MeetingNotes') snake_case") == ["goto", "wiki", "meeting", "notes", "snake", "case"]


def test_the_committee_runs_the_rule_without_a_model(sql_project: Project) -> None:
    from lbi.synth.backward import construct
    from lbi.synth.rollout import rollout

    rollout(sql_project, "r", policy="explore", episodes=1, concurrency=1, max_steps=2)
    construct(sql_project, mode="per-span")
    report = judge_examples(sql_project)
    rows = sql_project.store.query("SELECT judge, model, reason FROM verdicts WHERE judge = 'grounding'")
    assert len(rows) == report.examples == 3 and all(r["model"] == "rule/grounding" for r in rows)
    calls = sql_project.store.query("SELECT COUNT(*) FROM llm_calls WHERE purpose LIKE 'judge-%'")[0][0]
    assert calls == 3 * report.examples  # the three model judges only
    assert report.verdicts == 4 * report.examples
