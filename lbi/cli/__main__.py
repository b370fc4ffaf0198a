"""`python -m lbi.cli`: the command line (background jobs start it this way)."""

from lbi.cli import main

main()
