"""The web action space, in BrowserGym's names: one entry per action, whose signature, description and
example become the action doc in the agent's prompt (`lbi.envs.actions.describe_actions`)."""

from __future__ import annotations

from typing import Any

from lbi.envs.actions import ActionSpec
from lbi.envs.base import COMMON_ACTIONS


def _a(name: str, params: tuple[tuple[Any, ...], ...], doc: str, example: str) -> ActionSpec:
    return ActionSpec(name, params, doc, example)


WEB_ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        _a("click", (("bid", str),), "Click the element with this bid.", "click('12')"),
        _a("dblclick", (("bid", str),), "Double-click the element.", "dblclick('12')"),
        _a("hover", (("bid", str),), "Move the mouse over the element.", "hover('12')"),
        _a(
            "fill",
            (("bid", str), ("value", str)),
            "Replace the content of a text field with value.",
            "fill('field-summary', 'Crash')",
        ),
        _a("clear", (("bid", str),), "Empty a text field.", "clear('field-summary')"),
        _a(
            "select_option",
            (("bid", str), ("options", (str, list))),
            "Select option(s) of a <select> by label or value.",
            "select_option('12', 'major')",
        ),
        _a("check", (("bid", str),), "Tick a checkbox or radio button.", "check('12')"),
        _a("uncheck", (("bid", str),), "Untick a checkbox.", "uncheck('12')"),
        _a(
            "press",
            (("bid", str), ("key_comb", str)),
            "Focus the element and press a key or combination (Enter, Control+a, ...).",
            "press('12', 'Enter')",
        ),
        _a("focus", (("bid", str),), "Focus the element.", "focus('12')"),
        _a(
            "scroll",
            (("delta_x", float), ("delta_y", float)),
            "Scroll the page by this many pixels (positive = right/down).",
            "scroll(0, 500)",
        ),
        _a("goto", (("url", str),), "Open a URL (absolute, or relative to the current page).", "goto('/report/1')"),
        _a("go_back", (), "Go back to the previous page.", "go_back()"),
        _a("go_forward", (), "Go forward in the history.", "go_forward()"),
    )
} | COMMON_ACTIONS
