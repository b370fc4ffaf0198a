"""A span that edited code, judged by its tests and the functions its change touched."""

from __future__ import annotations

import re

from lbi.synth.effects import SpanEffects, forms
from lbi.synth.grounding.names import content_words
from lbi.synth.grounding.rules import Grounding


def judge_fix(instruction: str, code: list[str], eff: SpanEffects) -> Grounding:
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

    fixed_tests = [_test_name(t) for t in (eff.tests[0] if eff.tests else [])]
    classes = {f for name in eff.functions for part in name.split(".")[:-1] for f in forms(part)}
    changed = [bare(f) for f in eff.functions]
    where = " ".join(eff.functions) if eff.functions else "its edit"
    if changed:
        pool = {f for name in eff.functions for f in _function_forms(name) if len(f) >= 5} - classes
    else:
        pool = {f for f in forms(" ".join(eff.writes)) if len(f) >= 5}
        changed = [w for w in re.findall(r"[A-Za-z_]\w+", " ".join(eff.writes).lower())]
    subjects = [bare(c) for c in code]
    hit = [s for s in subjects if s in changed]
    if hit:
        return Grounding(True, f"the change touches {', '.join(hit)}, which the report names")
    tested = [  # most of the tests the change makes pass are the named function's
        s
        for s in subjects
        if len(s) >= 4
        and sum(bool(re.search(rf"(?:^|_){re.escape(s)}(?:_|$)", t)) for t in fixed_tests) * 2 > len(fixed_tests)
    ]

    if tested:
        return Grounding(True, f"the change makes {tested[0]}'s failing tests pass ({where[:60]})")
    if code:
        words_named = {f for c in code for f in forms(c.split(".")[-1]) if len(f) >= 5} - classes
    else:
        words_named = set(content_words(instruction)) - classes
        pool |= {f for t in fixed_tests for f in forms(t) if len(f) >= 5} - classes - TEST_WORDS
    shared = sorted(words_named & pool)
    if shared:
        return Grounding(True, f"the change touches {where[:60]}, which shares '{shared[0]}' with the report")
    named = ", ".join(code[:4]) if code else "no code"
    return Grounding(False, f"the report names {named}; the change touches {where[:80]}")


TEST_WORDS = frozenset({"test", "should", "shouldn", "raise", "return", "correct", "work", "when", "with"})
"""Words of test names that say how a test is phrased, not what it tests."""
DUNDER_WORDS = {
    "init": "constructor create init",
    "getitem": "index indexing subscript item",
    "eq": "equal equality compare",
    "lt": "less compare order",
    "gt": "greater compare order",
    "str": "string str",
    "repr": "representation repr",
    "hash": "hash hashable",
    "iter": "iterate iteration",
    "len": "length",
    "contains": "contain",
}
"""What a person calls Python's special methods (`__init__` is the constructor)."""


def _function_forms(name: str) -> list[str]:
    last = name.split(".")[-1]
    if last.startswith("__") and last.endswith("__"):
        return forms(DUNDER_WORDS.get(last.strip("_"), last.strip("_")))
    return forms(last)


def _test_name(test_id: str) -> str:
    """`tests/test_bump.py::test_should_bump_build[3.4.5-...]` → `test_should_bump_build` (lower case)."""
    return test_id.split("::")[-1].split("[")[0].lower()
