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
