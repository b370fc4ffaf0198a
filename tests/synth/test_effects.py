"""What a span did, read for judging: names as a person reads them, and the effects of recorded and replayed
steps."""

from __future__ import annotations

import pytest

from lbi.synth.effects import forms, numbers, quoted, read_effects

SHEET = '[A1] cell "Name"\n[B1] cell "Math"\n[C1] cell "Science"\n[A8] cell ""\n[A2] cell "Alice"\n[B2] cell "91"'


@pytest.mark.parametrize(
    "left, right",
    [
        ("names", "name"),
        ("Entries", "entry"),
        ("boxes", "box"),
        ("e-mail", "email"),
        ("MeetingNotes", "meeting notes"),
        ("field_summary", "field summary"),
        ("Alice's", "alice"),
        ("owned", "owner"),
        ("owns", "own"),
        ("closed", "close"),
        ("IDs", "id"),
        ("'Scores'", "scores"),
        ("TracRSS feeds", "trac rss feed"),
    ],
)
def test_names_match_as_a_person_reads_them(left: str, right: str) -> None:
    assert forms(left) == forms(right)


@pytest.mark.parametrize("left, right", [("status", "statu"), ("owner", "other"), ("1.1", "1.2"), ("class", "clas")])
def test_different_names_stay_different(left: str, right: str) -> None:
    assert forms(left) != forms(right)


def test_numbers_and_quoted_strings_as_written() -> None:
    assert numbers("ticket #7 of milestone 1.1, version 3.4.5; A1 is not a number") == ["7", "1.1", "3.4.5"]
    assert quoted("Add 'Confirmed on staging.' to Alice's ticket \"#2\"") == ["Confirmed on staging.", "#2"]


def test_a_recorded_span_shows_what_it_acted_on_wrote_and_answered() -> None:
    steps = [
        {
            "action": "fill('field-summary', 'Printing crashes')",
            "observation": '[field-summary] textbox "Summary"',
            "url": "http://h/newticket",
        },
        {"action": "click('submit')", "observation": '[submit] button "Create ticket"', "url": "http://h/newticket"},
        {"action": "stop('#21')", "observation": "Ticket #21 (new)", "url": "http://h/ticket/21"},
    ]
    eff = read_effects(steps, {"observation": "Ticket #21 (new)", "url": "http://h/ticket/21", "answer": "#21"})
    assert 'textbox "Summary"' in eff.acted and "field-summary" in eff.acted and "Printing crashes" in eff.acted
    assert eff.writes == ["Printing crashes", 'button "Create ticket"']  # a form sent: what it filled in
    assert eff.urls == ["http://h/ticket/21"] and eff.answer == "#21" and not eff.replayed
    assert "Ticket #21 (new)" in eff.shown and eff.chosen == [("Printing crashes", '[field-summary] textbox "Summary"')]


def test_a_failed_step_counts_for_nothing_and_a_query_without_rows_answers_nothing() -> None:
    failed = read_effects([{"action": "click('9')", "observation": '[9] link "Roadmap"', "error": "no element"}])
    assert failed.acted == [] and failed.errors == 1
    empty = read_effects(
        [{"action": "execute_sql(\"SELECT id FROM t WHERE s = 'x'\")", "observation": "Tables: t"}],
        {"observation": "id\n---\n(0 rows)"},
    )
    rows = read_effects(
        [{"action": "execute_sql('SELECT id FROM t')", "observation": "Tables: t"}],
        {"observation": "id\n---\n4\n(1 row)"},
    )
    assert not empty.query_result and rows.query_result and empty.chosen == [("x", "Tables: t")]


def test_cells_typed_into_bring_their_column_header_and_row_label() -> None:
    steps = [
        {"action": "click('A8')", "observation": SHEET},
        {"action": "type('Gina\\t88\\t79\\n')", "observation": SHEET},
        {"action": "hotkey('ctrl+s')", "observation": SHEET},
    ]
    eff = read_effects(steps)
    assert list(eff.cells) == ["A8", "B8", "C8"]  # Tab moves right; the last Enter leaves no cell behind
    assert eff.labels == ["Name", "Math", "Science"] and eff.writes == ["Gina\t88\t79\n"]
    formula = read_effects(
        [{"action": "click('B9')", "observation": SHEET}, {"action": "type('=SUM(B2:B2)\\n')", "observation": SHEET}]
    )
    assert "Alice" in formula.labels and "Math" in formula.labels and formula.chosen == []


def test_a_replayed_span_has_its_real_changes_not_the_records_guesses() -> None:
    steps = [
        {
            "action": "execute_sql(\"UPDATE ticket SET priority = 'major' WHERE id = 9\")",
            "observation": "Tables",
            "effect": {"rows": ["~ticket(id=9): priority: minor -> major; changetime: 1 -> 2"], "new_lines": ["OK"]},
        },
        {
            "action": "bash('git apply <<X\\n...X')",
            "observation": "$",
            "effect": {"diff": "--- a/v.py\n+++ b/v.py\n-    return 1\n+    return 2\n", "functions": ["Version.bump"]},
        },
    ]
    eff = read_effects(steps)
    assert eff.replayed and eff.functions == ["Version.bump"]
    assert eff.writes == ["ticket id=9 priority major changetime 2", "    return 1", "    return 2"]
    assert "minor" not in " ".join(eff.writes)  # what a change replaced is not what it wrote
