"""What a span's query did, read against a question: the columns it returns, what it negates, what picks its rows,
how many rows it returned, the computation it made."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lbi.synth.effects import SpanEffects, forms, numbers, singular, stem
from lbi.synth.grounding import schema
from lbi.synth.grounding.names import specifics
from lbi.synth.grounding.vocabulary import (
    ASKED,
    FUNCTION_WORDS,
    GENERIC,
    KEY_COLUMNS,
    NEGATED,
    NEGATION,
    NUMBER_WORDS,
    SYNONYMS,
)

SQL_MODIFIERS = re.compile(
    r"^(?:unixepoch|localtime|utc|auto|subsec|julianday|start of \w+|weekday \d|[+-]?\d+(?:\.\d+)? \w+|.*%.*)$", re.I
)
"""SQLite date and time function arguments (`date(due, 'unixepoch')`): how a value is read, not a value chosen."""
PICKED = re.compile(r"\b(?:each|every|per|which)\s+([A-Za-z]+)\b", re.I)
"""What picks a question's rows: the word after each, every, per or which ("for each owner", "which wontfix ticket")."""
NOT_WHAT = re.compile(r"\b(?:not|no)\s+(?:(?:yet|ever|even|always|once|been|be)\s+)*([A-Za-z]+)", re.I)
"""What an instruction says is not so: the word after "not" or "no", past the adverbs of time ("not yet returned")."""
WHO = re.compile(r"\bwho(?:m|se)?\b", re.I)
"""A question asking for a person."""
COUNT_ASKED = re.compile(r"\bhow\s+(?:many|much)\b", re.I)
COMPUTED: dict[str, tuple[str, ...]] = {
    "percentage": ("100", "percent"),
    "percent": ("100", "percent"),
    "average": ("avg", "average"),
    "mean": ("avg", "average"),
    "round": ("round",),
    "rounded": ("round",),
}
"""Words that name a computation, and what a query (or formula) making it shows."""
ITS_KEY = re.compile(r"\bits\s+(name|id|title)\b", re.I)
SINGULAR_ASK = re.compile(r"\b(?:which|what)\s+([a-z]+)\s+(?:was|is|has|had|did|does)\b.*\b(?:its|the)\b", re.I)


def is_query(eff: SpanEffects) -> bool:
    return eff.query_result or any(
        re.match(r"\s*(?:SELECT|WITH)\b|/query\b|/search\b", t, re.I) for t in eff.acted + eff.urls
    )


def _sql(eff: SpanEffects) -> list[str]:
    return [t for t in eff.acted if re.match(r"\s*(?:SELECT|WITH)\b", t, re.I)]


def columns_unasked(instruction: str, eff: SpanEffects) -> str | None:
    """A column the span's read query returns that the instruction does not ask for, or the thing it asks for that
    the query does not return ("give its name" is answered by a column named for the thing: `milestone`)."""
    said = set(forms(instruction)) | {stem(w) for word in forms(instruction) for w in SYNONYMS.get(word, ())}
    who = bool(WHO.search(instruction))
    for column in eff.selected:
        parts = forms(column)
        if who and schema.person_column(column):
            continue  # "Who wrote it?" is answered by a name (`full_name`) or a person's role (`author`)
        if (
            parts
            and not key_column(column)
            and not any(p in said for p in parts)
            and not schema.short_key(column, said)
        ):
            return f"its query returns {column}, which the instruction does not ask for"
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
        and not any(key_column(c) for c in eff.selected)
        and not any(a in returned for a in asked)
        and not any(stem(w) in returned for a in asked for w in SYNONYMS.get(a, ()))
        and not its_key(instruction, eff)
    ):
        return f"asks for the {asked[0]}s; its query returns {', '.join(eff.selected[:3])}"
    return None


def key_column(column: str) -> bool:
    """A column that names a row or holds a key's value (`id`, `name`; `full_name` and `title` as `name`)."""
    return column.lower() in KEY_COLUMNS or bool(schema.NAME_LIKE.search(column))


