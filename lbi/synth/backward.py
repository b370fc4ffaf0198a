"""Backward construction: label every span [i, j] of a trajectory with the instruction it accomplishes.

`per-span` is the paper's reference, one model call per span (L(L+1)/2 calls for length L);
`batched` labels up to `synth.batch_spans` spans of a trajectory in one call (the whole trajectory
at once unless it is long), the steps shown once and the reply holding one field per span. Both
write the same `examples` records. Spans made only of failed actions are skipped; re-running skips
spans already labelled, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lbi import queries
from lbi.errors import ContextWindowError, OutputParseError
from lbi.project import Project
from lbi.synth.prompts import (
    TOKENS_PER_SPAN,
    SpanInstruction,
    batch_schema,
    batched_messages,
    span_key,
    span_messages,
)

Mode = Literal["per-span", "batched"]
Progress = Callable[[int, int], None]
Chooser = Callable[[int, list[tuple[int, int]]], list[tuple[int, int]]]


@dataclass
class BackwardReport:
    trajectories: int = 0
    spans: int = 0
    examples: int = 0
    calls: int = 0
    failed: int = 0


def eligible_spans(steps: Sequence[dict[str, Any]], max_span: int = 0) -> list[tuple[int, int]]:
    """All (i, j) with i ≤ j, at most `max_span` long (0: no cap), not made only of failed actions."""
    spans = []
    n = len(steps)
    for i in range(n):
        last = n if not max_span else min(n, i + max_span)
        for j in range(i, last):
            if any(not steps[k].get("error") for k in range(i, j + 1)):
                spans.append((i, j))
    return spans


def trajectory_steps(project: Project, trajectory_id: int) -> list[dict[str, Any]]:
    """The steps of a trajectory as the backward constructor and the judges see them."""
    rows = project.store.query(
        "SELECT idx, observation, action, url, error FROM steps WHERE trajectory_id = ? ORDER BY idx",
        (trajectory_id,))
    return [dict(r) for r in rows]


def _done_spans(project: Project, trajectory_id: int, mode: str) -> set[tuple[int, int]]:
    rows = project.store.query("SELECT span_start, span_end FROM examples WHERE trajectory_id = ? AND mode = ?",
                               (trajectory_id, mode))
    return {(r[0], r[1]) for r in rows}


def finished_trajectories(project: Project, among: Sequence[int] | None = None) -> list[int]:
    """Finished trajectories that may become training data: never those of held-out tasks or eval runs."""
    rows = project.store.query(
        "SELECT t.id FROM trajectories t LEFT JOIN tasks k ON k.id = t.task_id LEFT JOIN runs r ON r.id = t.run_id "
        "WHERE t.status = 'done' AND COALESCE(k.split, 'synthetic') != 'heldout' AND COALESCE(r.kind, '') != 'eval' "
        "AND EXISTS (SELECT 1 FROM steps s WHERE s.trajectory_id = t.id) ORDER BY t.id")
    ids = [r[0] for r in rows]
    return ids if among is None else [i for i in ids if i in set(among)]


@dataclass
class _Context:
    project: Project
    llm: Any
    chrome: frozenset[str]
    run_id: int | None

    @property
    def describe(self) -> str:
        return self.project.config.env.description


def batches(spans: Sequence[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    """Spans (sorted by start, then end) cut into consecutive groups of at most `size` (0: one group).
    Each group is one call, whose prompt shows the steps its spans cover once."""
    if not size or len(spans) <= size:
        return [list(spans)] if spans else []
    return [list(spans[k:k + size]) for k in range(0, len(spans), size)]


def construct(project: Project, trajectory_ids: Sequence[int] | None = None, *, mode: Mode | None = None,
              max_span: int | None = None, run_id: int | None = None, progress: Progress | None = None,
              choose: Chooser | None = None) -> BackwardReport:
    """Backward-construct examples for the trajectories (default: every finished one). `choose(tid, spans)`
    may pick which of a trajectory's eligible spans to label (default: all), e.g. a sample."""
    mode = mode or project.config.synth.backward_mode
    cap = project.config.synth.max_span if max_span is None else max_span
    if mode not in ("per-span", "batched"):
        raise ValueError(f"unknown backward mode {mode!r}: use per-span or batched")
    ids = finished_trajectories(project, trajectory_ids)
    report = BackwardReport()
    llm = project.llm(run_id)
    ctx = _Context(project, llm, queries.page_chrome(project.store), run_id)
    for done, tid in enumerate(ids, start=1):
        steps = trajectory_steps(project, tid)
        spans = eligible_spans(steps, cap)
        if choose:
            spans = choose(tid, spans)
        todo = sorted(s for s in spans if s not in _done_spans(project, tid, mode))
        report.trajectories += 1
        report.spans += len(spans)
        if mode == "per-span":
            for i, j in todo:
                _label_one(ctx, tid, steps, i, j, report)
        else:
            for group in batches(todo, project.config.synth.batch_spans):
                _label_batch(ctx, tid, steps, group, report)
        if progress:
            progress(done, len(ids))
    return report



