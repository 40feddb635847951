"""Inventories: ankplan's own YAML format, Ansible YAML inventories and ~/.ssh/config, read into
an `Inventory` (load.py). Reads files; everything after reading is pure. The embedded default
lives here, light to import: a command without an inventory reaches its node sooner.
"""

from __future__ import annotations

from ankplan.model import Connection, Inventory, Node

LOCAL_NODE = "local"


def default_inventory() -> Inventory:
    """The embedded default: every agent runs on this machine's Podman."""
    node = Node(name=LOCAL_NODE, connection=Connection.LOCAL)
    return Inventory(nodes=(node,), agents=(), default_node=LOCAL_NODE)
