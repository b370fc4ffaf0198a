"""Whether a question's answer is one a page the span saw shows, next to what the question asks about."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from lbi.synth.effects import forms, numbers
from lbi.synth.grounding.names import covered_by
from lbi.synth.grounding.vocabulary import FUNCTION_WORDS


def answer_seen(answer: str, read: str) -> bool:
    """An answer a page the span saw shows: its numbers all there, or most of its words."""
    text = read.lower()
    nums = numbers(answer)
    if nums:
        return (
            all(re.search(rf"(?<![\d.]){re.escape(n)}(?![\d]|\.\d)", text) for n in nums)
            or answer.strip().lower() in text
        )
    parts = [f for f in forms(answer) if f not in FUNCTION_WORDS]
    if not parts:
        return True
    seen = set(forms(read))
    return sum(p in seen for p in parts) * 2 >= len(parts) or answer.strip().lower() in text


def answer_near(
    answer: str, page: str, content: Sequence[str], labels: Collection[str] = (), window: int = 1, small: int = 6
) -> bool:
    """On a page of more than `small` lines, the answer sits on a line that, with the `window` lines around it,
    names something the question asks about (a value next to its label: "Owned by: | Dave Diaz")."""
    lines = [line for line in page.splitlines() if line.strip()]
    if len(lines) <= small:
        return True
    wanted = set(content)
    if any(covered_by(w, set(labels)) for w in wanted if not w.isdigit()):
        return True  # a sheet's cell read by its column's header and its row's label
    text = answer.strip().lower()
    nums = numbers(answer)
    hits = [
        k
        for k, line in enumerate(lines)
        if text in line.lower()
        or (nums and all(re.search(rf"(?<![\d.]){re.escape(n)}(?![\d]|\.\d)", line) for n in nums))
    ]
    if not hits:
        return True  # not on this page as written (`answer_seen` reads it more loosely): nothing to place
    for k in hits:
        around = set(forms(" ".join(lines[max(0, k - window) : k + window + 1])))
        if any(covered_by(w, around) for w in wanted if not w.isdigit()):
            return True
    return False


COUNTED = re.compile(r"\((\d+) (?:matches|match|results?|hits?)\)", re.I)
"""How a search or query page states its count ("Custom Query (4 matches)")."""


def count_differs(instruction: str, answer: str, end_page: str) -> str | None:
    """A "how many" question answered with a number other than the count the page the span ended on states."""
    if not re.search(r"(?i)\bhow many\b|\bnumber of\b|\bcount\b", instruction):
        return None
    counted = COUNTED.findall(end_page or "")
    given = numbers(answer)
    if len(set(counted)) == 1 and len(given) == 1 and given[0] != counted[0]:
        return f"answers {given[0]}; the page it ended on counts {counted[0]}"
    return None
