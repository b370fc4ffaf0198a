"""The grounding judge: an instruction must name what its span acted on and changed, ask for what it did (a change
made, a question answered) and not copy page text; the old one-word rule is kept as `overlap_judge`."""

from __future__ import annotations

from typing import Any

import pytest

from lbi.project import Project
from lbi.synth.grounding import (
    asks_change,
    asks_question,
    content_words,
    identifiers,
    judge,
    overlap_judge,
    specifics,
    words,
)
from lbi.synth.judge import judge_examples

START_PAGE = (
    '[12] heading "Welcome to Trac"\nTrac is a minimalistic approach to web-based management of software '
    'projects.\n[14] link "Wiki" url="/wiki"\n[15] link "Timeline" url="/timeline"'
)
WIKI = [{"action": "click('14')", "observation": START_PAGE, "url": "/"}]
NEW_TICKET = (
    '[field-summary] textbox "Summary"\n[field-component] combobox "Component"\n[submit] button "Create ticket"'
)
TICKET = [
    {"action": "fill('field-summary', 'Crash when saving a report file')", "observation": NEW_TICKET},
    {"action": "click('submit')", "observation": NEW_TICKET},
]
SQL = [{"action": 'execute_sql("SELECT name FROM component")', "observation": "Tables: component(name, owner)"}]
SQL_AFTER = {"observation": "name\n---\nbackend\nfrontend\n(2 rows)"}
TICKET_13 = "\n".join(
    [
        'heading "Nightly backup job fails silently" level=1',
        'columnheader "Reported by:"',
        '[22] link "Alice Anders"',
        'columnheader "Owned by:"',
        '[23] link "Dave Diaz"',
        'columnheader "Priority:"',
        '[24] link "critical"',
        'columnheader "Milestone:"',
        '[25] link "1.1"',
        'columnheader "Component:"',
        '[26] link "infra"',
    ]
)
LOOKUP = [
    {"action": "goto('/ticket/13')", "observation": START_PAGE, "url": "/"},
    {"action": "stop('Dave Diaz')", "observation": TICKET_13, "url": "/ticket/13"},
]
SHEET = (
    '[A1] cell "Name"\n[B1] cell "Math"\n[C1] cell "Science"\n[A2] cell "Alice"\n[B2] cell "91"\n'
    '[A7] cell "Farid"\n[B7] cell "77"'
)
AVERAGE = [
    {"action": "click('B8')", "observation": SHEET},
    {"action": "type('=AVERAGE(B2:B7)\\n')", "observation": SHEET},
    {"action": "hotkey('ctrl+s')", "observation": SHEET},
]


@pytest.mark.parametrize(
    "instruction, steps, after, verdict, reason",
    [
        (
            "This task is to create a Trac web-based tracking and management of software projects.",
            WIKI,
            None,
            False,
            "gives Trac, which is nothing the span acted on",
        ),
        (
            "Trac is a minimalistic approach to web-based management of software projects.",
            WIKI,
            None,
            False,
            "repeats page text the span did not type: 'trac is a minimalistic approach to'",
        ),
        ("Open the Wiki.", WIKI, None, True, "names what the span acted on: wiki"),
        ("Create a ticket titled 'Crash when saving a report file'.", TICKET, None, True, "crash"),  # typed, not copied
        ("List the names of all components.", SQL, SQL_AFTER, True, "name, component"),  # names = name
        ("Show me the milestones.", SQL, SQL_AFTER, False, "names little the span acted on"),
        ("Who owns ticket #13? Give the user's name.", LOOKUP, None, True, "own, ticket, 13"),
        ("Who owns ticket #14?", LOOKUP, None, False, "gives 14, which is nothing the span acted on or changed"),
        (
            "Below the Math column, in B8, compute the average Math score with a formula; save.",
            AVERAGE,
            None,
            True,
            "math",
        ),  # Math: the header of the column the span wrote in
        ("In C8, compute the average Science score with a formula; save.", AVERAGE, None, False, "C8"),
    ],
)
def test_verdicts_and_reasons(
    instruction: str, steps: list[dict], after: dict | None, verdict: bool, reason: str
) -> None:
    got = judge(instruction, steps, after=after)
    assert got.verdict is verdict and reason in got.reason, got


