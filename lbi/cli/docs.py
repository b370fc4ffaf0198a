"""`lbi docs ...`: documentation resources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lbi.cli.common import ProjectOpt, console
from lbi.project import open_project

app = typer.Typer(help="Documentation resources.", no_args_is_help=True)


@app.command("add")
def docs_add(
    sources: Annotated[list[str], typer.Argument(help="Files, folders or loopback URLs.")],
    project: ProjectOpt = Path("."),
    max_depth: Annotated[int, typer.Option(help="Crawl depth for URLs.")] = 2,
    max_pages: Annotated[int, typer.Option(help="Page limit for URLs.")] = 50,
) -> None:
    """Load documentation into the project (chunked, with stable ids; re-adding is a no-op)."""
    from lbi.docs.ingest import add_source

    proj = open_project(project)
    for source in sources:
        options = {"max_depth": max_depth, "max_pages": max_pages} if source.startswith("http") else {}
        report = add_source(proj, source, **options)
        console.print(f"{source}: {report.summary()}", markup=False)
        for skipped in report.skipped:
            console.print(f"  skipped {skipped.source}: {skipped.reason}", markup=False, style="yellow")


@app.command("list")
def docs_list(project: ProjectOpt = Path(".")) -> None:
    """Documents with their chunk counts."""
    proj = open_project(project)
    table = Table("id", "title", "format", "chunks", "source")
    for row in proj.store.query(
        "SELECT d.id, d.title, d.format, COUNT(c.id) AS n, d.source FROM documents d "
        "LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.source"
    ):
        table.add_row(row["id"], row["title"] or "", row["format"] or "", str(row["n"]), row["source"])
    console.print(table)
