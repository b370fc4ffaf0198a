"""`lbi leakage`: what resembles a held-out task (the leakage check), and a person's decision on a flagged item
(`lbi leakage allow`, `lbi leakage block`)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from lbi.cli.common import ProjectOpt, console, progress_bar
from lbi.project import open_project

app = typer.Typer(invoke_without_command=True)
KindArg = Annotated[str, typer.Argument(help="What the item is: example, task or chunk.")]
ItemArg = Annotated[str, typer.Argument(help="Its id (an example's number, a task's or a chunk's id).")]
NoteOpt = Annotated[str, typer.Option(help="Why (kept with the decision).")]
WhoOpt = Annotated[str, typer.Option(help="Who decides (default: the login name).")]


def _default_who() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "researcher"
    except (KeyError, OSError):
        return "researcher"


@app.callback()
def leakage_cmd(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    kind: Annotated[str, typer.Option(help="Only items of this kind: example, task or chunk.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many rows (0: all).")] = 50,
) -> None:
    """Check what synthesis made and read against the held-out tasks (instructions and answers: n-gram overlap,
    embedding similarity, an answer stated beside its question; BrowserGym seeds) and list what resembles one.
    A flagged item is kept out of training, export, the index and task generation until `lbi leakage allow`."""
    if ctx.invoked_subcommand is not None:
        return
    from lbi.use.evaluate import leakage

    proj = open_project(project)
    with progress_bar("leakage check") as progress:
        check = leakage(proj, progress=progress)
    print_leakage(check, limit=limit, kind=kind or None)


@app.command("allow")
def allow_cmd(
    kind: KindArg, item: ItemArg, project: ProjectOpt = Path("."), note: NoteOpt = "", who: WhoOpt = ""
) -> None:
    """Let a flagged item be used despite its resemblance to a held-out task (the newest decision wins)."""
    _decide(project, kind, item, "allow", note, who)


@app.command("block")
def block_cmd(
    kind: KindArg, item: ItemArg, project: ProjectOpt = Path("."), note: NoteOpt = "", who: WhoOpt = ""
) -> None:
    """Keep an item out as a leak (one the check missed, or one allowed before)."""
    _decide(project, kind, item, "block", note, who)


def _decide(project: Path, kind: str, item: str, verdict: str, note: str, who: str) -> None:
    from lbi.errors import NotFoundError
    from lbi.store import leaks

    proj = open_project(project)
    table = {"example": "examples", "task": "tasks", "chunk": "chunks"}[leaks.check_kind(kind)]
    if not proj.store.query(f"SELECT 1 FROM {table} WHERE id = ?", (item,)):
        raise NotFoundError(f"no {kind} {item!r} in this project")
    proj.store.add_leak_override(kind, item, verdict, who=who or _default_who(), note=note)
    console.print(
        f"{kind} {item}: {'allowed' if verdict == 'allow' else 'blocked'} by {who or _default_who()}", markup=False
    )


def print_leakage(check: dict[str, Any], *, limit: int = 20, kind: str | None = None) -> None:
    """The leakage check as `lbi eval` and `lbi leakage` print it: by origin, then by content (a table of what
    resembles which held-out task, how, and whether it is kept out)."""
    console.print(
        f"held-out tasks or evaluations in synthesized examples or training runs: {check['detail']}", markup=False
    )
    for name, ids in check["trained_missing"].items():
        console.print(
            f"training run {name!r} used {len(ids)} examples no longer in the store (not checked)", markup=False
        )
    out, allowed = check["content_flagged"], check["content_allowed"]
    counts = ", ".join(f"{len(out[k])} {k}s" for k in out)
    console.print(
        f"resembling held-out tasks by content (kept out unless allowed): {counts}"
        + (
            f"; allowed by a person: {', '.join(f'{len(v)} {k}s' for k, v in allowed.items() if v)}"
            if any(allowed.values())
            else ""
        ),
        markup=False,
    )
    rows = [f for f in check["flags"] if kind is None or f["kind"] == kind]
    for flag in rows[: limit or None]:
        status = "kept out" if flag["blocked"] else "allowed"
        if flag["decision"]:
            status += f", {flag['decision']} by {flag['who']}" + (f": {flag['note']}" if flag["note"] else "")
        console.print(f"  {flag['kind']} {flag['item']} [{status}]", markup=False, highlight=False)
        for hit in flag["hits"]:
            console.print(
                f"    ~ {hit['heldout']}: {hit['measure']} {hit['score']}  {str(hit['excerpt'])[:160]}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if limit and len(rows) > limit:
        console.print(f"  ... and {len(rows) - limit} more (--limit 0 lists all)", markup=False)
