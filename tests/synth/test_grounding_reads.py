"""The grounding judge reads what a span did in each environment: a query's rows and what picks them, a sheet's
cells, a fix's tests, a page's elements as MiniWoB++ names them (issue 26: the no-model judges on the shipped set)."""

from __future__ import annotations

from typing import Any

from lbi.synth.grounding import identifiers, judge

SCHEMA = (
    "Tables:\nticket(id, type, time, changetime, component, owner, status, resolution, milestone)\nmilestone(name, due)"
)


def _sql(query: str, result: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return [{"action": f'execute_sql("{query}")', "observation": SCHEMA}], {"observation": result}


def test_the_words_that_pick_a_querys_rows_must_be_in_the_query() -> None:
    steps, after = _sql(
        "SELECT owner, COUNT(*) FROM ticket WHERE status != 'closed' GROUP BY owner ORDER BY 2 DESC, owner",
        "owner | COUNT(*)\n--- | ---\nalice | 3\n(1 rows)",
    )
    asked = (
        "For each owner, how many open (not closed) tickets do they have? Order by the count, highest first, "
        "then by owner."
    )
    assert judge(asked, steps, after=after).verdict
    other = asked.replace("each owner", "each invalid")
    assert "picks its rows by invalid" in judge(other, steps, after=after).reason


def test_what_is_not_so_must_be_what_the_query_compares_with() -> None:
    steps, after = _sql(
        "SELECT type, COUNT(*) FROM ticket WHERE status != 'closed' GROUP BY type",
        "type | COUNT(*)\n--- | ---\ndefect | 6\n(1 rows)",
    )
    assert judge("For each ticket type, how many tickets are open (not closed)?", steps, after=after).verdict
    got = judge("For each ticket type, how many tickets are open (not assigned)?", steps, after=after)
    assert "not assigned" in got.reason and not got.verdict


def test_one_thing_asked_is_one_row_returned() -> None:
    one, after_one = _sql("SELECT id FROM ticket ORDER BY changetime DESC LIMIT 1", "id\n---\n10\n(1 rows)")
    two, after_two = _sql("SELECT id FROM ticket ORDER BY changetime DESC LIMIT 2", "id\n---\n10\n3\n(2 rows)")
    asked = "Which ticket was modified most recently? Give its id."
    assert judge(asked, one, after=after_one).verdict
    assert "returns 2 rows" in judge(asked, two, after=after_two).reason


def test_a_date_functions_modifier_is_not_a_value_chosen_and_a_computation_named_is_made() -> None:
    steps, after = _sql(
        "SELECT date(due / 1000000, 'unixepoch') FROM milestone WHERE name = '1.1'",
        "date(due / 1000000, 'unixepoch')\n---\n2025-03-03\n(1 rows)",
    )
    assert judge("On which date (YYYY-MM-DD, UTC) is milestone 1.1 due?", steps, after=after).verdict
    counts, after_counts = _sql(
        "SELECT milestone, COUNT(*) FROM ticket GROUP BY milestone",
        "milestone | COUNT(*)\n--- | ---\n1.0 | 4\n(1 rows)",
    )
    asked = "For each milestone that has tickets, give its name and the percentage of its tickets that are closed."
    assert "asks for the percentage" in judge(asked, counts, after=after_counts).reason


def test_a_state_asked_for_must_show_in_the_changed_rows() -> None:
    def update(status: str) -> list[dict[str, Any]]:
        return [
            {
                "action": f"execute_sql(\"UPDATE ticket SET status = '{status}', resolution = 'invalid' "
                'WHERE id = 20")',
                "observation": SCHEMA,
                "effect": {"rows": [f"~ticket(id=20): status: new -> {status}; resolution:  -> invalid"]},
            }
        ]

    assert judge("Close ticket 20 with the resolution 'invalid'.", update("closed")).verdict
    assert "asks for closed" in judge("Close ticket 20 with the resolution 'invalid'.", update("new")).reason


SHEET = (
    '[A1] cell "Name"\n[B1] cell "Math"\n[C1] cell "Science"\n[A2] cell "Alice"\n[B2] cell "91"\n[C2] cell "85"\n'
    '[A3] cell "Bruno"\n[B3] cell "78"\n[C3] cell "88"\n[A4] cell "Chen"\n[B4] cell "85"\n[C4] cell "93"'
)


def test_a_cell_is_read_by_its_columns_header_and_its_rows_label() -> None:
    answer = [{"action": "stop('93')", "observation": SHEET}]
    assert judge("What is Chen's Science score? Answer with the number.", answer).verdict
    assert not judge("What is Alice's Math score? Answer with the number.", answer).verdict  # 93 is not hers


def test_a_header_that_looks_like_a_cell_address_names_a_column() -> None:
    sales = '[A1] cell "Region"\n[B1] cell "Q1"\n[C1] cell "Q4"\n[A2] cell "East"\n[C2] cell "900"'
    answer = [{"action": "stop('East')", "observation": sales}]
    assert judge("Which region had the highest Q4? Answer with the region.", answer).verdict
    assert "gives Q5" in judge("Which region had the highest Q5? Answer with the region.", answer).reason


SALES = '[A1] cell "Region"\n[B1] cell "Q1"\n[A2] cell "East"\n[B2] cell "900"\n[A6] cell "West"\n[B6] cell "800"'


def test_a_formula_that_fails_is_no_change_made_and_cells_outside_a_named_range_are_too_many() -> None:
    def formula(shown: str) -> list[dict[str, Any]]:
        return [
            {"action": "click('B7')", "observation": SALES},
            {"action": f"type('{shown.split(' = ')[0]}\\n')", "observation": SALES},
            {
                "action": "hotkey('ctrl+s')",
                "observation": SALES,
                "effect": {"cells": [f"s.xlsx Sales!B7:  -> {shown}"]},
            },
        ]

    asked = "In B7, compute the total Q1 sales with a formula; save."
    assert judge(asked, formula("=SUM(B2:B6) = 5500")).verdict
    assert "leaves an error" in judge(asked, formula("=readme(B2:B6) = #NAME?")).reason
    bold: list[dict[str, Any]] = [
        {"action": "drag('A1', 'C2')", "observation": SHEET},
        {"action": "hotkey('ctrl+b')", "observation": SHEET},
        {
            "action": "hotkey('ctrl+s')",
            "observation": SHEET,
            "effect": {"cells": [f"s.xlsx Stock!{c}: x -> x (bold)" for c in ("A1", "B1", "C1", "A2", "B2", "C2")]},
        },
    ]
    assert not judge("Make the header row (A1 to C1) bold and save.", bold).verdict
    assert judge("Make the first two rows (A1 to C2) bold and save.", bold).verdict


def _fix(functions: list[str], fixed: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "action": "bash('git apply <<EOF ... EOF')",
            "observation": "/testbed$",
            "effect": {"diff": "-a\n+b\n", "functions": functions, "fixed": fixed, "broken": [], "unfixed": []},
        }
    ]


