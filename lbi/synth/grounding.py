"""A judge that needs no model: is an instruction grounded in what its span did?

Small models label spans with text they copy from the page ("Trac is a minimalistic approach to web-based
management of software projects…" for a span that clicked the Wiki link), or with an instruction that shares a
word with the span and asks for something else. `judge` reads what the span did (`lbi.synth.effects`): what it
acted on, what it changed (rows, saved cells, the diff, a form sent), the URL it reached, the answer it gave,
the lines it made appear — and keeps an instruction only when

* it does not repeat a run of page text the span did not type (copying);
* the values it gives — numbers, quoted strings, cell addresses, names written in capitals, identifiers — are
  things the span acted on or changed (a question may also name what the span read);
* most of its other words name what the span acted on, changed or made appear (`Rules.coverage`), names matched
  as a person would (plurals, case, quoting, CamelCase, a few words for query terms: "how many" is COUNT);
* a change it asks for is a change the span made, and a question it asks is answered (an answer the span gave
  that a page it saw shows, or the rows of the query it ended with);
* for a fix described as a bug report (the span edited code), the functions it names are those the diff
  changes, when the span's diff is known.

`overlap_judge` is the rule this one replaced (one shared word was enough), kept for the judge benchmark
(`bench/judge_quality.py`). Deterministic: its verdicts cost nothing and mean the same thing on every run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lbi.envs.actions import BID_ACTIONS
from lbi.observations import BID_ACTION, element_line, page_content
from lbi.synth.effects import (
    GENERIC_ANSWERS,
    SpanEffects,
    forms,
    numbers,
    quoted,
    read_effects,
    stem,
)

COPY_RUN = 6
"""Consecutive instruction words found in the span's page text (and not typed by it) that count as copying."""
STOPWORDS = frozenset(
    """
a an and are as at be by for from has have in into is it its of on or the that this to with was were will
all any each every some one two new its their them then than via per not no yes out over under about after
before page pages click clicked link button field text open opened show shows go goes went select selected
task user agent step steps want wants please make sure use using find list see view
""".split()
)
"""The old rule's stop words (`overlap_judge`)."""
FUNCTION_WORDS = frozenset(
    """
a an and are as at be been being by can could do does did for from had has have how i if in into is it its me
my of on or our shall should so than that the their them then there these they this those to too us was we
were what when where which while who whom whose why will with would you your all any each every some both
either neither other another such only own same just also again still already ever very more most less least
much many few per via up down out off over under about after before between through during without within
along across against among around behind below above beyond near onto upon whatever whichever however
please want wants need needs let lets whether yes no not nor but
""".split()
)
GENERIC = frozenset(
    """
give tell find show list display get look answer return use using please sure task user agent step steps id ids
row rows column columns cell cells sheet sheets header headers keep keeping kept together
spreadsheet spreadsheets workbook document window application app browser website site database repository file
appear appears contain contains include includes existing current whole new following
""".split()
)
"""Words an instruction uses to say what to do, or that name the medium it is done in (the spreadsheet, the
database), not what to do it on: never required to be acted on."""
IMPERATIVES = frozenset(
    """
create add put write type enter fill set change update edit modify rename delete remove close reopen resolve accept
assign reassign comment attach save make compute calculate open go navigate view search move switch select choose
pick click press mark leave keep sort fix replace append total sum run report
""".split()
)
"""Verbs that say what to do when they lead a clause ("Close ticket #5"); elsewhere they may name a value
("How many tickets are closed?") and count."""
CHANGE_VERBS = frozenset(
    """
create add insert put write fill set change update edit modify rename delete remove close reopen resolve accept
assign reassign attach save fix replace mark bold type enter append total sum compute calculate sort
""".split()
)
NEGATION = re.compile(r"\b(?:not|no|never|isn't|aren't|doesn't|don't|hasn't|haven't)\b", re.I)
NEGATED = re.compile(r"!=|<>|\bNOT\b|\bIS\s+NULL\b|=!|\bEXCEPT\b|\bnone\b", re.I)
"""A query (SQL, a query URL) that negates: what an instruction saying "not" asks of it."""
ASKED = re.compile(
    r"\b(?:list|give|return)\s+(?:the\s+|its\s+|their\s+)?([A-Za-z]+(?:\s+[A-Za-z]+)?)|"
    r"\bwhich\s+([A-Za-z]+(?:\s+[A-Za-z]+)?)",
    re.I,
)
"""What a question asks to be returned: "list the ids", "give the distinct authors", "which tickets"."""
KEY_COLUMNS = frozenset({"id", "name", "title", "key", "value", "rowid"})
"""Columns that name a row or hold a key's value: what a question about "which" rows is answered with."""
NAVIGATION_START = re.compile(r"^\s*(?:open|show|go|navigate|view|display|visit|bring up|take me)\b", re.I)
QUESTION_START = re.compile(
    r"^\s*(?:what|which|who|whom|whose|when|where|why|how|is|are|does|do|did|can|list|"
    r"give|name|count|tell|according)\b",
    re.I,
)
CHANGE_START = re.compile(r"^\s*(?:\w+\s+){0,6}?(?:" + "|".join(sorted(CHANGE_VERBS)) + r")\b", re.I)
BUG_REPORT = re.compile(
    r"\b(?:should|must|instead of|but|wrong|backwards|raises|is accepted|does nothing|loses|"
    r"ignores|keeps|carries)\b",
    re.I,
)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "many": ("count",),
    "number": ("count",),
    "count": ("count", "match", "result"),
    "total": ("sum", "count"),
    "average": ("avg",),
    "mean": ("avg",),
    "highest": ("max", "desc", "descend"),
    "maximum": ("max",),
    "most": ("max", "desc"),
    "largest": ("max", "desc"),
    "greatest": ("max", "desc"),
    "lowest": ("min", "asc", "ascend"),
    "minimum": ("min",),
    "smallest": ("min", "asc"),
    "fewest": ("min", "asc"),
    "earliest": ("min", "asc", "order"),
    "oldest": ("min", "asc", "order"),
    "latest": ("max", "desc"),
    "last": ("max", "desc", "latest"),
    "newest": ("max", "desc"),
    "recently": ("desc", "max"),
    "recent": ("desc", "max"),
    "distinct": ("distinct",),
    "different": ("distinct",),
    "unique": ("distinct",),
    "sorted": ("order", "sort"),
    "sort": ("order", "sort"),
    "order": ("order", "sort"),
    "ascending": ("asc", "ascend"),
    "descending": ("desc", "descend"),
    "alphabetically": ("asc", "ascend", "sort"),
    "percentage": ("100",),
    "percent": ("100",),
    "formula": ("=",),
    "bold": ("ctrl+b", "bold"),
    "longest": ("max", "desc"),
    "shortest": ("min", "asc"),
    "date": ("due", "date", "time"),
    "open": ("closed",),
    "still": (),
    "active": ("closed",),
}
NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_IDENT = re.compile(r"`([^`]+)`|\b([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+|[A-Za-z_]\w*_\w+|[A-Za-z_]\w*(?=\())")
_CAPITAL = re.compile(r"(?<![\w'])([A-Z][A-Za-z0-9]*(?:[- ][A-Z][A-Za-z0-9]*)*)")
_CELL_REF = re.compile(r"(?<![A-Za-z0-9_])([A-Z]{1,3}[1-9]\d{0,5})(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class Grounding:
    verdict: bool
    reason: str


@dataclass(frozen=True)
class Rules:
    """The judge's settings (tuned on one half of the judge benchmark's tasks, reported on the other)."""

    coverage: float = 0.5
    """Share of the instruction's content words that must name what the span acted on, changed or showed."""
    chosen_given: bool = True
    """Values the span chose itself (compared in a query, selected, filled in, typed) must be given by the
    instruction or be on a page the span saw."""
    named_misses: int = 0
    """Content words the span saw (on a page, in a schema) but did not act on, change or show that are allowed:
    an instruction naming a thing that is there, and that the span left alone, asks for something else."""
    require_change: bool = True
    require_answer: bool = True
    answer_on_page: bool = True
    columns_asked: bool = True
    """The columns a read query returns must be asked for (or name the rows: id, name, value)."""
    negation: bool = True
    """An instruction saying "not" asks for a query that negates (`!=`, `NOT`, `IS NULL`, `status=!closed`)."""
    answer_near: bool = True
    """An answer picked from a long page must sit next to what the question asks about."""
    specifics: bool = True


DEFAULT_RULES = Rules()


# -- the old rule -----------------------------------------------------------------------------------------------
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


def _copied(
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
    copied = _copied(instruction, steps, acted, chrome)
    if copied:
        return Grounding(False, f"repeats page text the span did not type: '{copied}'")
    named = sorted(_content(words(instruction)) & _content([w for t in acted for w in words(t)]))
    if named:
        return Grounding(True, f"names what the span acted on: {', '.join(named[:6])}")
    shown = "; ".join(t[:40] for t in acted[:4]) or "nothing"
    return Grounding(False, f"names nothing the span acted on (it acted on: {shown})")


# -- what an instruction asks ------------------------------------------------------------------------------------
def asks_question(instruction: str) -> bool:
    text = instruction.strip()
    return text.endswith("?") or bool(QUESTION_START.match(text)) or bool(re.search(r"\?\s", text))


def asks_change(instruction: str) -> bool:
    """An instruction asking for a change: a change verb leads one of its clauses, or it reports a bug."""
    clauses = re.split(r"[;:,.]\s+|\band\b|\bthen\b", instruction)
    return any(CHANGE_START.match(c) for c in clauses) and not asks_question(instruction)


def identifiers(instruction: str) -> list[str]:
    """The code it names: `backticked`, dotted.names, snake_case and called( ) names; for a call chain
    (`Version.parse('1.2.3').bump_minor()`), the last call is the subject."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", instruction)
    out: list[str] = []
    for chain in re.finditer(r"[A-Za-z_][\w.]*(?:\([^()]*\))?(?:\.[A-Za-z_]\w*(?:\([^()]*\))?)*", text):
        calls = re.findall(r"([A-Za-z_]\w*)\s*(?=\()", chain.group(0))
        if len(calls) > 1:
            if calls[-1] not in out:
                out.append(calls[-1])
            continue
        for match in _IDENT.finditer(chain.group(0)):
            name = match.group(1) or match.group(2)
            if name and name not in out:
                out.append(name)
    for match in re.finditer(r"`([^`]+)`", instruction):
        out += [w for w in re.findall(r"[A-Za-z_]\w+", match.group(1)) if w not in out]
    return [n for n in out if not n[:1].isupper() or "." in n or "_" in n]


def specifics(instruction: str) -> list[str]:
    """The values an instruction gives: numbers, quoted strings, cell addresses, capitalised names (not a
    sentence's first word), CamelCase words."""
    out: list[str] = []
    text = instruction
    for q in quoted(text):
        out.append(f"'{q}'")
    bare = re.sub(r"(?<![\w])'[^']+'(?![\w])|\"[^\"]+\"", " ", text)
    out += _CELL_REF.findall(bare)
    out += numbers(bare)
    for sentence in re.split(r"(?<=[.?!;:])\s+", bare):
        for match in _CAPITAL.finditer(sentence):
            name = match.group(1)
            if (
                _CELL_REF.fullmatch(name)
                or len(name) == 1
                or sentence[: match.start()].strip() == ""
                or re.fullmatch(r"[A-Z]+(?:-[A-Z]+)*", name)
            ):  # an acronym or a format (UTC, YYYY-MM-DD)
                continue
            if name.lower() in FUNCTION_WORDS or name.lower() in GENERIC:
                continue
            out.append(name)
    return list(dict.fromkeys(out))


def content_words(instruction: str) -> list[str]:
    """The instruction's words that name something (stemmed): not function words, not the generic words that say
    what to do, not an imperative verb leading a clause."""
    out: list[str] = []
    for clause in re.split(r"[;:,.?!()]\s*|\s+(?:and|then|or)\s+", instruction):
        clause = re.sub(r"(?i)\bhow many\b|\bnumber of\b", "count", re.sub(r"(?i)\be-mail", "email", clause))
        clause = re.sub(
            r"(?i)\b(one|two|three|four|five|six|seven|eight|nine|ten)\b",
            lambda m: str(NUMBER_WORDS.index(m.group(1).lower()) + 1),
            clause,
        )
        tokens = re.findall(r"[A-Za-z0-9]+(?:'[a-z]+)?", clause)
        leading = True  # no word that names something yet: an imperative here says what to do
        for token in tokens:
            low = token.lower()
            low = low[:-2] if low.endswith("'s") else low
            if low in FUNCTION_WORDS or low in GENERIC or (leading and low in IMPERATIVES):
                continue
            leading = False
            for form in forms(token):
                if form not in out and (len(form) > 1 or form.isdigit()):
                    out.append(form)
    return out


# -- the judge ---------------------------------------------------------------------------------------------------
def _has(value: str, texts_forms: set[str], raw: str) -> bool:
    """Whether `value` (a specific of the instruction) is among the forms or raw text of what the span did."""
    if value.startswith("'"):
        inner = forms(value[1:-1])
        return bool(inner) and all(f in texts_forms for f in inner) or value[1:-1].lower() in raw.lower()
    if _CELL_REF.fullmatch(value):
        return re.search(rf"(?<![A-Za-z0-9]){value}(?!\d)", raw) is not None
    if re.fullmatch(r"\d+(?:\.\d+)*", value):
        return re.search(rf"(?<![\w.]){re.escape(value)}(?![\d]|\.\d)", raw) is not None
    parts = forms(value)
    return bool(parts) and all(p in texts_forms for p in parts)


def _covered(word: str, pool: set[str]) -> bool:
    if word in pool:
        return True
    return any(stem(s) in pool or s in pool for s in SYNONYMS.get(word, ()))


def _answer_seen(answer: str, read: str) -> bool:
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


def _answer_near(answer: str, page: str, content: Sequence[str], window: int = 1, small: int = 6) -> bool:
    """On a page of more than `small` lines, the answer sits on a line that, with the `window` lines around it,
    names something the question asks about (a value next to its label: "Owned by: | Dave Diaz")."""
    lines = [line for line in page.splitlines() if line.strip()]
    if len(lines) <= small:
        return True
    wanted = set(content)
    text = answer.strip().lower()
    nums = numbers(answer)
    hits = [
        k
        for k, line in enumerate(lines)
        if text in line.lower()
        or (nums and all(re.search(rf"(?<![\d.]){re.escape(n)}(?![\d]|\.\d)", line) for n in nums))
    ]
    if not hits:
        return True  # not on this page as written (`_answer_seen` reads it more loosely): nothing to place
    for k in hits:
        around = set(forms(" ".join(lines[max(0, k - window) : k + window + 1])))
        if any(_covered(w, around) for w in wanted if not w.isdigit()):
            return True
    return False


def judge(
    instruction: str,
    steps: Sequence[dict[str, Any]],
    chrome: frozenset[str] = frozenset(),
    after: dict[str, Any] | None = None,
    rules: Rules = DEFAULT_RULES,
) -> Grounding:
    """The grounding verdict of `instruction` for the span `steps` (dicts with `action`, `observation`, `url`,
    `error`, maybe `effect`); `after` is what followed the span's last step (observation, url, answer)."""
    eff = read_effects(steps, after)
    if not eff.acted and not eff.answer:
        return Grounding(False, "the span did nothing that worked")
    copied = _copied(instruction, steps, eff.acted, chrome)
    if copied:
        return Grounding(False, f"repeats page text the span did not type: '{copied}'")
    question = asks_question(instruction)
    change = asks_change(instruction)
    code = identifiers(instruction)
    if not question and (
        eff.functions or eff.tests is not None or (code and eff.writes and BUG_REPORT.search(instruction))
    ):
        return _judge_fix(instruction, code, eff)
    if not question and code and BUG_REPORT.search(instruction) and not eff.writes:
        return Grounding(False, "reports a bug in the code it names; the span changed no code")
    acted = eff.acted_forms()
    changed = eff.changed_forms()
    shown = eff.shown_forms()
    read = eff.read_forms() if question else set()
    raw_acted = " ".join(eff.acted + eff.urls + list(eff.cells) + eff.labels + eff.writes + [eff.answer or ""])
    if rules.specifics:
        pool = acted | changed
        raw = raw_acted + (" " + eff.read if question else "")
        for value in specifics(instruction):
            strict = value.startswith("'") or bool(re.fullmatch(r"[\d.]+|[A-Z]{1,3}\d+", value))
            if not (_has(value, pool, raw_acted) or (not strict and question and _has(value, pool | read, raw))):
                return Grounding(False, f"gives {value}, which is nothing the span acted on or changed")
    seen = set(forms(" ".join(page_content(s.get("observation"), chrome) for s in steps)))
    if rules.chosen_given:
        said = set(forms(instruction))
        ranges = re.findall(r"\b(\d+)\s*(?:to|through|-)\s*(\d+)\b", instruction)  # "1 to 5" gives 2, 3, 4
        given = (
            said
            | {stem(w) for word in said for w in SYNONYMS.get(word, ())}
            | {str(n) for a, b in ranges if int(b) - int(a) <= 1000 for n in range(int(a), int(b) + 1)}
        )
        for value, page in eff.chosen:
            parts = [f for f in forms(value) if f not in FUNCTION_WORDS and (len(f) > 1 or f.isdigit())]
            if parts and not any(f in given or f in set(forms(page_content(page, chrome))) for f in parts):
                return Grounding(False, f"chose '{value[:40]}', which the instruction does not give")
    if rules.columns_asked:
        said = set(forms(instruction)) | {stem(w) for word in forms(instruction) for w in SYNONYMS.get(word, ())}
        for column in eff.selected:
            parts = forms(column)
            if parts and column.lower() not in KEY_COLUMNS and not any(p in said for p in parts):
                return Grounding(False, f"its query returns {column}, which the instruction does not ask for")
        asked = [
            f
            for a, b in ASKED.findall(instruction)
            for word in (a or b).split()
            if word.lower() not in FUNCTION_WORDS
            for f in forms(word)
        ]
        returned = {f for column in eff.selected for f in forms(column)}
        if (
            eff.selected
            and asked
            and not any(c.lower() in KEY_COLUMNS for c in eff.selected)
            and not any(a in returned for a in asked)
        ):
            return Grounding(False, f"asks for the {asked[0]}s; its query returns {', '.join(eff.selected[:3])}")
    if (
        rules.negation
        and NEGATION.search(instruction)
        and (
            eff.query_result
            or any(re.match(r"\s*(?:SELECT|WITH)\b|/query\b|/search\b", t, re.I) for t in eff.acted + eff.urls)
        )
    ):
        if not any(NEGATED.search(t) for t in eff.acted + eff.urls):
            return Grounding(False, "asks for what is not so; the span's query negates nothing")
    content = content_words(instruction)
    navigation = bool(NAVIGATION_START.match(instruction)) and not change and not question
    pool = acted | changed | read | (set(forms(" ".join(eff.headings))) if navigation else shown)
    if eff.answer and numbers(eff.answer):
        pool.add("count")  # a number answers "how many"
    covered = [w for w in content if _covered(w, pool)]
    missing = [w for w in content if w not in covered]
    named = [w for w in missing if w in seen and not w.isdigit()]
    if len(named) > rules.named_misses:
        return Grounding(False, f"names {', '.join(named[:4])}, which the span saw but did not act on")
    if content and len(covered) < rules.coverage * len(content):
        return Grounding(
            False,
            f"names little the span acted on ({len(covered)}/{len(content)} words; not: {', '.join(missing[:5])})",
        )
    if rules.require_change and change and not eff.writes:
        return Grounding(False, "asks for a change, but the span changed nothing")
    if rules.require_answer and question and not change:
        answered = eff.answer is not None and eff.answer.strip().lower() not in GENERIC_ANSWERS
        if not answered and not eff.query_result:
            return Grounding(False, "asks a question the span does not answer")
        if answered and rules.answer_on_page and not _answer_seen(eff.answer or "", eff.read):
            return Grounding(False, f"answers '{(eff.answer or '')[:40]}', which no page the span saw shows")
        if answered and rules.answer_near and not _answer_near(eff.answer or "", eff.read, content):
            return Grounding(
                False,
                f"answers '{(eff.answer or '')[:40]}', which the page shows next to nothing the question asks about",
            )
    return Grounding(True, f"names what the span acted on: {', '.join(covered[:6] or content[:6])}")


def _judge_fix(instruction: str, code: list[str], eff: SpanEffects) -> Grounding:
    """A span that edited code: when its replay ran the tests, the change must make a failing test pass, break
    none and leave no failing test in the files of those it fixed (half a fix); and the functions the report names
    must be those the change touched (around the diff's hunks when known, else in the edit itself), or share a
    name's main word with them (a helper: `bump_prerelease` and `_increment_prerelease`); a report naming no code
    must share a word with them."""
    if eff.tests is not None:
        fixed, broken, unfixed = eff.tests
        if broken:
            return Grounding(False, f"the change breaks {len(broken)} test(s) that passed: {', '.join(broken[:2])}")
        if not fixed:
            return Grounding(False, "the change makes no failing test pass")
        files = {t.split("::")[0] for t in fixed}
        left = [t for t in unfixed if t.split("::")[0] in files]
        if left:
            return Grounding(False, f"the change leaves {len(left)} failing test(s) beside those it fixed: {left[0]}")

    def bare(name: str) -> str:
        return name.split(".")[-1].strip("_").lower()

    changed = [bare(f) for f in eff.functions]
    where = " ".join(eff.functions) if eff.functions else "its edit"
    if changed:
        pool = {f for name in eff.functions for f in forms(name.split(".")[-1]) if len(f) >= 5}
    else:
        pool = {f for f in forms(" ".join(eff.writes)) if len(f) >= 5}
        changed = [w for w in re.findall(r"[A-Za-z_]\w+", " ".join(eff.writes).lower())]
    subjects = [bare(c) for c in code]
    hit = [s for s in subjects if s in changed]
    if hit:
        return Grounding(True, f"the change touches {', '.join(hit)}, which the report names")
    words_named = (
        {f for c in code for f in forms(c.split(".")[-1]) if len(f) >= 5} if code else set(content_words(instruction))
    )
    shared = sorted(words_named & pool)
    if shared:
        return Grounding(True, f"the change touches {where[:60]}, which shares '{shared[0]}' with the report")
    named = ", ".join(code[:4]) if code else "no code"
    return Grounding(False, f"the report names {named}; the change touches {where[:80]}")