def its_key(instruction: str, eff: SpanEffects) -> str | None:
    """ "give its name" (or id, title) answered by a column named for the thing the instruction names (`milestone`
    for "each milestone ... its name"): the key word it asks for, else None."""
    match = ITS_KEY.search(instruction)
    if not match or not eff.selected:
        return None
    said = set(forms(instruction))
    return match.group(1).lower() if any(set(forms(c)) & said for c in eff.selected) else None


def negation_missed(instruction: str, eff: SpanEffects, acted: set[str]) -> str | None:
    """An instruction saying "not" asks for a query that negates (`!=`, `NOT`, `IS NULL`, `status=!closed`), and
    what it says is not so ("not assigned") is what the query compares with."""
    for name in specifics(instruction):  # "Who wrote Never Let Me Go?": a title's "never" negates nothing
        if re.search(r"[A-Za-z]", name):
            instruction = instruction.replace(name.strip("'"), " ")
    if not NEGATION.search(instruction) or not is_query(eff):
        return None
    if not any(NEGATED.search(t) for t in eff.acted + eff.urls):
        return "asks for what is not so; the span's query negates nothing"
    if _sql(eff):
        for word in NOT_WHAT.findall(instruction):
            parts = [f for f in forms(word) if f not in FUNCTION_WORDS and f not in GENERIC]
            if parts and not any(p in acted for p in parts):
                return f"asks for what is not {word}; the span's query does not compare with {word}"
    return None


def picked_missed(instruction: str, eff: SpanEffects, acted: set[str]) -> str | None:
    """The words that pick a question's rows ("for each owner", "which wontfix ticket") must be what the span's
    SQL query names (a column, a table, a value it compares with)."""
    if not _sql(eff):
        return None
    query = set(forms(" ".join(_sql(eff))))
    for word in PICKED.findall(instruction):
        if word.lower() in FUNCTION_WORDS or word.lower() in GENERIC:
            continue
        parts = forms(word)
        if (
            parts
            and not any(p in query or p in acted for p in parts)
            and not any(schema.short_key(name, set(parts)) for name in re.findall(r"\w+", " ".join(_sql(eff))))
        ):
            return f"picks its rows by {word}, which the span's query does not name"
    return None


def rows_returned(page: str) -> int | None:
    """The row count a SQL result shows (`(2 rows)`), or None."""
    match = re.search(r"^\((\d+) rows?\)\s*$", page or "", re.M)
    return int(match.group(1)) if match else None


def too_many_rows(instruction: str, eff: SpanEffects, end_page: str) -> str | None:
    """A question asking for one thing ("Which ticket was modified most recently? Give its id.") that the span
    ends on a query returning several rows, without an answer of its own."""
    if eff.answer or not eff.query_result or not _sql(eff):
        return None
    rows = rows_returned(end_page)
    match = SINGULAR_ASK.search(instruction)
    if rows and rows > 1 and match and not match.group(1).lower().endswith("s"):
        return f"asks for one {match.group(1)}; its query returns {rows} rows"
    return None


def computation_missed(instruction: str, texts: Sequence[str]) -> str | None:
    """A computation the instruction names (a percentage, an average, rounding) that the span's query or formula
    does not make."""
    shown = " ".join(texts).lower()
    if not re.search(r"\bselect\b|=\w+\(", shown):
        return None
    for word in re.findall(r"[a-z]+", instruction.lower()):
        signs = COMPUTED.get(word)
        if signs and not any(sign in shown for sign in signs):
            return f"asks for the {word}; the span's query makes none"
    return None


STATE_VERBS = {"close": "closed", "reopen": "reopened", "accept": "accepted"}
"""Verbs that ask for a record to be in a state, and the state a changed row then shows."""