def test_a_fix_is_read_by_the_tests_it_makes_pass_and_by_what_special_methods_are() -> None:
    helper = _fix(
        ["Version._increment_string"], ["t/test_bump.py::test_should_bump_build[x]", "t/b.py::test_bump_build_digits"]
    )
    report = "bump_build loses characters: Version.parse('3.4.5-rc.1+build.9').bump_build() gives build10."
    assert judge(report, helper).verdict
    other = report.replace("bump_build", "finalize_version")
    assert not judge(other, helper).verdict
    init = _fix(["Version.__init__"], ["t/test_semver.py::test_should_not_allow_negative_numbers[v0]"])
    assert judge("Version(-1, 2, 3) is accepted; the constructor should raise ValueError.", init).verdict
    shared_class = _fix(["Version.next_version"], ["t/test_parsing.py::test_next_version_with_versioninfo[x]"])
    assert not judge(
        "finalize_version('minor') drops the prerelease: it should raise the minor part.", shared_class
    ).verdict


def test_code_names_in_a_report() -> None:
    assert identifiers("1.0.0-alpha.1 compares greater than 1.0.0-alpha.beta") == []
    assert identifiers("Version.parse('3.4.5')[0] gives (3,) instead of 3.") == ["__getitem__"]
    assert identifiers("Version(1, 1, 0).is_compatible(Version(1, 1, 0)) returns False.") == ["is_compatible"]


