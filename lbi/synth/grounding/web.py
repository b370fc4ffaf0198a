"""What a span acted on in a page's outline: the kind of element (a link, a button, a textbox), the containers it
sits in (the dialog), its place among its kind ("the 2nd textbox"), and the close button an "x" names.

MiniWoB++ goals name elements the way a person sees them: "Focus into the 2nd input textbox.", "Close the dialog
box by clicking the "x"." (the "x" is BrowserGym's `button 'Close'`), "Click on the link "vitae"." (a clickable
`generic` span holding the text). The outline says the same in its own words; these readers translate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lbi.envs.actions import BID_ACTIONS
from lbi.observations import BID_ACTION
from lbi.synth.effects import forms

TEXT_ROLES = frozenset({"textbox", "searchbox", "combobox", "text", "textarea", "input", "spinbutton"})
CLICKABLE = frozenset({"generic", "clickable"})
"""Roles of elements without a kind of their own: BrowserGym renders MiniWoB's links and many buttons so."""
ROLE_WORDS: dict[str, frozenset[str]] = {
    "link": frozenset({"link"}) | CLICKABLE,
    "button": frozenset({"button", "push", "toggle", "menubutton"}) | CLICKABLE,
    "textbox": TEXT_ROLES,
    "field": TEXT_ROLES,
    "input": TEXT_ROLES | {"checkbox", "radio"},
    "box": TEXT_ROLES | {"checkbox", "dialog", "listbox"},
    "tab": frozenset({"tab"}),
    "checkbox": frozenset({"checkbox"}),
    "dialog": frozenset({"dialog", "alertdialog"}),
    "element": frozenset({"generic", "button", "link", "textbox", "checkbox", "tab"}),
}
"""An instruction's word for a kind of element → the outline roles it covers."""
ORDINAL_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
ORDINAL = re.compile(
    r"\b(?:(\d+)(?:st|nd|rd|th)|(" + "|".join(ORDINAL_WORDS[1:]) + r"))\s+(?:\w+\s+)?(" + "|".join(ROLE_WORDS) + r")",
    re.I,
)
"""An ordinal naming an element: "the 2nd input textbox", "the third button" ("first" is left alone: "highest
first" orders rows)."""
CLOSE = re.compile(r"\b(?:close|dismiss)\b|[×✕✖]", re.I)
_LINE = re.compile(r"^(\s*)\[([^\]]+)\]\s+([\w-]+)")


def _outline(observation: str) -> list[tuple[int, str, str, str]]:
    """(indent, bid, role, line) of each element line of an outline."""
    out = []
    for line in (observation or "").splitlines():
        match = _LINE.match(line)
        if match:
            out.append((len(match.group(1).expandtabs(4)), match.group(2), match.group(3).lower(), line.strip()))
    return out


def acted_elements(steps: Sequence[dict[str, Any]]) -> list[tuple[str, list[str], int]]:
    """For each step that acted on an element without an error: (its role, its containers' roles, its place
    among the elements of its role family on the page, 1-based)."""
    out = []
    for step in steps:
        match = BID_ACTION.match(step.get("action") or "")
        if step.get("error") or not match or match.group(1) not in BID_ACTIONS:
            continue
        outline = _outline(step.get("observation") or "")
        at = next((k for k, (_, bid, _, _) in enumerate(outline) if bid == match.group(2)), None)
        if at is None:
            continue
        indent, _, role, _ = outline[at]
        containers: list[str] = []
        depth = indent
        for k in range(at - 1, -1, -1):
            if outline[k][0] < depth:
                containers.append(outline[k][2])
                depth = outline[k][0]
        family = TEXT_ROLES if role in TEXT_ROLES else {role}
        place = sum(1 for _, _, r, _ in outline[: at + 1] if r in family)
        out.append((role, containers, place))
    return out


def role_words(steps: Sequence[dict[str, Any]]) -> set[str]:
    """The instruction words for kinds of element that name what the span acted on or what holds it ("link" for a
    clickable span, "dialog" and "box" for a button in a dialog)."""
    roles = {r for role, containers, _ in acted_elements(steps) for r in (role, *containers)}
    return {word for word, family in ROLE_WORDS.items() if roles & family}


def ordinal_missed(instruction: str, steps: Sequence[dict[str, Any]]) -> str | None:
    """An ordinal element the instruction names ("the 2nd input textbox") that the span did not act on: the
    ordinal as written, or None."""
    places = {(place, role) for role, _, place in acted_elements(steps)}
    for match in ORDINAL.finditer(instruction):
        n = int(match.group(1)) if match.group(1) else ORDINAL_WORDS.index(match.group(2).lower()) + 1
        family = ROLE_WORDS[match.group(3).lower()]
        if not any(place == n and role in family for place, role in places):
            return match.group(0)
    return None


def ordinal_forms(instruction: str) -> set[str]:
    """The forms of the ordinals `ORDINAL` reads (checked by `ordinal_missed`, not by coverage)."""
    return {f for match in ORDINAL.finditer(instruction) for f in forms(match.group(1) or match.group(2) or "")} | {
        f"{match.group(1)}{suffix}"
        for match in ORDINAL.finditer(instruction)
        if match.group(1)
        for suffix in ("st", "nd", "rd", "th")
    }


def names_close(value: str, acted: Sequence[str]) -> bool:
    """An "x" (or ×) names the close button of what the span acted on."""
    return value.strip().lower() in ("x", "×", "✕") and any(CLOSE.search(text) for text in acted)


VIEW_PARAMETERS = frozenset(
    {"action", "format", "order", "sort", "desc", "col", "max", "page", "mode", "view", "group", "groupdesc", "row"}
)
"""Query-string parameters that say how a page is shown (`?action=edit`, `&order=id`), not what it is about."""
UI_CHANGE = re.compile(
    r"^\s*(?:close|dismiss|open|expand|collapse)\s+(?:the\s+)?(?:\w+\s+)?(?:dialog|window|popup|modal|menu|tab)\b", re.I
)
"""A change to what the page shows ("Close the dialog box"), made by acting on an element, not on data."""


def acted_on_element(steps: Sequence[dict[str, Any]]) -> bool:
    return bool(acted_elements(steps))


def url_choices(steps: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """The values a span chose in the query strings of URLs it opened (`/query?owner=bob&status=!closed` → bob,
    closed), each with the page it was chosen on (before the step acted)."""
    out = []
    for step in steps:
        action = (step.get("action") or "").strip()
        if step.get("error") or not action.startswith("goto("):
            continue
        for url in re.findall(r"""['"]([^'"]*\?[^'"]*)['"]""", action):
            for name, value in parse_qsl(urlsplit(url).query):
                if name.lower() in VIEW_PARAMETERS:
                    continue
                for part in re.split(r"[|,]", value.lstrip("!~^$=")):
                    if part.strip():
                        out.append((part.strip(), step.get("observation") or ""))
    return out
