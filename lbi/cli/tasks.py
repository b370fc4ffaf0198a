"""`lbi tasks ...`: generate tasks from docs, import held-out tasks, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lbi.cli.common import ProjectOpt, console, progress_bar
from lbi.errors import UserError, check_choice
from lbi.project import open_project

app = typer.Typer(help="Tasks: generate from docs, import held-out tasks, list.", no_args_is_help=True)


@app.command("generate")
def tasks_generate(
    project: ProjectOpt = Path("."),
    limit: Annotated[int, typer.Option(help="At most this many chunks (0: all pending).")] = 0,
    per_chunk: Annotated[int, typer.Option(help="Instructions per chunk (0: config).")] = 0,
    chunk: Annotated[
        list[str] | None, typer.Option(help="This chunk (by id; repeatable), even if it has tasks already.")
    ] = None,
) -> None:
    """Propose tasks from every chunk that has none yet (resumable), or from the chunks given."""
    from lbi.synth.generate import generate_tasks, pending_chunks

    proj = open_project(project)
    chunks = (chunk or pending_chunks(proj))[: limit or None]
    with (
        proj.run(f"generate-{proj.store.counts()['runs'] + 1}", "generate") as run,
        progress_bar("generate tasks") as bar,
    ):
        report = generate_tasks(proj, chunks, per_chunk=per_chunk or None, run_id=run.id, progress=run.track(bar))
        run.progress(report.chunks, len(chunks), f"{report.added} tasks added")
    console.print(
        f"{report.chunks} chunks → {report.proposed} proposed, {report.duplicates} near-duplicates, "
        f"{report.failed} failed, {report.added} added"
        + (f"; {report.leaked} chunks left out: they resemble held-out tasks (`lbi leakage`)" if report.leaked else "")
    )


@app.command("import")
def tasks_import(
    path: Annotated[Path | None, typer.Argument(help="A task file or folder (JSONL/JSON/TOML).")] = None,
    project: ProjectOpt = Path("."),
    browsergym: Annotated[
        str | None, typer.Option(help="BrowserGym task ids (a glob, e.g. 'miniwob.click-*'), one task per id and seed.")
    ] = None,
    seeds: Annotated[str, typer.Option(help="With --browsergym: the seeds, e.g. 1000-1099.")] = "",
    split: Annotated[
        str, typer.Option(help="With --browsergym: heldout, or synthetic (tasks for llm rollouts).")
    ] = "heldout",
) -> None:
    """Import tasks with success checks (held-out by default) into the project's store: from a file, or BrowserGym
    task ids × seeds (`--browsergym GLOB --seeds A-B`, refused if a (task, seed) would be on both sides)."""
    proj = open_project(project)
    if browsergym is not None:
        from lbi.envs.browsergym.benchmark import import_benchmark

        check_choice("split", split, ("heldout", "synthetic"))
        if not seeds or path is not None:
            raise UserError("--browsergym takes --seeds (e.g. --seeds 1000-1099) and no task file")
        read, added = import_benchmark(proj.store, proj.config.env, browsergym, seeds, split=split)
    elif path is None:
        raise UserError("give a task file or folder, or --browsergym GLOB --seeds A-B")
    else:
        from lbi.docs.ingest import import_tasks

        read, added = import_tasks(proj, path)
    console.print(f"{read} tasks read, {added} new")


@app.command("list")
def tasks_list(
    project: ProjectOpt = Path("."), split: Annotated[str, typer.Option(help="synthetic, heldout or all")] = "all"
) -> None:
    """List tasks."""
    check_choice("split", split, ("synthetic", "heldout", "all"))
    proj = open_project(project)
    table = Table("id", "split", "env", "instruction")
    sql = "SELECT id, split, env, instruction FROM tasks" + ("" if split == "all" else " WHERE split = ?")
    for row in proj.store.query(sql + " ORDER BY split, id", () if split == "all" else (split,)):
        table.add_row(row["id"], row["split"], row["env"], row["instruction"])
    console.print(table)
