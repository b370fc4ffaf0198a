"""Task generation (self-instruct on docs): each chunk → N instructions, near-duplicates removed.

Chunks are checked for leakage first (`lbi.synth.leakage`): one that states a held-out task's answer (or asks its
question) is not read unless a person allowed it; the tasks generated are checked too, and the llm rollouts
leave a flagged one out (`lbi.synth.rollout.plan`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lbi.errors import OutputParseError
from lbi.models.embed import novel_mask, preload
from lbi.project import Project
from lbi.prompts.messages import generation_messages
from lbi.prompts.replies import TaskProposals
from lbi.store import leaks
from lbi.synth.leakage import refresh

Progress = Callable[[int, int], None]
MIN_CHARS, MAX_CHARS = 12, 400


@dataclass
class GenerateReport:
    chunks: int = 0
    proposed: int = 0
    added: int = 0
    duplicates: int = 0
    failed: int = 0
    leaked: int = 0
    """Chunks left out because the leakage check flagged them."""


def task_id(env: str, instruction: str) -> str:
    return "t-" + hashlib.sha256(f"{env}\n{instruction.strip().lower()}".encode()).hexdigest()[:14]


def _clean(instructions: Sequence[str]) -> list[str]:
    out = []
    for text in instructions:
        text = " ".join(str(text).split()).strip(" -*•\"'")
        if MIN_CHARS <= len(text) <= MAX_CHARS:
            out.append(text)
    return out


def pending_chunks(project: Project) -> list[str]:
    """Chunks that no synthetic task was generated from yet (re-running a generation resumes)."""
    rows = project.store.query(
        "SELECT c.id FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.chunk_id = c.id) "
        "ORDER BY c.doc_id, c.ordinal"
    )
    return [r["id"] for r in rows]


def generate_tasks(
    project: Project,
    chunk_ids: Sequence[str] | None = None,
    *,
    per_chunk: int | None = None,
    run_id: int | None = None,
    progress: Progress | None = None,
) -> GenerateReport:
    """Propose tasks for `chunk_ids` (default: every chunk without tasks) and store the novel ones."""
    cfg = project.config
    store = project.store
    llm = project.llm(run_id)
    ids = list(chunk_ids) if chunk_ids is not None else pending_chunks(project)
    refresh(project, ("chunk",), ids=ids)
    blocked = leaks.blocked(store, "chunk")
    report = GenerateReport(leaked=sum(i in blocked for i in ids))
    ids = [i for i in ids if i not in blocked]
    loading = preload(cfg.models.embedder) if ids else None  # loads while the first chunk waits for the model
    n = per_chunk or cfg.synth.tasks_per_chunk
    existing = [r["instruction"] for r in store.query("SELECT instruction FROM tasks WHERE env = ?", (cfg.env.name,))]
    for done, chunk_id in enumerate(ids, start=1):
        row = store.query("SELECT title, text FROM chunks WHERE id = ?", (chunk_id,))
        if not row:
            continue
        report.chunks += 1
        messages = generation_messages(
            row[0]["title"] or "", row[0]["text"], cfg.env.description, cfg.env.seed_tasks, n
        )
        try:
            reply = llm.complete(messages, role="task_generator", purpose="generate_tasks", schema=TaskProposals)
        except OutputParseError as exc:
            store.add_failure("generate", str(exc), item=chunk_id, raw=exc.raw, run_id=run_id)
            report.failed += 1
            if progress:
                progress(done, len(ids))
            continue
        candidates = _clean(reply.parsed.instructions)[: max(n, 1) * 2]
        report.proposed += len(candidates)
        mask = novel_mask(candidates, existing, cfg.synth.dedup_threshold, cfg.models.embedder)
        fresh = [c for c, keep in zip(candidates, mask, strict=True) if keep]
        report.duplicates += len(candidates) - len(fresh)
        report.added += store.add_tasks(
            {
                "id": task_id(cfg.env.name, text),
                "instruction": text,
                "env": cfg.env.name,
                "split": "synthetic",
                "chunk_id": chunk_id,
                "run_id": run_id,
                "model": reply.model,
            }
            for text in fresh
        )
        existing.extend(fresh)
        if progress:
            progress(done, len(ids))
    if loading is not None:
        loading.join()  # never left importing behind the caller's back (see `judge_examples`)
    if report.added:
        refresh(project, ("task",))
    return report
