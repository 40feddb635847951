"""One module per command; each registers its sub-commands with `register(subparsers)`.
Commands never import each other: what they share lives in `ankplan.cli.options`."""
