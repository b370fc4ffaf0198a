"""`python -m lbi.cli`: the command line (as the console script; background jobs run `lbi.cli.job_runner`)."""

from lbi.cli import main

main()