def test_a_question_must_be_answered_with_what_the_page_shows_next_to_what_it_asks() -> None:
    assert "does not answer" in judge("Who owns ticket #13?", LOOKUP[:1], after={"observation": TICKET_13}).reason
    wrong = [LOOKUP[0], {**LOOKUP[1], "action": "stop('critical')"}]  # on the page, but it is the priority
    assert "next to nothing the question asks about" in judge("Who owns ticket #13?", wrong).reason
    made_up = [LOOKUP[0], {**LOOKUP[1], "action": "stop('Erin Evans')"}]
    assert "which no page the span saw shows" in judge("Who owns ticket #13?", made_up).reason


def test_a_change_must_be_made_with_the_values_asked_for() -> None:
    typed_only = [{"action": "goto('/newticket')", "observation": START_PAGE}, TICKET[0]]  # the form was never sent
    assert "changed nothing" in judge("Create a ticket titled 'Crash when saving a report file'.", typed_only).reason
    other = [
        {"action": "select_option('field-component', 'frontend')", "observation": NEW_TICKET + "\nbackend\n"},
        {"action": "click('submit')", "observation": NEW_TICKET},
    ]
    got = judge("Create a ticket in the backend component.", other)
    assert not got.verdict and "frontend" in got.reason
    replayed = [
        {
            "action": "execute_sql(\"UPDATE ticket SET priority = 'minor' WHERE id = 9\")",
            "observation": "Tables: ticket(id, priority)",
            "effect": {"rows": ["~ticket(id=9): priority: major -> minor"]},
        }
    ]
    assert not judge("Change the priority of ticket 9 to 'major'.", replayed).verdict  # it wrote minor
    assert judge("Change the priority of ticket 9 to 'minor'.", replayed).verdict


def test_a_query_must_negate_when_the_instruction_says_not() -> None:
    query = [
        {
            "action": "execute_sql(\"SELECT id FROM ticket WHERE status = 'closed'\")",
            "observation": "Tables: ticket(id, status)",
        }
    ]
    after = {"observation": "id\n---\n3\n(1 row)"}
    assert "negates nothing" in judge("List the ids of the tickets that are not closed.", query, after=after).reason
    assert judge("List the ids of the closed tickets.", query, after=after).verdict


def test_a_bug_report_is_matched_against_the_functions_the_fix_changed() -> None:
    fix: list[dict[str, Any]] = [
        {
            "action": "bash('git apply <<EOF ... EOF')",
            "observation": "/testbed$",
            "effect": {
                "diff": "--- a/v.py\n+++ b/v.py\n"
                "-        return cls(self._major, self._minor + 1, self._patch)\n"
                "+        return cls(self._major, self._minor + 1)\n",
                "functions": ["Version.bump_minor"],
            },
        }
    ]
    report = "Version.parse('3.4.5').bump_minor() returns 3.5.5; it should be 3.5.0."
    assert judge(report, fix).verdict
    other = "bump_major keeps the old minor part: Version.parse('3.4.5').bump_major() gives 4.4.0 instead of 4.0.0."
    assert "the report names bump_major; the change touches Version.bump_minor" in judge(other, fix).reason
    tested = [{**fix[0], "effect": {**fix[0]["effect"], "fixed": ["t::minor"], "broken": []}}]
    assert judge(report, tested).verdict
    idle = [{**fix[0], "effect": {**fix[0]["effect"], "fixed": [], "broken": []}}]
    assert "makes no failing test pass" in judge(report, idle).reason  # the right place, the wrong change
    breaking = [{**fix[0], "effect": {**fix[0]["effect"], "fixed": ["t::minor"], "broken": ["t::patch"]}}]
    assert "breaks 1 test(s) that passed: t::patch" in judge(report, breaking).reason


def test_the_old_rule_is_kept_for_the_benchmark() -> None:
    assert not overlap_judge("List the names of all components.", SQL).verdict  # "names" is not "name" to it
    assert overlap_judge("Show me the component milestones.", SQL).verdict  # one shared word was enough
    assert not overlap_judge("Open the Wiki.", [{**WIKI[0], "error": "no element with bid '14'"}]).verdict


def test_what_an_instruction_asks_and_names() -> None:
    assert asks_question("How many tickets are closed?") and not asks_change("How many tickets are closed?")
    assert asks_change("Rename the sheet Grades to Scores and save.") and not asks_question("Open the roadmap.")
    assert specifics("Add a student Gina with Math 88 in A8, then save 'grades.xlsx'.") == [
        "'grades.xlsx'",
        "A8",
        "88",
        "Gina",
        "Math",
    ]
    assert identifiers("Version.parse('1.2.3').bump_minor() returns 1.3.3; next_version too") == [
        "bump_minor",
        "next_version",
    ]
    assert content_words("Close ticket #5; how many tickets are closed?") == ["ticket", "5", "count", "clos"]
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
