"""What every command module shares: the consoles, the `--project` option, progress bars, the usage table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from lbi.cluster.session import IN_PROCESS
from lbi.project import Project

console = Console()
err = Console(stderr=True, soft_wrap=True)
ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", envvar="LBI_PROJECT", help="Project directory (holds lbi.toml and lbi.db).")
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Run on Ray (synth.executor = ray): alone, a cluster started in this process; "
        "`auto`, the one `ray start` runs here; HOST:PORT, a head node.",
    ),
]


def ray_flag_value(args: list[str]) -> list[str]:
    """`--ray` given without an address (last, or before another option) gets the value that means "start a
    cluster in this process" (click's options take a value or none, not either)."""
    out: list[str] = []
    for k, arg in enumerate(args):
        out.append(arg)
        if arg == "--ray" and (k + 1 == len(args) or args[k + 1].startswith("-")):
            out.append(IN_PROCESS)
    return [IN_PROCESS if a == "--ray=" else a for a in out]


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar; yields the `progress(done, total)` callback the pipeline functions take. The bar
    appears with the first report, so a command refused before any work (a bad option, no data) draws none."""
    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task: list[TaskID] = []

    def update(done: int, total: int) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=None))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()


def usage_table(proj: Project) -> Table:
    table = Table("stage (purpose)", "calls", "cache hits", "prompt tok", "completion tok", "seconds")
    for row in proj.store.query(
        "SELECT COALESCE(purpose, role) AS stage, COUNT(*) AS calls, SUM(cache_hit) AS hits, "
        "SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c, ROUND(SUM(latency_ms) / 1000.0, 1) AS s "
        "FROM llm_calls GROUP BY stage ORDER BY MIN(id)"
    ):
        table.add_row(row["stage"], str(row["calls"]), str(row["hits"]), str(row["p"]), str(row["c"]), str(row["s"]))
    return table
