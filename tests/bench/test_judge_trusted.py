"""The committee lbi runs by default, scored on the judge benchmark (`bench/judge_trusted.py`): who votes in an
environment is decided from the other environments' pairs, and a pair a replay judge could not decide is left out."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from judge_trusted import EnvVerdicts, trusted, voters  # noqa: E402

MODELS = ("accomplishment", "instruction", "efficiency")


def _env(name: str, labels: list[bool], **verdicts: Sequence[bool | None]) -> EnvVerdicts:
    pairs = [{"id": f"{name}-{k}", "label": label} for k, label in enumerate(labels)]
    return EnvVerdicts(name, pairs, {k: list(v) for k, v in verdicts.items()}, list(range(len(labels))))


LABELS = [True] * 6 + [False] * 18  # a quarter good, as in the shipped set


def _yes_to_all(name: str, grounding: Sequence[bool | None], **more: Sequence[bool | None]) -> EnvVerdicts:
    """An environment where the model judges keep every pair (at chance) and `grounding` gives its own verdicts."""
    return _env(name, LABELS, **{m: [True] * len(LABELS) for m in MODELS}, grounding=grounding, **more)


RIGHT = list(LABELS)  # grounding, always right
MISSES_ONE = [*LABELS[:5], False, True, *LABELS[7:]]  # drops a good pair, keeps a bad one


def test_who_votes_is_decided_by_the_other_environments() -> None:
    every = [_yes_to_all("a", RIGHT), _yes_to_all("b", RIGHT), _yes_to_all("c", MISSES_ONE)]
    judges, why = voters((*MODELS, "grounding"), "c", every)
    assert judges == ["grounding"] and set(why) == set(MODELS)
    assert why["accomplishment"].startswith("at chance elsewhere: precision 25% [")
    measured, who = trusted(every)
    scored = {(j, env): q for j, env, _, q, _ in measured}
    assert scored["trusted", "c"].tp == 5 and scored["trusted", "c"].fp == 1  # grounding's verdicts there
    assert who["c"]["trusted"]["voting"] == ["grounding"]

    # a judge at chance only in the environment being scored still votes there: its own pairs did not decide
    good_elsewhere = [_env(n, LABELS, **{m: list(LABELS) for m in MODELS}, grounding=RIGHT) for n in ("a", "b")]
    judges, _ = voters((*MODELS, "grounding"), "c", [*good_elsewhere, _yes_to_all("c", RIGHT)])
    assert judges == [*MODELS, "grounding"]


def test_with_a_replay_judge_a_pair_it_could_not_replay_is_left_out() -> None:
    replay: list[bool | None] = [None, *([True] * (len(LABELS) - 1))]
    replayed: dict[str, Sequence[bool | None]] = {"grounding+replay": RIGHT, "replay": replay}
    every = [_yes_to_all(n, RIGHT, **replayed) for n in ("a", "b", "c")] + [
        _yes_to_all("miniwob", RIGHT)
    ]  # no replay there: only the default committee is scored
    measured, who = trusted(every)
    rows = {(j, env): (q, out) for j, env, _, q, out in measured}
    q, left_out = rows["trusted+replay", "a"]
    assert left_out == 1 and q.n == len(LABELS) - 1 and q.tp == 5 and q.fp == 0
    assert who["a"]["trusted+replay"]["voting"] == ["grounding+replay", "replay"]
    assert ("trusted+replay", "miniwob") not in rows and ("trusted", "miniwob") in rows


def test_when_every_judge_is_at_chance_elsewhere_all_vote() -> None:
    every = [_yes_to_all(n, [True] * len(LABELS)) for n in ("a", "b", "c")]
    judges, why = voters((*MODELS, "grounding"), "a", every)
    assert judges == [*MODELS, "grounding"] and why == {}


def test_without_a_model_judge_voting_every_pair_is_scored_else_the_sample() -> None:
    every = [_yes_to_all(n, RIGHT) for n in ("a", "b", "c")]
    every[0] = EnvVerdicts("a", every[0].pairs, every[0].verdicts, [0, 1, 6, 7])  # the model judges asked 4 pairs
    measured, _ = trusted(every)
    q = next(q for j, env, _, q, _ in measured if (j, env) == ("trusted", "a"))
    assert q.n == len(LABELS) and q.tp == 6  # grounding alone decides: all 24 pairs, not the 4
    vote_too = [_env(n, LABELS, **{m: list(LABELS) for m in MODELS}, grounding=RIGHT) for n in ("b", "c")]
    measured, _ = trusted([every[0], *vote_too])  # the model judges are right elsewhere: they vote in a
    q = next(q for j, env, _, q, _ in measured if (j, env) == ("trusted", "a"))
    assert q.n == 4 and (q.tp, q.tn) == (2, 2)
