"""Backward construction that needs no model: hindsight labels from what a span did, and rewarded goals.

Two modes, beside the model's `per-span` and `batched` (`lbi backward --mode hindsight|goal`):

- `hindsight`: a span of one or two steps that acted on an element the observation names becomes an example
  whose instruction says what it did, read from the element under the action's bid: `click('12')` on
  `[12] button 'Cancel'` → `Click on the "Cancel" button.`; `fill('7', 'Kasie')` on `[7] textbox ''` →
  `Enter "Kasie" into the text field.`; a fill then a click → `Enter "Kasie" into the text field and click on the
  "Submit" button.`. A click on "Cancel" when the goal said "OK" is still a good example of clicking Cancel:
  the label is what happened, not what was asked. A weak model cannot write these reliably; a rule can, for any
  environment whose observation is an accessibility tree with bids (`browsergym`, `web`, `trac`).
- `goal`: an episode whose environment stated its goal at reset and rewarded it (a BrowserGym task's own
  `validate`, recorded as the trajectory's `reward`) becomes one example: the goal as its instruction, the whole
  trajectory as its span (the reward-filtered (goal, trajectory) pair).

The `reward` judge (`judge_reward`) is the environment's reward as a committee signal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbi.observations import element_line
from lbi.project import Project
from lbi.synth.effects import action_args

Progress = Callable[[int, int], None]
RULE_MODES = ("hindsight", "goal")
REWARD = "reward"
"""The focus of the judge that reads the environment's reward (`judge_reward`)."""

QUOTED = re.compile(r"""(?P<q>['"])(?P<v>.*?)(?P=q)""")
FIELDS = {"textbox", "searchbox", "spinbutton", "combobox", "listbox", "checkbox", "radio", "slider", "switch"}
"""Roles whose element is said well enough by its kind alone (`the text field`) when it has no name."""
ROLE_WORDS = {
    "textbox": "text field",
    "searchbox": "search field",
    "spinbutton": "number field",
    "combobox": "drop-down list",
    "listbox": "list",
    "radio": "radio button",
    "menuitem": "menu item",
    "treeitem": "tree item",
    "gridcell": "cell",
    "StaticText": "text",
    "generic": "element",
    "paragraph": "text",
}


@dataclass
class RuleReport:
    trajectories: int = 0
    spans: int = 0
    examples: int = 0


def element(observation: str, bid: str) -> tuple[str, str] | None:
    """(role, name) of element `bid` as the observation shows it (`lbi.observations.element_line`: an element
    without a name of its own is named by the text it holds), or None if it does not show it."""
    line = element_line(observation, bid)
    if not line:
        return None
    role = re.split(r"[\s,]", line, maxsplit=1)[0]
    name = QUOTED.search(line[len(role) :])
    return role, " ".join((name.group("v") if name else "").split())


LABELS = re.compile(r"""^(?:\[(?P<bid>[^\]]+)\]\s+)?(?P<role>LabelText|StaticText)\b""")
HELD_TEXT = re.compile(r"""text (['"])(?P<v>.*)\1$""")


def field_label(observation: str, bid: str) -> str:
    """The label shown just before field `bid` (its previous sibling in the outline, a `LabelText` or a
    `StaticText`), e.g. MiniWoB++'s login form: `[15] LabelText ''` over `StaticText 'Username'`, then
    `[16] textbox ''` → "Username"; "" when the field has no label there."""
    lines = observation.splitlines()
    at = next((k for k, line in enumerate(lines) if line.strip().startswith(f"[{bid}]")), None)
    if at is None:
        return ""
    depth = len(lines[at]) - len(lines[at].lstrip())
    for line in reversed(lines[:at]):
        indent, stripped = len(line) - len(line.lstrip()), line.strip()
        if not stripped or indent > depth:
            continue  # inside an earlier sibling
        found = LABELS.match(stripped) if indent == depth else None
        if not found:
            return ""  # the parent, or a sibling that is no label
        if found.group("bid"):
            held = HELD_TEXT.search(element_line(observation, found.group("bid")) or "")
            return " ".join(held.group("v").split()) if held else ""
        quoted = QUOTED.search(stripped[len("StaticText") :])
        return " ".join(quoted.group("v").split()) if quoted else ""
    return ""


def _thing(role: str, name: str) -> str:
    word = ROLE_WORDS.get(role, role)
    return f'the "{name}" {word}' if name and len(name) <= 60 else f"the {word}"


