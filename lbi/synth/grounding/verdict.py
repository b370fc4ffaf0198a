"""The grounding verdict: reads what a span did (`lbi.synth.effects`) and checks the instruction against it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lbi.observations import page_content
from lbi.synth.effects import GENERIC_ANSWERS, forms, numbers, read_effects, stem
from lbi.synth.grounding import query, schema, sheet, web
from lbi.synth.grounding.answers import answer_near, answer_seen, count_differs
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
    BUG_REPORT,
    FUNCTION_WORDS,
    NAVIGATION_START,
    SYNONYMS,
)

ONE_ELEMENT = re.compile(r"^\s*(?:focus|click|tap|close)\b(?!.*\b(?:enter|type|fill|write|select|choose)\b)", re.I)
"""An instruction asking only to act on one element ("Focus into the textbox."): text the span typed on the way is
not a value it was asked for, so `Rules.chosen_given` does not read it."""


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
    texts = eff.acted + eff.urls + list(eff.cells) + eff.labels + eff.functions + eff.writes + [eff.answer or ""]
    raw_acted = " ".join(eff.acted + eff.urls + list(eff.cells) + eff.labels + eff.writes + [eff.answer or ""])
    pages = "\n".join([*(s.get("observation") or "" for s in steps), (after or {}).get("observation") or ""])
    if rules.specifics:
        pool = acted | changed
        raw = raw_acted + (" " + eff.read if question else "")
        labels = sheet.headers(pages)
        for value in specifics(instruction):
            strict = value.startswith("'") or bool(re.fullmatch(r"[\d.]+|[A-Z]{1,3}\d+", value) and value not in labels)
            if web.names_close(value.strip("'"), eff.acted):
                continue
            if not (
                holds(value, pool, raw_acted, texts, pages)
                or (not strict and question and holds(value, pool | read, raw))
            ):
                return Grounding(False, f"gives {value}, which is nothing the span acted on or changed")
        ordinal = web.ordinal_missed(instruction, steps)
        if ordinal:
            return Grounding(False, f"names the {ordinal}, which is not what the span acted on")
    seen = set(forms(" ".join(page_content(s.get("observation"), chrome) for s in steps)))
    if rules.chosen_given and not ONE_ELEMENT.match(instruction):
        said = set(forms(instruction))
        ranges = re.findall(r"\b(\d+)\s*(?:to|through|-)\s*(\d+)\b", instruction)  # "1 to 5" gives 2, 3, 4
        given = (
            said
            | {stem(w) for word in said for w in SYNONYMS.get(word, ())}
            | {str(n) for a, b in ranges if int(b) - int(a) <= 1000 for n in range(int(a), int(b) + 1)}
        )
        filled = schema.unnamed_inserts(eff.acted, said)
        for value, page in [*eff.chosen, *web.url_choices(steps)]:
            if query.SQL_MODIFIERS.match(value.strip()) or value in filled:
                continue
            parts = [f for f in forms(value) if f not in FUNCTION_WORDS and (len(f) > 1 or f.isdigit())]
            if parts and not any(f in given or f in set(forms(page_content(page, chrome))) for f in parts):
                return Grounding(False, f"chose '{value[:40]}', which the instruction does not give")
    why = (
        (query.columns_unasked(instruction, eff) if rules.columns_asked else None)
        or (query.negation_missed(instruction, eff, acted) if rules.negation else None)
        or (query.picked_missed(instruction, eff, acted) if rules.reads else None)
        or (query.too_many_rows(instruction, eff, (after or {}).get("observation") or "") if rules.reads else None)
        or (query.ids_for_names(instruction, eff, pages) if rules.reads else None)
        or (query.computation_missed(instruction, texts) if rules.reads else None)
        or (sheet.cell_outside(instruction, eff) if rules.reads else None)
        or (query.state_missed(instruction, eff) if rules.reads else None)
    )
    if why:
        return Grounding(False, why)
    content = [w for w in content_words(instruction) if w not in web.ordinal_forms(instruction)]
    navigation = bool(NAVIGATION_START.match(instruction)) and not change and not question
    pool = acted | changed | read | (set(forms(" ".join(eff.headings))) if navigation else shown)
    pool |= web.role_words(steps)
    pool |= schema.medium_words(pages)  # "the library" is the database `library.db` the span worked in
    key = query.its_key(instruction, eff)
    if key:
        pool.add(key)
    if eff.answer and numbers(eff.answer):
        pool.add("count")  # a number answers "how many"
    covered = [w for w in content if covered_by(w, pool)]
    missing = [w for w in content if w not in covered]
    # "borrowed a book": the loans it read have a book_id; but "how many books" counts books, not loans
    rows_of = schema.tables_referred(eff.acted, pages) - query.subjects(instruction)
    named = [w for w in missing if w in seen and w not in rows_of and not w.isdigit()]
    if len(named) > rules.named_misses:
        return Grounding(False, f"names {', '.join(named[:4])}, which the span saw but did not act on")
    if content and len(covered) < rules.coverage * len(content):
        return Grounding(
            False,
            f"names little the span acted on ({len(covered)}/{len(content)} words; not: {', '.join(missing[:5])})",
        )
    ui_change = bool(web.UI_CHANGE.match(instruction)) and web.acted_on_element(steps)
    if rules.require_change and change and not eff.writes and not ui_change:
        return Grounding(False, "asks for a change, but the span changed nothing")
    failed = sheet.failed_cell(eff) if change else None
    if failed:
        return Grounding(False, f"its change leaves an error: {failed}")
    if rules.require_answer and question and not change:
        answered = eff.answer is not None and eff.answer.strip().lower() not in GENERIC_ANSWERS
        if not answered and not eff.query_result and not query.empty_answers(instruction, eff):
            return Grounding(False, "asks a question the span does not answer")
        end_page = (after or {}).get("observation") or ""
        counted = count_differs(instruction, eff.answer or "", end_page) or query.count_unanswered(
            instruction, eff, end_page
        )
        if answered and counted:
            return Grounding(False, counted)
        if answered and rules.answer_on_page and not answer_seen(eff.answer or "", eff.read):
            return Grounding(False, f"answers '{(eff.answer or '')[:40]}', which no page the span saw shows")
        if (
            answered
            and rules.answer_near
            and not answer_near(
                eff.answer or "", eff.read, content, labels=sheet.cell_labels(eff.answer or "", eff.read)
            )
        ):
            return Grounding(
                False,
                f"answers '{(eff.answer or '')[:40]}', which the page shows next to nothing the question asks about",
            )
    return Grounding(True, f"names what the span acted on: {', '.join(covered[:6] or content[:6])}")
