"""The grounding judge's verdict and its settings."""

from __future__ import annotations

from dataclasses import dataclass


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
    reads: bool = True
    """What a query or a sheet shows must be what is asked: the words picking a question's rows are in its query,
    one thing asked is one row returned, a computation named is made, the cells changed are in a range named."""


DEFAULT_RULES = Rules()
