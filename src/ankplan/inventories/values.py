"""The checks every inventory format shares for a node's port, host, user and podman command,
worded as the
native format's schema words them ("0 is less than the minimum of 1").

Pure: each check returns a one-line problem, or None when the value is fine.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

from ankplan.model import Supervisor
from ankplan.schemas.messages import value_kind

PORT_MIN, PORT_MAX = 1, 65535
SUPERVISORS = tuple(supervisor.value for supervisor in Supervisor)
# A DNS name: labels of letters, digits, "-" and "_" (ssh_config and /etc/hosts use those),
# not starting with "-" (an option to ssh-keyscan and friends), an optional final dot.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(\.(?!-)[A-Za-z0-9_-]{1,63})*\.?")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# Characters a shell or ssh would read as syntax; no account name needs them.
_USER_SYNTAX = re.compile(r"[\s\x00-\x1f\x7f-\x9f'\"`\\;&<>|(){}$*?\[\]!#/:,=]")


def port_problem(value: object) -> str | None:
    """Why `value` is not a TCP port (an integer 1-65535), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an integer, got {value_kind(value)}"
    if value < PORT_MIN:
        return f"{value} is less than the minimum of {PORT_MIN}"
    if value > PORT_MAX:
        return f"{value} is greater than the maximum of {PORT_MAX}"
    return None


def parse_port(value: object) -> object:
    """A port given as text ("2222", as Ansible and ssh_config allow) as an int; else unchanged."""
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        return int(value)
    return value


def host_problem(value: object) -> str | None:
    """Why `value` is not a host name or IP address, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {value_kind(value)}"
    if not value:
        return "empty host is not allowed"
    if _WHITESPACE_OR_CONTROL.search(value):
        return f"invalid host {_show(value)}: contains whitespace or control characters"
    if _is_ip_address(value) or (len(value) <= 253 and _HOST_NAME.fullmatch(value)):
        return None
    return f"invalid host {_show(value)}: not a host name or IP address"


def user_problem(value: object) -> str | None:
    """Why `value` is not a user name ssh can log in as, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {value_kind(value)}"
    if not value:
        return "empty user is not allowed"
    bad = _USER_SYNTAX.search(value)
    if bad is not None:
        what = ("whitespace or control characters" if _WHITESPACE_OR_CONTROL.match(bad.group())
                else f"'{bad.group()}'")
        return f"invalid user {_show(value)}: contains {what}"
    if value.startswith("-"):
        return f"invalid user {_show(value)}: starts with '-'"
    return None


def split_podman(value: object) -> tuple[str, ...]:
    """The podman command as argv: a string split as a POSIX shell would, a list as it is;
    () when a string is badly quoted or the value is neither."""
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    if not isinstance(value, str):
        return ()
    try:
        return tuple(shlex.split(value))
    except ValueError:
        return ()


def podman_problem(value: object) -> str | None:
    """Why `value` is not a podman command ("sudo podman", ["podman", "--root", "/x"]), or
    None."""
    if isinstance(value, list) and not all(isinstance(item, str) and item for item in value):
        return "expected a list of non-empty strings"
    if not split_podman(value):
        return f"podman command {value!r} is empty or badly quoted"
    return None


def supervisor_problem(value: object) -> str | None:
    """Why `value` names no supervisor (`watch` or `systemd`), or None."""
    if value in SUPERVISORS:
        return None
    return f"{value!r} is not a supervisor (expected one of: {', '.join(SUPERVISORS)})"


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])  # fe80::1%eth0: the zone is the link's
    except ValueError:
        return False
    return True


def _show(value: str) -> str:
    shown = value if len(value) <= 60 else value[:57] + "..."
    return repr(shown) if _WHITESPACE_OR_CONTROL.search(shown) else f"'{shown}'"
