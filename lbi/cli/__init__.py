"""`lbi ...`: the command line, one module per command group; the same functions as the pages.

`project` (`init`, `status`, `synthesize`), `llm`, `docs`, `tasks`, `env`, `synth` (`rollout`, `backward`,
`filter`), `use` (`index`, `retrieve`, `eval`, `export`...), `leakage`, `train` and `curate` (clusters, bulk
decisions, lineage); `common` holds what they share (the
consoles, `--project`, progress bars); `job_runner` is the process of a background job (`lbi.jobs`), which runs
`lbi` commands in turn.

The boundary: an error the user can fix (`lbi.errors.UserError` and its kinds, or a flag click refuses)
prints one `error:` line and exits with 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from lbi.cli import curate, docs, env, leakage, llm, project, synth, tasks, train, use
from lbi.cli.common import err, ray_flag_value
from lbi.errors import UserError

app = typer.Typer(
    help="lbi: turn an environment's documentation into agent training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
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
app.add_typer(use.eval_app, name="eval")
app.add_typer(leakage.app, name="leakage")
app.command("export")(use.export_cmd)
app.command("train")(train.train_cmd)
app.add_typer(curate.app, name="curate")
app.add_typer(env.app, name="env")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: <message>` as one line on stderr and exit with `code`."""
    err.print("[bold red]error:[/] ", end="")
    err.print(" ".join(message.split()), markup=False, highlight=False)
    sys.exit(code)


def main(args: list[str] | None = None) -> None:
    """Console entry point: a failure the user can fix prints one line naming what to do, exit code 2."""
    try:
        code = app(args=ray_flag_value(sys.argv[1:] if args is None else args), standalone_mode=False)
    except UserError as exc:
        fail(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc))  # a KeyError's str() quotes
    except typer.TyperException as exc:  # click's errors: an unknown flag, a missing argument, a wrong type
        if type(exc).__name__ == "NoArgsIsHelpError":  # `lbi`, `lbi env`: the help is the answer
            if exc.format_message().strip():
                exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        fail(exc.format_message() + hint, exc.exit_code)
    except typer.Abort:
        fail("aborted", 1)
    except BrokenPipeError:  # `lbi tasks list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
