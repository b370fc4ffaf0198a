"""Copying page text, and the old one-word rule (`overlap_judge`, kept for the judge benchmark)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lbi.envs.actions import BID_ACTIONS
from lbi.observations import BID_ACTION, element_line, page_content
from lbi.synth.grounding.rules import Grounding
from lbi.synth.grounding.vocabulary import COPY_RUN, STOPWORDS

_WORD = re.compile(r"[a-z0-9]+")
_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")


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
    runs = {tuple(page[k : k + COPY_RUN]) for k in range(len(page) - COPY_RUN + 1)}
    for k in range(len(instruction) - COPY_RUN + 1):
        run = tuple(instruction[k : k + COPY_RUN])
        if run in runs and run not in own:
            return " ".join(run)
    return None


def copied_text(
    instruction: str, steps: Sequence[dict[str, Any]], acted: Sequence[str], chrome: frozenset[str]
) -> str | None:
    acted_words = [words(t) for t in acted]
    own = {tuple(ws[k : k + COPY_RUN]) for ws in acted_words for k in range(len(ws) - COPY_RUN + 1)}
    page = words(" ".join(page_content(s.get("observation"), chrome) for s in steps))
    return _copied_run(words(instruction), page, own)


def overlap_judge(instruction: str, steps: Sequence[dict[str, Any]], chrome: frozenset[str] = frozenset()) -> Grounding:
    """The old rule: keep an instruction that shares one content word with what the span acted on and does not
    copy page text."""
    acted = [text for step in steps if not step.get("error") for text in acted_on(step)]
    copied = copied_text(instruction, steps, acted, chrome)
    if copied:
        return Grounding(False, f"repeats page text the span did not type: '{copied}'")
    named = sorted(_content(words(instruction)) & _content([w for t in acted for w in words(t)]))
    if named:
        return Grounding(True, f"names what the span acted on: {', '.join(named[:6])}")
    shown = "; ".join(t[:40] for t in acted[:4]) or "nothing"
    return Grounding(False, f"names nothing the span acted on (it acted on: {shown})")
