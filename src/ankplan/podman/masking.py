"""Secret masking for whole podman command lines shown in logs and messages.

Pure: no I/O. Built on the one tokenizer (podman/options.py): env values, `--creds` passwords and
the `ankplan.spec` label are shown as `***`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ankplan.model import LABEL_SPEC
from ankplan.podman.options import (
    GLOBAL,
    KUBE_PLAY,
    RUN,
    OptionTable,
    Token,
    mask_options,
)

Argv = tuple[str, ...]

# A whole command line mixes podman's own options, a subcommand's and the container's
# arguments. Read it with every option that takes a value in any of them, so no value is taken
# for an option; words after the image are read as options too, which only ever masks more.
ARGV = OptionTable(valued=RUN.valued | KUBE_PLAY.valued | GLOBAL.valued,
                   flags=RUN.flags | KUBE_PLAY.flags | GLOBAL.flags, short=RUN.short)
_SPEC_LABEL = LABEL_SPEC + "="


def mask_argv(argv: Sequence[str]) -> Argv:
    """`argv` for logs and messages: secret values and the spec label shown as `***`.

    Masks env values in every spelling podman accepts (`-e N=v`, `-eN=v`, `-e=N=v`,
    `--env N=v`, `--env=N=v`, combined flags such as `-ie N=v`), `--env-merge`, `--creds` and
    the `ankplan.spec` label, whose canonical spec is never needed in a log line.
    """
    return mask_options(argv, ARGV, _spec_label)


def _spec_label(token: Token) -> str | None:
    """Keep `ankplan.spec=` of the spec label, hide its value."""
    if token.name == "--label" and token.value is not None \
            and token.value.startswith(_SPEC_LABEL):
        return _SPEC_LABEL
    return None
