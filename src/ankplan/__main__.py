"""`python -m ankplan`: the same as the `ankplan` console script."""

from ankplan.cli.entry import entry

entry()
