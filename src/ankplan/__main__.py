"""`python -m ankplan`: the same as the `ankplan` console script."""

from ankplan.cli.main import entry

entry()
