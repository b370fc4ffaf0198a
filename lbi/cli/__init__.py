"""`lbi ...`: the command line, one module per command group; the same functions as the pages.

The boundary: an error the user can fix (`lbi.errors.UserError` and its kinds) prints one `error:` line
and exits with 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from lbi.cli import docs, env, llm, project, synth, tasks, use
from lbi.cli.common import err
from lbi.errors import UserError

app = typer.Typer(help="lbi: turn an environment's documentation into agent training data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(project.init)
app.command()(project.status)
app.command()(project.synthesize)
app.add_typer(llm.app, name="llm")
app.add_typer(docs.app, name="docs")
app.add_typer(tasks.app, name="tasks")
app.command("rollout")(synth.rollout_cmd)
app.command("backward")(synth.backward_cmd)
app.command("filter")(synth.filter_cmd)
app.command("index")(use.index_cmd)
app.command("retrieve")(use.retrieve_cmd)
app.command("eval")(use.eval_cmd)
app.command("export")(use.export_cmd)
app.add_typer(env.app, name="env")


def main() -> None:
    """Console entry point: a failure the user can fix prints one line naming what to do, exit code 2."""
    try:
        app()
    except UserError as exc:
        err.print("[bold red]error:[/] ", end="")
        err.print(str(exc), markup=False, highlight=False)
        sys.exit(2)
