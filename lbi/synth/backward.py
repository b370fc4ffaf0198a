"""Backward construction: label every span [i, j] of a trajectory with the instruction it accomplishes.

`per-span` is the paper's reference, one model call per span (L(L+1)/2 calls for length L);
`batched` makes one call per start index i, returning instructions for every end j. Both write
the same `examples` records. Spans made only of failed actions are skipped; re-running skips
spans already labelled, so a killed run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lbi.errors import OutputParseError
from lbi.project import Project
from lbi.synth.prompts import SpanInstruction, batch_schema, batched_messages, span_key, span_messages

Mode = Literal["per-span", "batched"]
Progress = Callable[[int, int], None]


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


def construct(project: Project, trajectory_ids: Sequence[int] | None = None, *, mode: Mode | None = None,
              max_span: int | None = None, run_id: int | None = None, progress: Progress | None = None
              ) -> BackwardReport:
    """Backward-construct examples for the trajectories (default: every finished one)."""
    mode = mode or project.config.synth.backward_mode
    cap = project.config.synth.max_span if max_span is None else max_span
    if mode not in ("per-span", "batched"):
        raise ValueError(f"unknown backward mode {mode!r}: use per-span or batched")
    ids = finished_trajectories(project, trajectory_ids)
    report = BackwardReport()
    llm = project.llm(run_id)
    describe = project.config.env.description
    for done, tid in enumerate(ids, start=1):
        steps = trajectory_steps(project, tid)
        spans = eligible_spans(steps, cap)
        todo = [s for s in spans if s not in _done_spans(project, tid, mode)]
        report.trajectories += 1
        report.spans += len(spans)
        by_start: dict[int, list[int]] = {}
        for i, j in todo:
            by_start.setdefault(i, []).append(j)
        for i, ends in by_start.items():
            if mode == "per-span":
                for j in ends:
                    _label_one(project, llm, tid, steps, i, j, describe, run_id, report)
            else:
                _label_batch(project, llm, tid, steps, i, ends, describe, run_id, report)
        if progress:
            progress(done, len(ids))
    return report


def plausible(instruction: str) -> bool:
    """At least three words with letters: rejects empty, placeholder ('...') and echoed-markup replies."""
    return sum(any(c.isalpha() for c in word) for word in instruction.split()) >= 3


def _save(project: Project, tid: int, i: int, j: int, instruction: str, mode: str, model: str,
          run_id: int | None, report: BackwardReport) -> None:
    text = " ".join(instruction.split())
    if not plausible(text):
        project.store.add_failure("backward", "implausible instruction (fewer than 3 words)",
                                  item=f"{tid}:{i}-{j}", raw=instruction, run_id=run_id)
        report.failed += 1
        return
    report.examples += len(project.store.add_examples([{
        "trajectory_id": tid, "span_start": i, "span_end": j, "instruction": text, "mode": mode,
        "model": model, "run_id": run_id}]))


def _label_one(project: Project, llm: Any, tid: int, steps: list[dict[str, Any]], i: int, j: int,
               describe: str, run_id: int | None, report: BackwardReport) -> None:
    report.calls += 1
    try:
        reply = llm.complete(span_messages(steps[i:j + 1], i, describe), role="backward",
                             purpose="backward-per-span", schema=SpanInstruction)
    except OutputParseError as exc:
        project.store.add_failure("backward", str(exc), item=f"{tid}:{i}-{j}", raw=exc.raw, run_id=run_id)
        report.failed += 1
        return
    _save(project, tid, i, j, reply.parsed.instruction, "per-span", reply.model, run_id, report)


def _label_batch(project: Project, llm: Any, tid: int, steps: list[dict[str, Any]], i: int, ends: list[int],
                 describe: str, run_id: int | None, report: BackwardReport) -> None:
    report.calls += 1
    try:
        reply = llm.complete(batched_messages(steps[i:max(ends) + 1], i, ends, describe), role="backward",
                             purpose="backward-batched", schema=batch_schema(i, ends))
    except OutputParseError as exc:
        project.store.add_failure("backward", str(exc), item=f"{tid}:{i}-*", raw=exc.raw, run_id=run_id)
        report.failed += len(ends)
        return
    got = {j: getattr(reply.parsed, span_key(i, j)) for j in ends}
    for j, instruction in got.items():
        if instruction.strip():
            _save(project, tid, i, j, instruction, "batched", reply.model, run_id, report)
    missing = sorted(j for j, text in got.items() if not text.strip())
    if missing:
        project.store.add_failure("backward", f"batched reply had an empty instruction for ends {missing}",
                                  item=f"{tid}:{i}-{missing}", raw=reply.text, run_id=run_id)
        report.failed += len(missing)