def describe_step(step: Mapping[str, Any]) -> str | None:
    """What one recorded step did, in words (no final period), or None if it cannot be said: the action failed,
    is not one on an element, or names a bid the observation does not show."""
    if step.get("error"):
        return None
    action = str(step.get("action") or "")
    fn, args = action.split("(", 1)[0].strip(), action_args(action)
    if not args:
        return None
    found = element(str(step.get("observation") or ""), args[0])
    if found is None:
        return None
    role, name = found
    if not name and role in FIELDS:
        name = field_label(str(step.get("observation") or ""), args[0])
    thing = _thing(role, name)
    if not name and role not in FIELDS and fn != "fill":
        return None  # "Click on the element." teaches nothing: a click needs a name to be said
    if fn == "click":
        return f"Click on {thing}"
    if fn == "dblclick":
        return f"Double-click on {thing}"
    if fn == "fill" and len(args) > 1 and args[1].strip():
        return f'Enter "{args[1]}" into {thing}'
    if fn == "select_option" and len(args) > 1:
        return f'Select "{args[1]}" in {thing}'
    if fn == "press" and len(args) > 1:
        return f"Press {args[1]} in {thing}"
    if fn in ("focus", "hover", "check", "uncheck", "clear"):
        return f"{fn.capitalize()} {thing}"
    return None


def describe_span(steps: Sequence[Mapping[str, Any]]) -> str | None:
    """A span's steps said in one instruction, or None if one of them cannot be said."""
    parts = [describe_step(s) for s in steps]
    if not parts or any(p is None for p in parts):
        return None
    said = [p for p in parts if p]
    return " and ".join([said[0], *(p[0].lower() + p[1:] for p in said[1:])]) + "."


def _config(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row.get("config_json") or "{}"))


def label(
    project: Project,
    trajectory_ids: Sequence[int],
    mode: str,
    *,
    max_span: int = 2,
    run_id: int | None = None,
    progress: Progress | None = None,
) -> RuleReport:
    """Write the `mode` examples (`hindsight` or `goal`) of these trajectories; spans already labelled in that mode
    are skipped, so a re-run adds only what is new."""
    report = RuleReport()
    store = project.store
    cap = max(1, min(max_span or 2, 2))
    for done, tid in enumerate(trajectory_ids, start=1):
        report.trajectories += 1
        row = store.query("SELECT config_json FROM trajectories WHERE id = ?", (tid,))
        config = _config(dict(row[0])) if row else {}
        steps = [
            dict(r)
            for r in store.query(
                "SELECT idx, observation, action, error FROM steps WHERE trajectory_id = ? ORDER BY idx", (tid,)
            )
        ]
        new: list[dict[str, Any]] = []
        if mode == "goal":
            if steps and config.get("goal") and float(config.get("reward") or 0) > 0:
                new.append({"span_start": 0, "span_end": len(steps) - 1, "instruction": str(config["goal"])})
        else:
            for i in range(len(steps)):
                for j in range(i, min(len(steps), i + cap)):
                    text = describe_span(steps[i : j + 1])
                    if text:
                        new.append({"span_start": i, "span_end": j, "instruction": text})
        report.spans += len(new)
        ids = store.add_examples(
            {**ex, "trajectory_id": tid, "mode": mode, "model": f"rule/{mode}", "run_id": run_id} for ex in new
        )
        report.examples += len(ids)
        if progress:
            progress(done, len(trajectory_ids))
    return report


def judge_reward(instruction: str, span: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> tuple[bool, str]:
    """The environment's reward as a verdict. The episode's goal as the instruction: yes if and only if the
    environment rewarded it. Any other instruction (a relabelled span): the reward says nothing about it, so the
    verdict is whether the environment carried out every action of the span without an error."""
    failed = next((s for s in span if s.get("error")), None)
    reward = config.get("reward")
    goal = " ".join(str(config.get("goal") or "").split()).lower()
    if goal and " ".join(instruction.split()).lower() == goal:
        if reward is None:
            return False, "the episode's goal, but no reward was recorded for it"
        ok = float(reward) > 0
        return ok, f"the episode's goal; the environment's reward was {float(reward):g}"
    if failed is not None:
        return False, f"not the episode's goal; step {failed.get('idx')} failed: {str(failed.get('error'))[:120]}"
    return True, "not the episode's goal (the reward does not apply); every action ran without an error"
