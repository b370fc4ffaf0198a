"""Pipeline commands: `lbi docs`, `lbi tasks`, `lbi rollout`, `lbi backward`, `lbi filter`, `lbi synthesize`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lbi import queries
from lbi.project import Project, open_project

console = Console()
ProjectOpt = Annotated[Path, typer.Option("--project", "-p", envvar="LBI_PROJECT",
                                          help="Project directory (holds lbi.toml and lbi.db).")]
docs_app = typer.Typer(help="Documentation resources.", no_args_is_help=True)
tasks_app = typer.Typer(help="Tasks: generate from docs, import held-out tasks, list.", no_args_is_help=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar; yields the `progress(done, total)` callback the pipeline functions take."""
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@docs_app.command("add")
def docs_add(sources: Annotated[list[str], typer.Argument(help="Files, folders or loopback URLs.")],
             project: ProjectOpt = Path("."),
             max_depth: Annotated[int, typer.Option(help="Crawl depth for URLs.")] = 2,
             max_pages: Annotated[int, typer.Option(help="Page limit for URLs.")] = 50) -> None:
    """Load documentation into the project (chunked, with stable ids; re-adding is a no-op)."""
    from lbi.resources import add_source

    proj = open_project(project)
    for source in sources:
        options = {"max_depth": max_depth, "max_pages": max_pages} if source.startswith("http") else {}
        report = add_source(proj, source, **options)
        console.print(f"{source}: {report.summary()}", markup=False)
        for skipped in report.skipped:
            console.print(f"  skipped {skipped.source}: {skipped.reason}", markup=False, style="yellow")


@docs_app.command("list")
def docs_list(project: ProjectOpt = Path(".")) -> None:
    """Documents with their chunk counts."""
    proj = open_project(project)
    table = Table("id", "title", "format", "chunks", "source")
    for row in proj.store.query("SELECT d.id, d.title, d.format, COUNT(c.id) AS n, d.source FROM documents d "
                                "LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.source"):
        table.add_row(row["id"], row["title"] or "", row["format"] or "", str(row["n"]), row["source"])
    console.print(table)


@tasks_app.command("generate")
def tasks_generate(project: ProjectOpt = Path("."),
                   limit: Annotated[int, typer.Option(help="At most this many chunks (0: all pending).")] = 0,
                   per_chunk: Annotated[int, typer.Option(help="Instructions per chunk (0: config).")] = 0) -> None:
    """Propose tasks from every chunk that has none yet (resumable)."""
    from lbi.synth.generate import generate_tasks, pending_chunks

    proj = open_project(project)
    chunks = pending_chunks(proj)[: limit or None]
    run_id = proj.store.start_run(f"generate-{len(queries.recent_runs(proj.store, 10_000)) + 1}", "generate")
    with progress_bar("generate tasks") as progress:
        report = generate_tasks(proj, chunks, per_chunk=per_chunk or None, run_id=run_id, progress=progress)
    proj.store.update_run(run_id, done=report.chunks, total=len(chunks), status="done",
                          message=f"{report.added} tasks added")
    console.print(f"{report.chunks} chunks → {report.proposed} proposed, {report.duplicates} near-duplicates, "
                  f"{report.failed} failed, {report.added} added")


@tasks_app.command("import")
def tasks_import(path: Annotated[Path, typer.Argument(help="A task file or folder (JSONL/JSON/TOML).")],
                 project: ProjectOpt = Path(".")) -> None:
    """Import tasks with success checks (held-out by default) into the project's store."""
    from lbi.resources import import_tasks

    read, added = import_tasks(open_project(project), path)
    console.print(f"{read} tasks read, {added} new")


@tasks_app.command("list")
def tasks_list(project: ProjectOpt = Path("."),
               split: Annotated[str, typer.Option(help="synthetic, heldout or all")] = "all") -> None:
    """List tasks."""
    proj = open_project(project)
    table = Table("id", "split", "env", "instruction")
    sql = "SELECT id, split, env, instruction FROM tasks" + ("" if split == "all" else " WHERE split = ?")
    for row in proj.store.query(sql + " ORDER BY split, id", () if split == "all" else (split,)):
        table.add_row(row["id"], row["split"], row["env"], row["instruction"])
    console.print(table)


