"""The process of a background job (`lbi.jobs.start`): `python -m lbi.cli.job_runner EXIT_FILE COMMANDS_JSON` runs
each `lbi` command in turn until one fails, and leaves its exit status in EXIT_FILE."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from lbi.cli import main


def run_commands(exit_file: Path, commands: list[list[str]]) -> int:
    """The job process: each `lbi` command in turn until one fails; its exit status is left in `exit_file`."""
    code = 1  # stays 1 if a command dies of a bug (its traceback goes to the log)
    try:
        for args in commands:
            print("$ lbi " + shlex.join(args), flush=True)
            sys.argv = ["lbi", *args]
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            sys.stdout.flush()
            if code:
                break
    finally:
        exit_file.write_text(str(code))
    return code


if __name__ == "__main__":
    sys.exit(run_commands(Path(sys.argv[1]), json.loads(sys.argv[2])))