def state_missed(instruction: str, eff: SpanEffects) -> str | None:
    """ "Close ticket 20 ..." on a replayed span whose changed rows show no `closed`: the state asked for, else None."""
    match = re.match(r"\s*(\w+)\b", instruction)
    state = STATE_VERBS.get(match.group(1).lower()) if match else None
    if not state or not eff.replayed or not any(re.search(r"\(\w+=", w) or " id=" in w for w in eff.writes):
        return None
    if stem(state) in set(forms(" ".join(eff.writes))):
        return None
    return f"asks for {state}; the rows the span changed show nothing {state}"


def ids_for_names(instruction: str, eff: SpanEffects, pages: str) -> str | None:
    """ "Which members ...?" answered by a query returning only ids (`member_id`), when the schema gives the
    members' table a column holding what a row is called (`name`, `title`) and the instruction asks for no ids:
    a person asking which members wants to be told who they are."""
    if not eff.selected or not all(c.lower() == "id" or c.lower().endswith("_id") for c in eff.selected):
        return None
    if {"id", "number", "key"} & set(forms(instruction)):
        return None
    for thing in asked_things(instruction):
        if schema.names_rows(thing, pages):
            return f"asks which {thing}; its query returns only {', '.join(eff.selected[:3])}, not what they are called"
    return None


def asked_things(instruction: str) -> list[str]:
    """The plural nouns a question asks to be returned ("Which books have ...", "List the titles ...")."""
    return [
        w
        for a, b in ASKED.findall(instruction)
        for w in (a or b).split()
        if w.lower() not in FUNCTION_WORDS and singular(w.lower()) != w.lower()
    ]


SUBJECT = re.compile(r"\b(?:how\s+many|number\s+of|which|what|list(?:\s+the|\s+all)?)\s+([A-Za-z]+)", re.I)
"""The thing a question is about: the word after "how many", "which", "list the"."""


def subjects(instruction: str) -> set[str]:
    """The forms of the things a question counts or returns ("How many departments ...?" → department)."""
    return {f for word in SUBJECT.findall(instruction) for f in forms(word)} | {
        f for word in asked_things(instruction) for f in forms(word)
    }


def count_unanswered(instruction: str, eff: SpanEffects, end_page: str) -> str | None:
    """ "How many ...?" answered with no number: neither the answer nor, without one, the query's result holds one."""
    if not COUNT_ASKED.search(instruction):
        return None
    if eff.answer is not None and eff.answer.strip():
        answer = eff.answer.lower()
        if numbers(answer) or any(re.search(rf"\b{w}\b", answer) for w in NUMBER_WORDS + ["no", "none", "zero"]):
            return None
        return f"asks how many; answers '{eff.answer[:40]}', which is no number"
    if eff.query_result and not any(numbers(v) for v in schema.result_values(end_page)):
        return "asks how many; its query returns no number"
    return None


def empty_answers(instruction: str, eff: SpanEffects) -> bool:
    """A query that returned no rows answers a question asking for a set of things ("Which books have never been
    loaned?": none), when nothing the agent chose emptied it: every value its last query compares with is one the
    instruction gives (`due = 1` for "no due date" is a guess that found nothing)."""
    if not eff.empty_result or not _sql(eff) or not asked_things(instruction):
        return False
    body = re.sub(r"(?i)\bLIMIT\s+\d+(?:\s+OFFSET\s+\d+)?", " ", _sql(eff)[-1])
    patterns = re.findall(r"(?i)\b(?:LIKE|GLOB)\s+'([^']*)'", body)  # what a pattern looks for is chosen
    literals = [q for q in re.findall(r"'([^']*)'", body) if q in patterns or not SQL_MODIFIERS.match(q)]
    literals += re.findall(r"(?<![\w.'])\d+(?:\.\d+)?(?![\w.'])", re.sub(r"'[^']*'", "''", body))
    said = set(forms(instruction))
    return all(set(forms(value)) <= said for value in literals)
