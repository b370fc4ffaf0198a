"""The MiniWoB++ learning bench counts the episodes whose first action copied the prompt's reply example
(`bench/learning_miniwob.py`): the base's per-type successes are read beside it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from learning_miniwob import example_copies, example_in  # noqa: E402

from lbi.agent.policies import NO_PATTERN  # noqa: E402
from lbi.models.schema import schema_hint  # noqa: E402
from lbi.prompts.replies import reply_schema  # noqa: E402


def _system(example: str | None) -> str:
    """An agent system message ending, as lbi's does, with the reply's shape and its example action."""
    return f"You control a web browser.\n\n{schema_hint(reply_schema(example, NO_PATTERN))}"


def test_the_example_is_read_from_the_prompt_the_agent_was_shown() -> None:
    assert example_in(_system("click('18')")) == "click('18')"
    assert example_in("You control a web browser.") is None
    assert example_in('Reply ... shaped like this: {"reasoning": "x", "action": ') is None  # cut short: no JSON


def test_copies_are_counted_per_type_and_run_with_their_successes() -> None:
    shown = _system("click('18')")
    rows = [
        ("eval-base", "miniwob.click-tab@1000", shown, "click('18')", 1.0),
        ("eval-base", "miniwob.click-tab@1001", shown, 'click("18")', 0.0),  # the same call, other quotes
        ("eval-base", "miniwob.click-tab@1002", shown, "click('20')", 1.0),
        ("eval-trained", "miniwob.click-tab@1000", shown, "click('21')", 1.0),
        ("eval-trained", "miniwob.enter-text@1000", _system(None), "click('18')", 0.0),  # no example shown
    ]
    table = {row["type"]: row for row in example_copies(rows)}
    assert table["miniwob.click-tab"] == {
        "type": "miniwob.click-tab",
        "eval-base": "2/3 (1 solved)",
        "eval-trained": "0/1 (0 solved)",
    }
    assert table["miniwob.enter-text"] == {"type": "miniwob.enter-text", "eval-trained": "0/1 (0 solved)"}
    assert json.dumps(table)  # the bench writes it into its result file
