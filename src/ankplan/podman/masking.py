"""Secret masking for argv shown in logs and messages: env values and the spec label as `***`.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from ankplan.model import LABEL_SPEC

Argv = tuple[str, ...]

MASK = "***"
_ENV_OPTIONS = ("-e", "--env")


def mask_argv(argv: Sequence[str]) -> Argv:
    """`argv` for logs and messages: environment values and the spec label shown as `***`.

    Masks `-e NAME=v`, `--env NAME=v`, `--env=NAME=v`, `-eNAME=v` and the `ankplan.spec`
    label, whose canonical spec may repeat those values.
    """
    masked: list[str] = []
    previous = ""
    for word in argv:
        if previous in _ENV_OPTIONS or previous == "--label":
            masked.append(_mask_assignment(word, label=previous == "--label"))
        elif word.startswith("--env="):
            masked.append("--env=" + _mask_assignment(word[len("--env="):]))
        elif word.startswith("-e") and not word.startswith("--") and len(word) > 2:
            masked.append("-e" + _mask_assignment(word[2:]))
        elif word.startswith("--label="):
            masked.append("--label=" + _mask_assignment(word[len("--label="):], label=True))
        else:
            masked.append(word)
        previous = word
    return tuple(masked)


def _mask_assignment(word: str, *, label: bool = False) -> str:
    name, equals, _ = word.partition("=")
    if not equals or (label and name != LABEL_SPEC):
        return word
    return f"{name}={MASK}"