SCAFFOLD = re.compile(r"^(steps?|spans?|\d+[:.)]?|\[\d+\]|\d+\.\.\d+)[:.,]?$", re.IGNORECASE)


def implausibility(instruction: str) -> str | None:
    """Why a reply is not an instruction, or None: fewer than three words with letters (empty, '...',
    '[1] [2] [3]'), or mostly the prompt's own scaffolding echoed back ('Step 12: Step 13: Step')."""
    words = instruction.split()
    if sum(any(c.isalpha() for c in word) for word in words) < 3:
        return "implausible instruction (fewer than 3 words)"
    if sum(bool(SCAFFOLD.match(word)) for word in words) * 2 >= len(words):
        return "implausible instruction (the prompt's step labels echoed back)"
    return None


def plausible(instruction: str) -> bool:
    return implausibility(instruction) is None


def _save(project: Project, tid: int, i: int, j: int, instruction: str, mode: str, model: str,
          run_id: int | None, report: BackwardReport) -> None:
    text = " ".join(instruction.split())
    problem = implausibility(text)
    if problem:
        project.store.add_failure("backward", problem,
                                  item=f"{tid}:{i}-{j}", raw=instruction, run_id=run_id)
        report.failed += 1
        return
    report.examples += len(project.store.add_examples([{
        "trajectory_id": tid, "span_start": i, "span_end": j, "instruction": text, "mode": mode,
        "model": model, "run_id": run_id}]))


def _label_one(ctx: _Context, tid: int, steps: list[dict[str, Any]], i: int, j: int,
               report: BackwardReport) -> None:
    report.calls += 1
    try:
        reply = ctx.llm.complete(span_messages(steps[i:j + 1], i, ctx.describe, ctx.chrome), role="backward",
                                 purpose="backward-per-span", schema=SpanInstruction)
    except (OutputParseError, ContextWindowError) as exc:
        ctx.project.store.add_failure("backward", str(exc), item=f"{tid}:{i}-{j}", raw=getattr(exc, "raw", None),
                                      run_id=ctx.run_id)
        report.failed += 1
        return
    _save(ctx.project, tid, i, j, reply.parsed.instruction, "per-span", reply.model, ctx.run_id, report)


def _label_batch(ctx: _Context, tid: int, steps: list[dict[str, Any]], spans: list[tuple[int, int]],
                 report: BackwardReport) -> None:
    report.calls += 1
    first, last = min(i for i, _ in spans), max(j for _, j in spans)
    where = f"{tid}:{spans[0][0]}-{spans[0][1]}..{spans[-1][0]}-{spans[-1][1]}"
    try:
        reply = ctx.llm.complete(batched_messages(steps[first:last + 1], first, spans, ctx.describe, ctx.chrome),
                                 role="backward", purpose="backward-batched", schema=batch_schema(spans),
                                 max_tokens=max(ctx.project.config.llm.max_tokens, TOKENS_PER_SPAN * len(spans) + 64))
    except ContextWindowError as exc:
        if len(spans) == 1:
            ctx.project.store.add_failure("backward", str(exc), item=where, run_id=ctx.run_id)
            report.failed += 1
            return
        half = len(spans) // 2  # too long for the model: the two halves, each with fewer steps and fields
        _label_batch(ctx, tid, steps, spans[:half], report)
        _label_batch(ctx, tid, steps, spans[half:], report)
        return
    except OutputParseError as exc:
        ctx.project.store.add_failure("backward", str(exc), item=where, raw=exc.raw, run_id=ctx.run_id)
        report.failed += len(spans)
        return
    got = {(i, j): getattr(reply.parsed, span_key(i, j)) for i, j in spans}
    for (i, j), instruction in got.items():
        if instruction.strip():
            _save(ctx.project, tid, i, j, instruction, "batched", reply.model, ctx.run_id, report)
    missing = [f"{i}..{j}" for (i, j), text in got.items() if not text.strip()]
    if missing:
        ctx.project.store.add_failure("backward", f"batched reply had an empty instruction for spans {missing}",
                                      item=where, raw=reply.text, run_id=ctx.run_id)
        report.failed += len(missing)
