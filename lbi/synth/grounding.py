"""A judge that needs no model: is an instruction grounded in what its span did?

Small models label spans with text they copy from the page ("Trac is a minimalistic approach to web-based
management of software projects…" for a span that clicked the Wiki link). This judge keeps an instruction
when it names something the span acted on — the name of an element it clicked or filled, a value it typed
or chose, a page it opened, a table or column of its query, a command it ran — and drops it when it names
none of these, or when it repeats a run of page text that the span did not type itself. Deterministic, so
its verdicts cost nothing and can be trusted to mean the same thing on every run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lbi.envs.actions import BID_ACTIONS
from lbi.observations import BID_ACTION, element_line, page_content

COPY_RUN = 6
"""Consecutive instruction words found in the span's page text (and not typed by it) that count as copying."""
STOPWORDS = frozenset("""
a an and are as at be by for from has have in into is it its of on or the that this to with was were will
all any each every some one two new its their them then than via per not no yes out over under about after
before page pages click clicked link button field text open opened show shows go goes went select selected
task user agent step steps want wants please make sure use using find list see view
""".split())
_WORD = re.compile(r"[a-z0-9]+")
_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")


@dataclass(frozen=True)
class Grounding:
    verdict: bool
    reason: str


def words(text: str) -> list[str]:
    """Lower-case words of a text, CamelCase and snake_case split (`MeetingNotes` → meeting, notes)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text or "")
    return _WORD.findall(spaced.lower())


def _content(tokens: Sequence[str]) -> set[str]:
    return {w for w in tokens if w not in STOPWORDS and (len(w) > 2 or w.isdigit())}


def acted_on(step: dict[str, Any]) -> list[str]:
    """The texts a step acted on: its literal arguments (typed values, URLs, SQL, commands), with an element
    id replaced by that element's line in the observation (`link "Wiki" url="/wiki"`)."""
    action = step.get("action") or ""
    texts = [a or b for a, b in _QUOTED.findall(action)]
    match = BID_ACTION.match(action)
    if match and match.group(1) in BID_ACTIONS and texts and texts[0] == match.group(2):
        texts[0] = element_line(step.get("observation") or "", match.group(2)) or ""
    return [t for t in texts if t]


def _copied_run(instruction: list[str], page: list[str], own: set[tuple[str, ...]]) -> str | None:
    """The first run of COPY_RUN instruction words found in the page text and not in what the span typed."""
    runs = {tuple(page[k:k + COPY_RUN]) for k in range(len(page) - COPY_RUN + 1)}
    for k in range(len(instruction) - COPY_RUN + 1):
        run = tuple(instruction[k:k + COPY_RUN])
        if run in runs and run not in own:
            return " ".join(run)
    return None


def judge(instruction: str, steps: Sequence[dict[str, Any]], chrome: frozenset[str] = frozenset()) -> Grounding:
    """The grounding verdict of `instruction` for the span `steps` (dicts with `action`, `observation`)."""
    acted = [text for step in steps if not step.get("error") for text in acted_on(step)]
    acted_words = [words(t) for t in acted]
    vocabulary = _content([w for ws in acted_words for w in ws])
    said = words(instruction)
    own = {tuple(ws[k:k + COPY_RUN]) for ws in acted_words for k in range(len(ws) - COPY_RUN + 1)}
    page = words(" ".join(page_content(s.get("observation"), chrome) for s in steps))
    copied = _copied_run(said, page, own)
    if copied:
        return Grounding(False, f"repeats page text the span did not type: '{copied}'")
    named = sorted(_content(said) & vocabulary)
    if named:
        return Grounding(True, f"names what the span acted on: {', '.join(named[:6])}")
    shown = "; ".join(t[:40] for t in acted[:4]) or "nothing"
    return Grounding(False, f"names nothing the span acted on (it acted on: {shown})")
