"""What an instruction asks and names: a question or a change, the code, the values and the content words it names,
and whether what the span did holds them (names matched as a person would: `lbi.synth.effects.forms`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lbi.synth.effects import forms, numbers, quoted, stem
from lbi.synth.grounding.vocabulary import (
    CAPITAL,
    CELL_REF,
    CHANGE_START,
    FUNCTION_WORDS,
    GENERIC,
    IDENT,
    IMPERATIVES,
    NUMBER_WORDS,
    QUESTION_START,
    SYNONYMS,
)


def asks_question(instruction: str) -> bool:
    text = instruction.strip()
    return text.endswith("?") or bool(QUESTION_START.match(text)) or bool(re.search(r"\?\s", text))


def asks_change(instruction: str) -> bool:
    """An instruction asking for a change: a change verb leads one of its clauses, or it reports a bug."""
    clauses = re.split(r"[;:,.]\s+|\band\b|\bthen\b", instruction)
    return any(CHANGE_START.match(c) for c in clauses) and not asks_question(instruction)


def identifiers(instruction: str) -> list[str]:
    """The code it names: `backticked`, dotted.names, snake_case and called( ) names; for a call chain
    (`Version.parse('1.2.3').bump_minor()`), the last call is the subject, and a chain that is indexed
    (`Version.parse('3.4.5')[0]`) names `__getitem__`. A dotted word inside a version string (`1.0.0-alpha.beta`)
    is not code."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", instruction)
    out: list[str] = []
    args = r"\((?:[^()]|\([^()]*\))*\)"
    for chain in re.finditer(rf"[A-Za-z_][\w.]*(?:{args})?(?:\.[A-Za-z_]\w*(?:{args})?)*", text):
        before = text[chain.start() - 1 : chain.start()]
        if before and (before in "-+." or before.isdigit()):
            continue
        top = re.sub(args, "()", chain.group(0))
        calls = re.findall(r"([A-Za-z_]\w*)\s*(?=\()", top)
        if calls and text[chain.end() : chain.end() + 1] == "[":
            if "__getitem__" not in out:
                out.append("__getitem__")
            continue
        if len(calls) > 1:
            if calls[-1] not in out:
                out.append(calls[-1])
            continue
        for match in IDENT.finditer(top):
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
    out += CELL_REF.findall(bare)
    out += numbers(bare)
    for sentence in re.split(r"(?<=[.?!;:])\s+", bare):
        for match in CAPITAL.finditer(sentence):
            name = match.group(1)
            if (
                CELL_REF.fullmatch(name)
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
        clause = re.sub(  # a number written as a word (not in capitals: "button ONE" names a label)
            r"\b((?i:one|two|three|four|five|six|seven|eight|nine|ten))\b",
            lambda m: m.group(1) if m.group(1).isupper() else str(NUMBER_WORDS.index(m.group(1).lower()) + 1),
            clause,
        )
        tokens = re.findall(r"[A-Za-z0-9]+(?:'[a-z]+)?", clause)
        leading = True  # no word that names something yet: an imperative here says what to do
        for token in tokens:
            low = token.lower()
            low = low[:-2] if low.endswith("'s") else low
            if low in FUNCTION_WORDS or low in GENERIC or (leading and low in IMPERATIVES):
                continue
            if low.endswith("ing") and ({low[:-3], low[:-3] + "e"} & IMPERATIVES):
                continue  # "by clicking the x", "using the Name Box": how, not what
            leading = False
            for form in forms(token):
                if form not in out and (len(form) > 1 or form.isdigit()):
                    out.append(form)
    return out


def holds(value: str, texts_forms: set[str], raw: str, texts: Sequence[str] = (), seen: str = "") -> bool:
    """Whether `value` (a specific of the instruction) is among the forms or raw text of what the span did. A
    quoted value is taken as written: in one text the span acted on or changed, its words in that order, and in
    its case when a page the span saw shows it in that case (MiniWoB's "yes" and "Yes" are two buttons)."""
    if value.startswith("'"):
        inner = value[1:-1]
        if re.search(rf"(?<!\w){re.escape(inner)}(?!\w)", raw):
            return True
        if re.search(rf"(?i)(?<!\w){re.escape(inner)}(?!\w)", raw):
            return re.search(rf"(?<!\w){re.escape(inner)}(?!\w)", seen) is None
        parts = forms(inner)
        return bool(parts) and any(_in_order(parts, forms(text)) for text in texts)
    if CELL_REF.fullmatch(value):
        return re.search(rf"(?<![A-Za-z0-9]){value}(?!\d)", raw) is not None
    if re.fullmatch(r"\d+(?:\.\d+)*", value):
        return re.search(rf"(?<![\w.]){re.escape(value)}(?![\d]|\.\d)", raw) is not None
    parts = forms(value)
    return bool(parts) and all(p in texts_forms for p in parts)


def _in_order(parts: list[str], text: list[str]) -> bool:
    return any(text[k : k + len(parts)] == parts for k in range(len(text) - len(parts) + 1))


SYNONYM_FORMS: dict[str, tuple[str, ...]] = {stem(k): v for k, v in SYNONYMS.items() if stem(k) not in SYNONYMS}
"""`SYNONYMS` by the form `content_words` gives a word ("never" is read as `nev`)."""


def covered_by(word: str, pool: set[str]) -> bool:
    if word in pool:
        return True
    return any(stem(s) in pool or s in pool for s in SYNONYMS.get(word, SYNONYM_FORMS.get(word, ())))