def rollout_cmd(project: ProjectOpt = Path("."),
                run: Annotated[str, typer.Option(help="Run name; re-running a name resumes it.")] = "rollout",
                policy: Annotated[str, typer.Option(help="llm or explore (default: config)")] = "",
                episodes: Annotated[int, typer.Option(help="Explore episodes.")] = 4,
                limit: Annotated[int, typer.Option(help="At most this many tasks (0: all).")] = 0,
                concurrency: Annotated[int, typer.Option(help="Parallel workers (0: config).")] = 0,
                max_steps: Annotated[int, typer.Option(help="Step limit (0: config).")] = 0) -> None:
    """Roll out the policy in the environment, recording every step (resumable, parallel)."""
    from lbi.synth.rollout import rollout

    proj = open_project(project)
    with progress_bar(f"rollout {run}") as progress:
        report = rollout(proj, run, policy=policy or None, episodes=episodes, limit=limit or None,
                         concurrency=concurrency or None, max_steps=max_steps or None, progress=progress)
    console.print(f"{report.planned} planned, {report.skipped} already finished; now {report.done} done, "
                  f"{report.failed} failed, {report.steps} steps in {report.seconds:.1f}s")


def backward_cmd(project: ProjectOpt = Path("."),
                 mode: Annotated[str, typer.Option(help="per-span or batched (default: config)")] = "",
                 max_span: Annotated[int, typer.Option(help="Longest span (-1: config, 0: no cap).")] = -1) -> None:
    """Backward-construct examples for every finished trajectory (resumable)."""
    from lbi.synth.backward import construct

    proj = open_project(project)
    run_id = proj.store.start_run(f"backward-{mode or proj.config.synth.backward_mode}", "backward")
    with progress_bar("backward construction") as progress:
        report = construct(proj, mode=mode or None, max_span=None if max_span < 0 else max_span, run_id=run_id,
                           progress=progress)
    proj.store.update_run(run_id, done=report.trajectories, total=report.trajectories, status="done",
                          message=f"{report.examples} examples from {report.calls} calls")
    console.print(f"{report.trajectories} trajectories, {report.spans} spans, {report.calls} calls → "
                  f"{report.examples} new examples, {report.failed} failed")


def filter_cmd(project: ProjectOpt = Path("."),
               policy: Annotated[str, typer.Option(help="strict, majority or relaxed (default: config)")] = "") -> None:
    """Ask the committee about every example, find near-duplicates, and report what the policy keeps."""
    from lbi.synth.judge import judge_examples

    proj = open_project(project)
    if policy:
        proj.config.synth.judge_policy = policy
    run_id = proj.store.start_run("filter", "filter")
    with progress_bar("committee") as progress:
        report = judge_examples(proj, run_id=run_id, progress=progress)
    proj.store.update_run(run_id, done=report.examples, total=report.examples, status="done",
                          message=f"{report.kept} kept")
    judges = len(proj.config.models.judges)
    kept = {p: queries.kept_count(proj.store, p, judges) for p in queries.POLICIES}
    console.print(f"{report.examples} examples, {report.verdicts} new verdicts, {report.failed} failed, "
                  f"{report.duplicate_pairs} near-duplicate pairs; kept: "
                  + ", ".join(f"{p} {n}" for p, n in kept.items()))


def usage_table(proj: Project) -> Table:
    table = Table("stage (purpose)", "calls", "cache hits", "prompt tok", "completion tok", "seconds")
    for row in proj.store.query(
            "SELECT COALESCE(purpose, role) AS stage, COUNT(*) AS calls, SUM(cache_hit) AS hits, "
            "SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c, ROUND(SUM(latency_ms) / 1000.0, 1) AS s "
            "FROM llm_calls GROUP BY stage ORDER BY MIN(id)"):
        table.add_row(row["stage"], str(row["calls"]), str(row["hits"]), str(row["p"]), str(row["c"]), str(row["s"]))
    return table
