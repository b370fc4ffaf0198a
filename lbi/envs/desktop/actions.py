"""The desktop action space (OSWorld's actions, named like the web env's where they mean the same): one entry per
action, whose signature, description and example become the action doc in the agent's prompt; and key names."""

from __future__ import annotations

from lbi.envs.actions import ActionSpec
from lbi.envs.base import COMMON_ACTIONS

DESKTOP_ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        ActionSpec("click", (("id", str),), "Click the element with this id (a cell: its address).", "click('B5')"),
        ActionSpec("double_click", (("id", str),), "Double-click the element.", "double_click('A1')"),
        ActionSpec(
            "right_click", (("id", str),), "Right-click the element (opens its context menu).", "right_click('C3')"
        ),
        ActionSpec(
            "type",
            (("text", str),),
            "Type text at the keyboard focus; \\n presses Enter, \\t presses Tab.",
            "type('42\\n')",
        ),
        ActionSpec(
            "hotkey",
            (("keys", str),),
            "Press a key or a combination joined by +: ctrl+s, ctrl+shift+s, "
            "enter, escape, tab, delete, f2, up, pagedown, ...",
            "hotkey('ctrl+s')",
        ),
        ActionSpec(
            "scroll",
            (("id", str), ("dy", float)),
            "Scroll inside the element by dy wheel steps (positive = down).",
            "scroll('3k2q1', 5)",
        ),
        ActionSpec("drag", (("id_from", str), ("id_to", str)), "Drag from one element to another.", "drag('A1', 'A5')"),
        ActionSpec(
            "click_xy",
            (("x", float), ("y", float)),
            "Click at screen pixel (x, y), for what the tree lacks.",
            "click_xy(640, 400)",
        ),
    )
} | COMMON_ACTIONS
KEY_ALIASES = {
    "enter": "Return",
    "return": "Return",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "backspace": "BackSpace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pgup": "Prior",
    "pagedown": "Next",
    "pgdn": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "space": "space",
    "ctrl": "ctrl",
    "control": "ctrl",
    "alt": "alt",
    "shift": "shift",
    "super": "super",
    "win": "super",
    "cmd": "super",
    "meta": "super",
    "plus": "plus",
    "minus": "minus",
    "menu": "Menu",
}
MODIFIERS = {"ctrl", "alt", "shift", "super"}


def normalize_keys(keys: str) -> list[str]:
    """``"Ctrl+Shift+S"`` → ``["ctrl", "shift", "s"]`` (xdotool's names; a single letter in lower case)."""
    out = []
    for part in [p.strip() for p in keys.replace(" ", "+").split("+")]:
        if not part:
            continue
        low = part.lower()
        if low in KEY_ALIASES:
            out.append(KEY_ALIASES[low])
        elif len(low) in (2, 3) and low[0] == "f" and low[1:].isdigit():
            out.append(low.upper())
        else:
            out.append(part.lower() if len(part) == 1 else part)
    return out
