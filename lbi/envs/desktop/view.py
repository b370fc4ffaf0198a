"""What the desktop agent sees: the worker's accessibility nodes as an outline with stable element ids.

An element's id is the cell address for a spreadsheet cell (``B5``), else five characters hashed from its path
(the roles and names of its ancestors, e.g. ``frame/tool bar:Standard/push button:Save``), so the same widget has
the same id in every observation, across resets and documents, whatever else is showing. Lines look like web
ones: ``[3k2q1] push button "Save"``, ``[B5] cell "42"``, indented by depth, with states in parentheses.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from typing import Any

ALPHABET = string.digits + string.ascii_lowercase
ROLE_NAMES = {"table cell": "cell"}
ACTIONABLE = {
    "push button",
    "toggle button",
    "menu",
    "menu item",
    "check menu item",
    "radio menu item",
    "check box",
    "radio button",
    "page tab",
    "combo box",
    "list item",
    "table cell",
    "text",
    "entry",
    "spin button",
    "push button menu",
    "toggle button menu",
    "tree item",
    "link",
    "icon",
    "slider",
}


def element_id(node: dict[str, Any]) -> str:
    if node.get("cell"):
        return str(node["cell"])
    digest = int(hashlib.sha1(node["path"].encode()).hexdigest(), 16)
    chars = [ALPHABET[digest % 10]]  # a digit first: never mistaken for a cell address
    digest //= 10
    for _ in range(4):
        chars.append(ALPHABET[digest % 36])
        digest //= 36
    return "".join(chars)


@dataclass
class View:
    """One observation of the desktop: the outline text and its elements by id."""

    text: str
    elements: dict[str, dict[str, Any]] = field(default_factory=dict)
    focused: str | None = None
    title: str | None = None
    active: str | None = None
    dialogs: list[str] = field(default_factory=list)
    menus: list[str] = field(default_factory=list)
    grid: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """The visible spreadsheet cells' columns (letter → [x, width]) and rows (number → [y, height])."""

    def cell(self, address: str) -> dict[str, Any] | None:
        """A visible cell by address, listed or not (empty cells are not listed but can be clicked)."""
        match = re.fullmatch(r"([A-Za-z]{1,3})([0-9]+)", address)
        if not match or not self.grid:
            return None
        col, row = self.grid.get("cols", {}).get(match.group(1).upper()), self.grid.get("rows", {}).get(match.group(2))
        if col is None or row is None:
            return None
        return {
            "path": f"cell:{address.upper()}",
            "role": "table cell",
            "name": address.upper(),
            "text": None,
            "states": [],
            "box": [col[0], row[0], col[1], row[1]],
            "depth": 0,
            "cell": address.upper(),
        }

    def actionable(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (eid, node)
            for eid, node in self.elements.items()
            if node["role"] in ACTIONABLE and "disabled" not in node["states"] and node.get("box")
        ]


def _line(eid: str | None, node: dict[str, Any]) -> str:
    role = ROLE_NAMES.get(node["role"], node["role"])
    parts = [f"[{eid}]" if eid else "", role]
    name, text = node.get("name") or "", node.get("text")
    if node["role"] == "table cell":
        parts.append(_quote(text or ""))
    else:
        if name:
            parts.append(_quote(name))
        if text and text != name:
            parts.append(f"value={_quote(text)}")
    if node.get("visible"):
        parts.append(f"visible={node['visible']}")
    states = [s for s in node.get("states", []) if s != "editable" or node["role"] not in ("table cell", "table")]
    if states:
        parts.append(f"({', '.join(states)})")
    return " ".join(p for p in parts if p)


def _quote(text: str) -> str:
    text = re.sub(r"file://\S*/", "", " ".join(text.split()))  # a document's folder is the episode's, not its name
    return '"' + text.replace('"', "'") + '"'


def render(snapshot: dict[str, Any], max_chars: int = 15000) -> View:
    """The outline of a worker snapshot; ids collide only by a 1 in 60 million chance, and a collision gets a
    suffix (``3k2q1-2``) so every element stays addressable."""
    lines: list[str] = []
    elements: dict[str, dict[str, Any]] = {}
    focused = None
    dialogs, menus = [], []
    grid: dict[str, dict[str, list[int]]] = {}
    for node in snapshot.get("nodes", []):
        grid = node.get("grid") or grid
        eid = element_id(node)
        if eid in elements:
            n = 2
            while f"{eid}-{n}" in elements:
                n += 1
            eid = f"{eid}-{n}"
        elements[eid] = node
        if node["path"] == snapshot.get("focused"):
            focused = eid
        if node["depth"] == 0 and node["role"] != "frame":
            dialogs.append(node["name"] or node["role"])
        if node["role"] == "menu" and {"expanded", "selected"} & set(node["states"]):
            menus.append(node["name"])
        lines.append("  " * node["depth"] + _line(eid, node))
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n… (truncated: {len(text)} characters)"
    elif snapshot.get("truncated"):
        text += "\n… (more elements than shown)"
    return View(
        text=text,
        elements=elements,
        focused=focused,
        title=snapshot.get("title"),
        active=snapshot.get("active"),
        dialogs=dialogs,
        menus=menus,
        grid=grid,
    )
