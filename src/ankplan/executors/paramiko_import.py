"""Import paramiko without the `invoke` package: paramiko.config imports it at once (about
30 ms, a third of paramiko's import, on the path of every first SSH connection) and uses it only
to run `Match exec` lines of an ssh_config it parses itself; ankplan reads ssh_config with its
own reader (inventories/ssh_config.py) and never asks paramiko to.

Does no I/O beyond importing. Import this module before anything imports paramiko; `invoke`
stays importable afterwards for anyone else in the process.
"""

from __future__ import annotations

import sys


def _import_without_invoke() -> None:
    blocked = "invoke" not in sys.modules
    if blocked:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` fails fast
    try:
        import paramiko  # noqa: F401
    finally:
        if blocked and "invoke" in sys.modules and sys.modules["invoke"] is None:
            del sys.modules["invoke"]


_import_without_invoke()
