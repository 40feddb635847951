#!/usr/bin/env python3
"""Write src/ankplan/podman/option_table.py from the `--help` of the podman on this machine.

Does I/O: runs `podman --help`, `podman run --help`, `podman create --help` and
`podman kube play --help`, and writes the table module. Run it after a podman upgrade and review
the diff: an option that takes a value but is missing from the table is read as a flag, so its
value would be taken for the next option.
usage: scripts/podman_option_table.py [OUTPUT]
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "src/ankplan/podman/option_table.py"
# `  -e, --env stringArray   Set environment...` or `      --rm   Remove container...`:
# the type word (present only when the option takes a value) is one space after the name.
LINE = re.compile(r"^\s+(?:-(?P<short>[A-Za-z0-9]), )?--(?P<long>[a-z0-9-]+)(?P<type> \S+)?"
                  r"(?:\s{2,}.*)?$")
# Accepted by podman 4.3 but hidden from --help; both take a value.
HIDDEN_VALUE_OPTIONS = {"run": ("--net", "--dns-opt")}
COMMANDS = {"global": ["podman", "--help"], "run": ["podman", "run", "--help"],
            "create": ["podman", "create", "--help"],
            "kube_play": ["podman", "kube", "play", "--help"]}


def parse_help(text: str) -> tuple[set[str], set[str], dict[str, str]]:
    """(long options taking a value, long flags, short letter -> long name) of one --help."""
    valued: set[str] = set()
    flags: set[str] = set()
    short: dict[str, str] = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        name = "--" + match["long"]
        (valued if match["type"] else flags).add(name)
        if match["short"]:
            short[match["short"]] = name
    return valued, flags, short


def table_source(version: str, tables: dict[str, tuple[set[str], set[str], dict[str, str]]]
                 ) -> str:
    """The text of option_table.py."""
    lines = [
        f'"""Which podman options take a value, as `--help` of podman {version} lists them.',
        "",
        ("Pure data, written by scripts/podman_option_table.py (do not edit by hand; run it "
         "after a podman"),
        'upgrade). Read by podman/options.py, the one tokenizer of podman option lists.',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f'PODMAN_VERSION = "{version}"',
    ]
    for key, (valued, flags, short) in tables.items():
        upper = key.upper()
        lines += ["", f"{upper}_VALUED = frozenset({{"]
        lines += _wrapped(sorted(valued))
        lines += ["})", f"{upper}_FLAGS = frozenset({{"]
        lines += _wrapped(sorted(flags))
        lines += ["})", f"{upper}_SHORT = {{"]
        lines += _wrapped([f'"{letter}": "{name}"' for letter, name in sorted(short.items())],
                          quote=False)
        lines.append("}")
    return "\n".join(lines) + "\n"


def _wrapped(items: list[str], quote: bool = True) -> list[str]:
    words = [f'"{item}",' if quote else f"{item}," for item in items]
    lines, current = [], "   "
    for word in words:
        if len(current) + 1 + len(word) > 99:
            lines.append(current)
            current = "   "
        current += " " + word
    if current.strip():
        lines.append(current)
    return lines


def main() -> int:
    """Run podman's help commands and write the table."""
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    version = subprocess.run(["podman", "version", "--format", "{{.Client.Version}}"],
                             capture_output=True, text=True, check=True).stdout.strip()
    parsed = {key: parse_help(subprocess.run(argv, capture_output=True, text=True,
                                             check=True).stdout)
              for key, argv in COMMANDS.items()}
    run_valued, run_flags, run_short = parsed.pop("run")
    create_valued, create_flags, create_short = parsed.pop("create")
    run_valued |= create_valued | set(HIDDEN_VALUE_OPTIONS["run"])
    tables = {"global": parsed["global"],
              "run": (run_valued, (run_flags | create_flags) - run_valued,
                      {**create_short, **run_short}),
              "kube_play": parsed["kube_play"]}
    output.write_text(table_source(version, tables))
    print(f"wrote {output} from podman {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
