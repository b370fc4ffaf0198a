"""The grounding verdict: reads what a span did (`lbi.synth.effects`) and checks the instruction against it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lbi.observations import page_content
from lbi.synth.effects import GENERIC_ANSWERS, forms, numbers, read_effects, stem
from lbi.synth.grounding.answers import answer_near, answer_seen
from lbi.synth.grounding.code import judge_fix
from lbi.synth.grounding.copying import copied_text
from lbi.synth.grounding.names import (
    asks_change,
    asks_question,
    content_words,
    covered_by,
    holds,
    identifiers,
    specifics,
)
from lbi.synth.grounding.rules import DEFAULT_RULES, Grounding, Rules
from lbi.synth.grounding.vocabulary import (
    ASKED,
    BUG_REPORT,
    FUNCTION_WORDS,
    KEY_COLUMNS,
    NAVIGATION_START,
    NEGATED,
    NEGATION,
    SYNONYMS,
)


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
    copied = copied_text(instruction, steps, eff.acted, chrome)
    if copied:
        return Grounding(False, f"repeats page text the span did not type: '{copied}'")
    question = asks_question(instruction)
    change = asks_change(instruction)
    code = identifiers(instruction)
    if not question and (
        eff.functions or eff.tests is not None or (code and eff.writes and BUG_REPORT.search(instruction))
    ):
        return judge_fix(instruction, code, eff)
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
            if not (holds(value, pool, raw_acted) or (not strict and question and holds(value, pool | read, raw))):
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
    covered = [w for w in content if covered_by(w, pool)]
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
        if answered and rules.answer_on_page and not answer_seen(eff.answer or "", eff.read):
            return Grounding(False, f"answers '{(eff.answer or '')[:40]}', which no page the span saw shows")
        if answered and rules.answer_near and not answer_near(eff.answer or "", eff.read, content):
            return Grounding(
                False,
                f"answers '{(eff.answer or '')[:40]}', which the page shows next to nothing the question asks about",
            )
    return Grounding(True, f"names what the span acted on: {', '.join(covered[:6] or content[:6])}")
