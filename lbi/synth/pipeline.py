"""`lbi synthesize`: every stage on one project, sized to finish in minutes on a CPU.

The order puts something on the workbench early: the explore rollouts (which need no model to act) are labelled
and judged first, then tasks are generated from the docs and rolled out by the llm agent, and those trajectories
are labelled and judged in a second pass."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from lbi.docs.ingest import add_source
from lbi.project import Project
from lbi.store import read
from lbi.synth import trust
from lbi.synth.backward import check_mode, construct
from lbi.synth.generate import generate_tasks, pending_chunks
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout

ProgressFactory = Callable[[str], AbstractContextManager[Callable[[int, int], None]]]
# The run each stage records its work (and its model calls) under: f"{name}-{STAGE_RUNS[stage]}".
STAGE_RUNS = {
    "generate": "generate",
    "rollout": "llm",
    "explore": "explore",
    "backward": "backward",
    "filter": "filter",
}


@dataclass
class SynthSizes:
    chunks: int = 3
    per_chunk: int = 2
    tasks: int = 3
    explore: int = 1
    max_steps: int = 5
    concurrency: int = 1
    mode: str = "batched"
    max_span: int = 4
    seed: int = 0


@dataclass
class SynthReport:
    stages: dict[str, Any] = field(default_factory=dict)
    funnel: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def default_docs(project: Project) -> str | None:
    """The environment's own documentation when the project has none (its spec's docs: the Trac user guide for
    the demo, a repository's README, docs/ and docstrings for `repo`)."""
    from lbi.envs import env_spec

    docs = env_spec(project.config.env.name).docs(project.config.env.options)
    return str(docs) if docs else None


def synthesize(project: Project, sizes: SynthSizes, progress: ProgressFactory, name: str = "synth") -> SynthReport:
    check_mode(sizes.mode)  # before any stage writes: a typo must not cost a generate and a rollout run
    report = SynthReport()
    docs = default_docs(project)
    started = docs and project.store.query("SELECT 1 FROM documents WHERE source LIKE ? LIMIT 1", (f"{docs}%",))
    if docs and (started or project.store.counts()["chunks"] == 0):
        with report.timed("docs"):
            report.stages["docs"] = add_source(project, docs)  # idempotent: completes an interrupted load
    # The same seeded choice every time, so a resumed run finishes these chunks instead of taking new ones.
    every = [r[0] for r in project.store.query("SELECT id FROM chunks ORDER BY id")]
    random.Random(sizes.seed).shuffle(every)
    pending = set(pending_chunks(project))
    chosen = [c for c in every[: sizes.chunks] if c in pending]
    if sizes.explore:  # first: explore needs no model to act, so examples reach the workbench within a minute
        with progress("rollouts (explore)") as tick, report.timed("explore"):
            report.stages["explore"] = rollout(
                project,
                f"{name}-{STAGE_RUNS['explore']}",
                policy="explore",
                episodes=sizes.explore,
                concurrency=sizes.concurrency,
                max_steps=sizes.max_steps,
                progress=tick,
            )
        _label_and_judge(project, sizes, progress, name, report)
    with (
        project.run(f"{name}-{STAGE_RUNS['generate']}", "generate") as run,
        progress("generate tasks") as tick,
        report.timed("generate"),
    ):
        report.stages["generate"] = gen = generate_tasks(
            project, chosen, per_chunk=sizes.per_chunk, run_id=run.id, progress=run.track(tick)
        )
        run.progress(
            len(chosen),
            len(chosen),
            f"{gen.added} tasks added, {gen.duplicates} near-duplicates, {gen.failed} failed"
            + (f", {gen.leaked} chunks left out (leakage)" if gen.leaked else ""),
        )
    with progress("rollouts (llm)") as tick, report.timed("rollout"):
        report.stages["rollout"] = rollout(
            project,
            f"{name}-{STAGE_RUNS['rollout']}",
            policy="llm",
            limit=sizes.tasks,
            concurrency=sizes.concurrency,
            max_steps=sizes.max_steps,
            progress=tick,
        )
    _label_and_judge(project, sizes, progress, name, report)
    cfg = project.config
    report.funnel = read.funnel(project.store, cfg.synth.judge_policy, trust.voters(cfg))
    return report


def _label_and_judge(
    project: Project, sizes: SynthSizes, progress: ProgressFactory, name: str, report: SynthReport
) -> None:
    """Backward construction, then the committee, on every trajectory and example not yet done (the pipeline runs
    it after the explore rollouts and again after the llm rollouts; the stage reports hold the last pass)."""
    with (
        project.run(f"{name}-{STAGE_RUNS['backward']}", "backward") as run,
        progress(f"backward ({sizes.mode})") as tick,
        report.timed("backward"),
    ):
        report.stages["backward"] = back = construct(
            project, mode=check_mode(sizes.mode), max_span=sizes.max_span, run_id=run.id, progress=run.track(tick)
        )
        run.progress(
            back.trajectories,
            back.trajectories,
            f"{back.examples} examples from {back.calls} calls, {back.failed} failed",
        )
    with (
        project.run(f"{name}-{STAGE_RUNS['filter']}", "filter") as run,
        progress("committee") as tick,
        report.timed("filter"),
    ):
        report.stages["filter"] = judged = judge_examples(project, run_id=run.id, progress=run.track(tick))
        run.progress(judged.examples, judged.examples, f"{judged.verdicts} verdicts, {judged.kept} kept")
