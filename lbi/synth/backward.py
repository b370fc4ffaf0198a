"""Backward construction: label every span [i, j] of a trajectory with the instruction it accomplishes.

`per-span` is the paper's reference, one model call per span (L(L+1)/2 calls for length L);
`batched` labels up to `synth.batch_spans` spans of a trajectory in one call (the whole trajectory
at once unless it is long), the steps shown once and the reply holding one field per span; batches are
packed so that prompt and reply fit the model's context window, and a reply cut short keeps what it
finished. Both write the same `examples` records. Spans made only of failed actions are skipped;
re-running skips spans already labelled, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, get_args

from lbi.errors import ContextWindowError, OutputParseError, check_choice
from lbi.project import Project
from lbi.prompts.messages import batched_messages, span_messages
from lbi.prompts.replies import TOKENS_PER_SPAN, SpanInstruction, batch_schema, span_fields, span_key
from lbi.store import read
from lbi.synth import hindsight

Mode = Literal["per-span", "batched", "hindsight", "goal"]
MODES: tuple[Mode, ...] = get_args(Mode)
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
        "SELECT idx, observation, action, url, error FROM steps WHERE trajectory_id = ? ORDER BY idx", (trajectory_id,)
    )
    return [dict(r) for r in rows]


def _done_spans(project: Project, trajectory_id: int, mode: str) -> set[tuple[int, int]]:
    rows = project.store.query(
        "SELECT span_start, span_end FROM examples WHERE trajectory_id = ? AND mode = ?", (trajectory_id, mode)
    )
    return {(r[0], r[1]) for r in rows}


def finished_trajectories(project: Project, among: Sequence[int] | None = None) -> list[int]:
    """Finished trajectories that may become training data: never those of held-out tasks or eval runs."""
    rows = project.store.query(
        f"SELECT t.id FROM {read.WITH_TASK_AND_RUN} WHERE t.status = 'done' AND {read.TRAINABLE} "
        "AND EXISTS (SELECT 1 FROM steps s WHERE s.trajectory_id = t.id) ORDER BY t.id"
    )
    ids = [r[0] for r in rows]
    return ids if among is None else [i for i in ids if i in set(among)]


@dataclass
class _Context:
    project: Project
    llm: Any
    chrome: frozenset[str]
    run_id: int | None
    window: int | None = None  # tokens per call of the backward model (None: unknown, no packing)

    @property
    def describe(self) -> str:
        return self.project.config.env.description


def pack(
    spans: Sequence[tuple[int, int]], size: int, fits: Callable[[list[tuple[int, int]]], bool] = lambda group: True
) -> list[list[tuple[int, int]]]:
    """Spans (sorted by start, then end) cut into consecutive groups, each one call whose prompt shows the
    steps its spans cover once: at most `size` spans (0: no limit), and only as many as `fits(group)`
    allows (prompt and reply within the model's context window). A span alone always makes a group."""
    groups: list[list[tuple[int, int]]] = []
    for span in spans:
        if groups and (not size or len(groups[-1]) < size) and fits([*groups[-1], span]):
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def _batch_call(ctx: _Context, steps: list[dict[str, Any]], spans: list[tuple[int, int]]) -> dict[str, Any]:
    """The arguments of one batched call (messages, schema, reply budget)."""
    first, last = min(i for i, _ in spans), max(j for _, j in spans)
    return {
        "messages": batched_messages(steps[first : last + 1], first, spans, ctx.describe, ctx.chrome),
        "schema": batch_schema(spans),
        "max_tokens": max(ctx.project.config.llm.max_tokens, TOKENS_PER_SPAN * len(spans) + 64),
    }


def _fits(ctx: _Context, steps: list[dict[str, Any]], spans: list[tuple[int, int]]) -> bool:
    if ctx.window is None:
        return True
    call = _batch_call(ctx, steps, spans)
    prompt = ctx.llm.count_tokens(call["messages"], role="backward", schema=call["schema"])
    return prompt + call["max_tokens"] <= ctx.window


def check_mode(mode: str) -> Mode:
    """`mode` if it is a backward mode, else `UnknownChoiceError` (callers check before starting a run)."""
    return check_choice("backward mode", mode, MODES)


def construct(
    project: Project,
    trajectory_ids: Sequence[int] | None = None,
    *,
    mode: Mode | None = None,
    max_span: int | None = None,
    run_id: int | None = None,
    progress: Progress | None = None,
    choose: Chooser | None = None,
) -> BackwardReport:
    """Backward-construct examples for the trajectories (default: every finished one). `choose(tid, spans)`
    may pick which of a trajectory's eligible spans to label (default: all), e.g. a sample."""
    mode = mode or project.config.synth.backward_mode
    cap = project.config.synth.max_span if max_span is None else max_span
    check_mode(mode)
    ids = finished_trajectories(project, trajectory_ids)
    report = BackwardReport()
    if mode in hindsight.RULE_MODES:  # no model: labels from what each span did, or the rewarded goal
        ruled = hindsight.label(project, ids, mode, max_span=cap, run_id=run_id, progress=progress)
        report.trajectories, report.spans, report.examples = ruled.trajectories, ruled.spans, ruled.examples
        return report
    llm = project.llm(run_id)
    window = llm.context_window("backward") if mode == "batched" else None
    chrome = read.page_chrome(project.store)
    work = []
    for tid in ids:
        steps = trajectory_steps(project, tid)
        spans = eligible_spans(steps, cap)
        if choose:
            spans = choose(tid, spans)
        report.trajectories += 1
        report.spans += len(spans)
        work.append((tid, steps, sorted(s for s in spans if s not in _done_spans(project, tid, mode))))
    if project.config.synth.executor == "ray":
        _label_on_ray(project, work, mode, chrome, run_id, window, report, progress)
        return report
    ctx = _Context(project, llm, chrome, run_id, window)
    for done, (tid, steps, todo) in enumerate(work, start=1):
        _label_trajectory(ctx, tid, steps, todo, mode, report)
        if progress:
            progress(done, len(ids))
    return report


def _label_trajectory(
    ctx: _Context, tid: int, steps: list[dict[str, Any]], todo: list[tuple[int, int]], mode: str, report: BackwardReport
) -> None:
    if mode == "per-span":
        for i, j in todo:
            _label_one(ctx, tid, steps, i, j, report)
    else:
        for group in pack(todo, ctx.project.config.synth.batch_spans, partial(_fits, ctx, steps)):
            _label_batch(ctx, tid, steps, group, report)


def label_remote(
    project: Project,
    tid: int,
    steps: list[dict[str, Any]],
    todo: list[tuple[int, int]],
    mode: str,
    chrome: frozenset[str],
    run_id: int | None,
    window: int | None,
) -> BackwardReport:
    """One trajectory's labelling as a Ray task (`lbi.cluster.calls`): its writes go back to the driver."""
    report = BackwardReport()
    _label_trajectory(_Context(project, project.llm(run_id), chrome, run_id, window), tid, steps, todo, mode, report)
    return report


def _label_on_ray(
    project: Project,
    work: list[tuple[int, list[dict[str, Any]], list[tuple[int, int]]]],
    mode: str,
    chrome: frozenset[str],
    run_id: int | None,
    window: int | None,
    report: BackwardReport,
    progress: Progress | None,
) -> None:
    """Each trajectory with spans to label is a Ray task; the examples are written here as each one ends."""
    from lbi.cluster.calls import Job, run_jobs

    model = project.config.models.for_role("backward")
    jobs = [
        Job(model, label_remote, (tid, steps, todo, mode, chrome, run_id, window)) for tid, steps, todo in work if todo
    ]
    done = len(work) - len(jobs)

    def add(job: Job, part: BackwardReport, made: dict[str, int]) -> None:
        nonlocal done
        done += 1
        report.calls += part.calls
        report.failed += part.failed
        report.examples += made.get("add_examples", 0)
        if progress:
            progress(done, len(work))

    run_jobs(project, jobs, add)
    if progress:
        progress(len(work), len(work))


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


def _save(
    project: Project,
    tid: int,
    i: int,
    j: int,
    instruction: str,
    mode: str,
    model: str,
    run_id: int | None,
    report: BackwardReport,
) -> None:
    text = " ".join(instruction.split())
    problem = implausibility(text)
    if problem:
        project.store.add_failure("backward", problem, item=f"{tid}:{i}-{j}", raw=instruction, run_id=run_id)
        report.failed += 1
        return
    report.examples += len(
        project.store.add_examples(
            [
                {
                    "trajectory_id": tid,
                    "span_start": i,
                    "span_end": j,
                    "instruction": text,
                    "mode": mode,
                    "model": model,
                    "run_id": run_id,
                }
            ]
        )
    )


def _label_one(ctx: _Context, tid: int, steps: list[dict[str, Any]], i: int, j: int, report: BackwardReport) -> None:
    report.calls += 1
    try:
        reply = ctx.llm.complete(
            span_messages(steps[i : j + 1], i, ctx.describe, ctx.chrome),
            role="backward",
            purpose="backward-per-span",
            schema=SpanInstruction,
        )
    except (OutputParseError, ContextWindowError) as exc:
        ctx.project.store.add_failure(
            "backward", str(exc), item=f"{tid}:{i}-{j}", raw=getattr(exc, "raw", None), run_id=ctx.run_id
        )
        report.failed += 1
        return
    _save(ctx.project, tid, i, j, reply.parsed.instruction, "per-span", reply.model, ctx.run_id, report)


def _ask_batch(
    ctx: _Context, steps: list[dict[str, Any]], spans: list[tuple[int, int]], where: str, report: BackwardReport
) -> tuple[dict[tuple[int, int], str], str, str]:
    """(instruction per span, raw reply, model) of one batched call. A reply that does not parse as a whole
    (e.g. cut off by its token limit) gives the fields it completed; one with none is asked again afresh,
    up to `llm.parse_retries` times (the model layer's own retry would append the reply to the prompt,
    which for a long batch overflows the context)."""
    model, retries, attempt = ctx.llm.model_for("backward"), ctx.project.config.llm.parse_retries, 0
    call, wanted = _batch_call(ctx, steps, spans), set(spans)
    while True:
        attempt += 1
        report.calls += 1
        try:
            reply = ctx.llm.complete(role="backward", purpose="backward-batched", parse_retries=0, **call)
            return {(i, j): getattr(reply.parsed, span_key(i, j)) for i, j in spans}, reply.text, reply.model
        except OutputParseError as exc:
            raw = exc.raw or ""
            got = {span: text for span, text in span_fields(raw).items() if span in wanted}
            if got or attempt > retries:
                asked = (
                    f"{model} gave no reply matching {call['schema'].__name__} "
                    f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                )
                kept = f"; kept the {len(got)} of {len(spans)} fields it completed" if got else ""
                ctx.project.store.add_failure("backward", asked + kept, item=where, raw=raw, run_id=ctx.run_id)
                return got, raw, model


def _label_batch(
    ctx: _Context, tid: int, steps: list[dict[str, Any]], spans: list[tuple[int, int]], report: BackwardReport
) -> None:
    """One call for `spans` (more if its reply is cut short: the spans it left out are labelled again, and
    asking again for the whole reply would pay for the finished fields twice)."""
    where = f"{tid}:{spans[0][0]}-{spans[0][1]}..{spans[-1][0]}-{spans[-1][1]}"
    try:
        got, raw, model = _ask_batch(ctx, steps, spans, where, report)
    except ContextWindowError as exc:
        if len(spans) == 1:
            ctx.project.store.add_failure("backward", str(exc), item=where, run_id=ctx.run_id)
            report.failed += 1
            return
        half = len(spans) // 2  # too long for the model: the two halves, each with fewer steps and fields
        _label_batch(ctx, tid, steps, spans[:half], report)
        _label_batch(ctx, tid, steps, spans[half:], report)
        return
    if not got:
        report.failed += len(spans)
        return
    for (i, j), instruction in got.items():
        if instruction.strip():
            _save(ctx.project, tid, i, j, instruction, "batched", model, ctx.run_id, report)
    missing = [f"{i}..{j}" for (i, j), text in got.items() if not text.strip()]
    if missing:
        ctx.project.store.add_failure(
            "backward",
            f"batched reply had an empty instruction for spans {missing}",
            item=where,
            raw=raw,
            run_id=ctx.run_id,
        )
        report.failed += len(missing)
    rest = [span for span in spans if span not in got]
    if rest:
        _label_batch(ctx, tid, steps, rest, report)
