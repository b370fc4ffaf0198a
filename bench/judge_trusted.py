"""The committee as lbi runs it by default (`synth.judge_trust = "measured"`), scored on pairs that did not decide
who votes.

In a project, a judge the judge benchmark measured at chance in the project's environment does not vote
(`lbi.synth.trust.voting`). Scoring that committee on the same pairs that decided who votes would flatter it, so
here, for each environment E, who votes is decided from the judges' figures pooled over the *other* environments
(leave one environment out; `trust.at_chance` on those), and the strict policy over the voters is scored on E's
pairs: all of them when no model judge votes (the rule judges judged every pair), else the model judges' sample.
Two committees:

* ``trusted``: the default committee (the three model judges and `grounding` on the recorded steps);
* ``trusted+replay``: the committee with a `replay` judge (the three, `grounding` on a replay's effects, and
  `replay`, which always votes: `trust.UNMEASURABLE`). A pair that cannot be replayed is left out, never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from judge_metrics import Quality, figure, quality

from lbi.synth import trust

COMMITTEES: dict[str, tuple[str, ...]] = {
    "trusted": (*trust.MODEL_FOCI, "grounding"),
    "trusted+replay": (*trust.MODEL_FOCI, "grounding+replay", "replay"),
}
REPLAYED = ("grounding+replay", "replay")
"""Judges whose None means "could not replay": the pair is left out (a model judge's None is a no, as the store's)."""


@dataclass(frozen=True)
class EnvVerdicts:
    """One environment's pairs, every judge's verdict per pair (None where it was not asked or could not decide)
    and the pairs the model judges were asked (the sample the policies are scored on)."""

    env: str
    pairs: list[dict[str, Any]]
    verdicts: dict[str, list[bool | None]]
    sample: list[int]


def voters(committee: Sequence[str], env: str, every: Sequence[EnvVerdicts]) -> tuple[list[str], dict[str, str]]:
    """The judges of `committee` that vote in `env`, decided from the other environments' pairs, and why each
    other judge does not; when none would be left, all of them vote."""
    out, why = [], {}
    for judge in committee:
        if judge in trust.UNMEASURABLE:
            out.append(judge)
            continue
        counts = [_counts(e, judge) for e in every if e.env != env and judge in e.verdicts]
        q = Quality(*(sum(getattr(c, k) for c in counts) for k in ("tp", "fp", "fn", "tn")))
        measured = figure(judge, trust.POOLED, "all", q, 0, [e.env for e in every if e.env != env])
        if q.n and trust.at_chance(measured):
            why[judge] = f"at chance elsewhere: precision {trust.percent(measured.precision, measured.precision_ci)}"
        else:
            out.append(judge)
    return (out, why) if out else (list(committee), {})


def _counts(e: EnvVerdicts, judge: str) -> Quality:
    asked = [k for k, v in enumerate(e.verdicts[judge]) if v is not None]
    return quality([e.pairs[k]["label"] for k in asked], [e.verdicts[judge][k] for k in asked])[0]


def scope(e: EnvVerdicts, judges: Sequence[str]) -> list[int]:
    """The pairs a committee of `judges` is scored on: the model judges' sample when one of them votes, else every
    pair (the rule judges judged them all; the model judges' verdicts are not needed when they do not vote)."""
    return list(e.sample) if any(j in trust.MODEL_FOCI for j in judges) else list(range(len(e.pairs)))


def strict(e: EnvVerdicts, judges: Sequence[str]) -> list[bool | None]:
    """The strict policy of `judges` on each pair of its `scope` (None: a replay judge could not decide)."""
    out: list[bool | None] = []
    for k in scope(e, judges):
        votes = [e.verdicts[j][k] for j in judges]
        if any(v is None for j, v in zip(judges, votes, strict=True) if j in REPLAYED):
            out.append(None)
        else:
            out.append(all(bool(v) for v in votes))
    return out


def trusted(every: Sequence[EnvVerdicts]) -> tuple[list[tuple[str, str, str, Quality, int]], dict[str, Any]]:
    """Each committee's strict policy over its leave-one-environment-out voters, per environment: the measured
    rows (judge, env, split, quality, left out) and who voted where (for the result file)."""
    measured: list[tuple[str, str, str, Quality, int]] = []
    who: dict[str, Any] = {}
    for e in every:
        if not e.sample:
            continue
        for name, committee in COMMITTEES.items():
            if any(j not in e.verdicts for j in committee):
                continue  # e.g. no replay in this environment
            judges, silenced = voters(committee, e.env, every)
            q, left_out = quality([e.pairs[k]["label"] for k in scope(e, judges)], strict(e, judges))
            if not q.n:
                continue  # nothing replayed here (MiniWoB++)
            measured.append((name, e.env, "all", q, left_out))
            who.setdefault(e.env, {})[name] = {"voting": judges, "not voting": silenced}
    return measured, who
