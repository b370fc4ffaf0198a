"""Reading recorded observations: what an action acted on, and which lines are the site's chrome.

Web observations are outlines with element ids (``[14] link "wiki:" url="/wiki"``) and begin with the
same navigation on every page. Prompts and embeddings are better without that chrome: a model sees
what is specific to the page, and an embedding of the page's own content is both faster (shorter
input) and closer to what distinguishes one state from another. The chrome is learned from the
observations themselves (lines present in most of them), so this works for any environment and
leaves observations that share nothing untouched.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial

FILL_ROLES = frozenset({"textbox", "searchbox", "spinbutton"})
SELECT_ROLES = frozenset({"combobox", "listbox"})
CLICK_ROLES = frozenset(
    {
        "link",
        "button",
        "checkbox",
        "radio",
        "menuitem",
        "tab",
        "switch",
        "option",
        "treeitem",
        "menuitemcheckbox",
        "menuitemradio",
        "slider",
    }
)
"""Roles of the elements a user acts on: typed into, chosen in, clicked (an element with another role is one
when the page listens for clicks on it: BrowserGym marks it ``clickable=True``)."""
OUTLINE_ELEMENT = re.compile(r"^\[(?P<bid>[^\]]+)\]\s+(?P<role>\w+)(?P<rest>.*)$")
BID_ACTION = re.compile(r"""^\s*(\w+)\(\s*['"]([^'"]+)['"]""")
CHROME_SHARE = 0.6
TRUNCATED = "\n… (truncated)"
"""What ends a text cut to fit a prompt."""
MIN_OBSERVATIONS = 5


def element_line(observation: str, bid: str) -> str | None:
    """The outline line of element `bid` without its id, e.g. ``link "Wiki" url="/wiki"``. An element without a
    name of its own (BrowserGym's ``[13] generic, clickable=True`` over a ``StaticText 'sed'``) gets the text it
    holds: ``generic, clickable=True, text 'sed'``."""
    marker = f"[{bid}]"
    lines = (observation or "").splitlines()
    for k, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(marker):
            rest = stripped[len(marker) :].strip()
            if rest and not _NAMED.match(rest) and (inner := _inner_text(lines, k)):
                rest += f", text {inner!r}"
            return rest or None
    return None


_NAMED = re.compile(r"""^[\w-]+\s+(['"]).+?\1""")
_STATIC = re.compile(r"""^StaticText\s+(['"])(.*)\1\s*$""")


def actionable(observation: str) -> list[tuple[str, str]]:
    """(bid, role) of each element an outline lists that a user acts on, in the outline's order: by its role
    (`FILL_ROLES`, `SELECT_ROLES`, `CLICK_ROLES`) or because it is marked ``clickable=True``."""
    out = []
    for line in (observation or "").splitlines():
        found = OUTLINE_ELEMENT.match(line.strip())
        if found is None:
            continue
        role = found.group("role")
        if role in FILL_ROLES | SELECT_ROLES | CLICK_ROLES or "clickable=True" in found.group("rest"):
            out.append((found.group("bid"), role))
    return out


def _inner_text(lines: list[str], at: int, limit: int = 80) -> str:
    """The static text under the element on line `at` (its deeper-indented lines, up to a nested element)."""
    depth = len(lines[at]) - len(lines[at].lstrip())
    texts: list[str] = []
    for line in lines[at + 1 :]:
        stripped = line.strip()
        if not stripped:
            continue
        if len(line) - len(line.lstrip()) <= depth or stripped.startswith("["):
            break
        if m := _STATIC.match(stripped):
            texts.append(m.group(2))
    return " ".join(" ".join(texts).split())[:limit]


def describe_action(action: str | None, observation: str | None) -> str:
    """The action with the element it acted on, when the observation names it:
    ``click('14')`` → ``click('14') on link "wiki:" url="/wiki"``."""
    text = (action or "").strip()
    match = BID_ACTION.match(text)
    if not match or not observation:
        return text
    target = element_line(observation, match.group(2))
    return f"{text} on {target[:120]}" if target else text


def chrome_lines(
    pages: Iterable[tuple[str | None, str | None]], share: float = CHROME_SHARE, minimum: int = MIN_OBSERVATIONS
) -> frozenset[str]:
    """Lines (stripped) present on at least `share` of the distinct pages: navigation, headers, footers.

    `pages` are (where, observation) pairs, `where` being the URL or any name of the state; a place
    counts once however often it was observed, so a page visited a hundred times does not make its
    own text look like chrome. Empty when fewer than `minimum` distinct places were seen."""
    lines_at: dict[str, set[str]] = {}
    for where, obs in pages:
        key = place(where) if where else (obs or "")[:200]
        lines_at.setdefault(key, set()).update(line.strip() for line in (obs or "").splitlines() if line.strip())
    if len(lines_at) < minimum:
        return frozenset()
    counts: Counter[str] = Counter()
    for lines in lines_at.values():
        counts.update(lines)
    return frozenset(line for line, c in counts.items() if c >= share * len(lines_at))


def place(url: str) -> str:
    """A URL without scheme, host and port: the same page of two instances is one place."""
    return re.sub(r"^[a-z]+://[^/]+", "", url)


def page_content(observation: str | None, chrome: frozenset[str] = frozenset(), limit: int | None = None) -> str:
    """The observation without its chrome lines, whitespace-collapsed to one line, cut at `limit` characters.
    An observation that is all chrome is returned whole (cut), so nothing ever reads as empty."""
    lines = [line.strip() for line in (observation or "").splitlines() if line.strip()]
    kept = [line for line in lines if line not in chrome] or lines
    text = " ".join(kept)
    return text[:limit] if limit else text


# -- the agent's view of an outline ---------------------------------------------------------------------------
_STRUCTURE = re.compile(r"^(?:[a-z]+|heading)(?: level=\d+)?$")
"""A line that is only a role (``list``, ``listitem``, ``form``, ``heading level=1``): structure with nothing to
read or act on."""
_URL = re.compile(r' url="(?:[^"\\]|\\.)*"')
_TEXT = re.compile(r'^(?:StaticText|LabelText|cell|columnheader|rowheader|gridcell) ("(?:[^"\\]|\\.)*")$')
"""Lines that are text to read: their role goes, their name is unquoted."""
_BID = re.compile(r"\[[^\]\s]+\] ")
_HEADING = re.compile(r'^heading ("(?:[^"\\]|\\.)*") level=(\d)$')


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _bare(line: str) -> str:
    """One outline line as the agent reads it: no indentation, no link target, text without its role."""
    s = _URL.sub("", line.strip())
    try:
        if m := _TEXT.match(s):
            return json.loads(m.group(1))
        if m := _HEADING.match(s):
            return "#" * int(m.group(2)) + " " + json.loads(m.group(1))
    except json.JSONDecodeError:
        return s
    return s


def compact_outline(text: str) -> str:
    """A web outline (``lbi.envs.web.browser``) in fewer tokens, for the agent's prompt: every element with an id is
    kept (the agent can act on all it could act on before), but structure-only lines (``list``, ``listitem``,
    ``form``) go, links lose their ``url=`` targets, text lines lose their ``StaticText`` role, headings are
    written ``## Title`` and indentation goes; a table row becomes one line of its cells joined by `` | ``."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        i += 1
        if s == "row":  # its cells (and what they hold) on one line
            depth, cells = _indent(line), []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > depth):
                if (c := lines[i].strip()) and not _STRUCTURE.match(c):
                    cells.append(_bare(c))
                i += 1
            if cells:
                out.append(" | ".join(cells))
            continue
        if not s or _STRUCTURE.match(s):
            continue
        out.append(_bare(s))
    return "\n".join(out)


def fit_outline(text: str, limit: int) -> str:
    """A compact outline cut to `limit` characters losing text before elements, so the agent still sees the
    form's submit button below a long ticket: lines without an element are shortened (to 160, then 60
    characters), then dropped (headings and a select's options stay); only then is the end cut off."""
    lines = text.splitlines()

    def shorten(ls: list[str], w: int) -> list[str]:
        return [line if len(line) <= w or _BID.search(line) else line[:w] + "…" for line in ls]

    stages: list[Callable[[list[str]], list[str]]] = [partial(shorten, w=width) for width in (160, 60)]
    stages.append(lambda ls: [line for line in ls if _BID.search(line) or line.startswith(("#", "options: "))])
    for stage in [lambda ls: ls, *stages]:
        lines = stage(lines)
        fitted = "\n".join(lines)
        if len(fitted) <= limit:
            return fitted
    return fitted[:limit] + TRUNCATED