TRAC_QUERY = 'heading "Custom Query (4 matches)" level=1\ncolumnheader "Owner"\n[19] combobox "" selected="Bob Brown"'


def test_a_trac_query_must_compare_with_what_is_asked_and_count_what_the_page_counts() -> None:
    def asked(answer: str) -> list[dict[str, Any]]:
        return [
            {"action": "goto('/query?owner=bob')", "observation": '[12] heading "Welcome to Trac"', "url": "/"},
            {"action": f"stop('{answer}')", "observation": TRAC_QUERY, "url": "/query?owner=bob"},
        ]

    after = {"observation": TRAC_QUERY}
    assert judge("How many tickets are owned by bob, whatever their status?", asked("4"), after=after).verdict
    assert (
        "counts 4" in judge("How many tickets are owned by bob, whatever their status?", asked("5"), after=after).reason
    )
    assert (
        "chose 'bob'"
        in judge("How many tickets are owned by carol, whatever their status?", asked("4"), after=after).reason
    )


DIALOG = (
    "RootWebArea 'Click Dialog Task', focused\n\t[17] dialog '', modal=False\n\t\t[18] generic, clickable=True\n"
    "\t\t\t[20] button 'Close', clickable=True\n\t\t[24] paragraph ''\n\t\t\tStaticText 'Ultrices ullamcorper.'"
)
LINKS = (
    "RootWebArea 'Click Link Task', focused\n\t[13] generic, clickable=True\n\t\tStaticText 'Nunc'\n"
    "\t[14] generic, clickable=True\n\t\tStaticText 'vitae'"
)
BOXES = (
    "RootWebArea 'Focus Text Task'\n\t[12] textbox '', clickable=True\n\t[13] textbox '', clickable=True\n"
    "\t[14] textbox ''"
)
BUTTONS = "RootWebArea 'Click Button Task'\n\t[12] button 'Yes', clickable=True\n\t[20] button 'yes', clickable=True"


def _click(bid: str, page: str) -> list[dict[str, Any]]:
    return [{"action": f"click('{bid}')", "observation": page}]


def test_miniwob_phrasings_name_what_the_span_acted_on() -> None:
    assert judge('Close the dialog box by clicking the "x".', _click("20", DIALOG)).verdict
    assert not judge('Close the dialog box by clicking the "x".', _click("24", DIALOG)).verdict
    assert judge('Click on the link "vitae".', _click("14", LINKS)).verdict
    assert "gives 'vitae'" in judge('Click on the link "vitae".', _click("13", LINKS)).reason
    assert judge("Focus into the textbox.", _click("12", BOXES)).verdict
    assert judge("Focus into the 2nd input textbox.", _click("13", BOXES)).verdict
    assert "2nd input textbox" in judge("Focus into the 2nd input textbox.", _click("14", BOXES)).reason
    typed = [{"action": "fill('12', 'river stone')", "observation": BOXES}]
    assert judge("Focus into the textbox.", typed).verdict  # text typed on the way is not a value asked for
    assert judge('Click on the "yes" button.', _click("20", BUTTONS)).verdict
    assert not judge('Click on the "yes" button.', _click("12", BUTTONS)).verdict  # 'Yes' is another button
    two = "RootWebArea 'Click Test Task'\n\t[13] button 'ONE', clickable=True\n\t[14] button 'TWO', clickable=True"
    assert judge("Click button ONE.", _click("13", two)).verdict
    assert not judge("Click button ONE.", _click("14", two)).verdict
