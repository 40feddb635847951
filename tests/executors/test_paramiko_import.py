"""paramiko is imported without `invoke` (executors/paramiko_import.py): the first SSH
connection of a command no longer waits for an import ankplan never uses."""

from __future__ import annotations

import socket
import subprocess
import sys

CHECK = """
import sys
from ankplan.errors import ConnectError
from ankplan.executors.transport import connect
from ankplan.model import Connection, Node
try:
    connect(Node(name="n", connection=Connection.SSH, host="127.0.0.1", port={port},
                 connect_timeout=2))
except ConnectError:
    pass
import paramiko.config
assert "paramiko" in sys.modules and "invoke" not in sys.modules, "invoke was imported"
assert paramiko.config.invoke is None
import invoke  # still importable for anyone else
print("ok")
"""


def test_the_first_ssh_connection_imports_paramiko_without_invoke() -> None:
    with socket.socket() as unused:  # a loopback port nobody listens on: refused at once
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    done = subprocess.run([sys.executable, "-c", CHECK.format(port=port)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
