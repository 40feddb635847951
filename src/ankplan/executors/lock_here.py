"""The writer lock of a local node whose podman runs with ankplan's own rights, taken by ankplan
itself with flock(2): the same file and holder file as the lock shell of `lock.py` takes, so
the two exclude each other (other ankplan versions, other users of the node).

Does I/O (the lock directory and file on this machine). The shell would cost the writer three
processes (sh, cksum, flock) and a round trip before its first podman command; here the lock
is an open file of this process, freed by the kernel when the process ends however it ends, so
it needs no heartbeat. The file's name is computed as the shell computes it (POSIX `cksum` of
the user, CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and the podman command); a test holds the
two to the same name.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shlex

from ankplan.errors import LockError
from ankplan.executors.transport import StreamHandle
from ankplan.model import Node

_POLY = 0x04C11DB7  # the CRC polynomial of POSIX cksum


class HeldHere(StreamHandle):
    """A lock this process holds: nothing to read, nothing to send; `close()` frees it."""

    def __init__(self, fd: int) -> None:  # no command, so no reader thread
        self._fd: int | None = fd

    def readline(self, timeout: float | None = None) -> str | None:
        """None once freed; while held there is never a line (TimeoutError)."""
        if self._fd is None:
            return None
        raise TimeoutError("a lock held by this process prints nothing")

    def write(self, text: str) -> None:
        """Heartbeats are not needed: the kernel frees the lock with the process."""

    def exit_code(self) -> int | None:
        return None if self._fd is not None else 0

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file frees its flock


def takes_here(node: Node) -> bool:
    """True when the node's podman runs as this process (no prefix such as sudo)."""
    return len(node.podman) == 1


def lock_directory() -> str:
    """Where this user's locks live (as LOCK_PATH_SCRIPT says); tests point it elsewhere."""
    uid = os.getuid()
    if uid == 0:
        return "/run/ankplan"
    return f"{os.environ.get('XDG_RUNTIME_DIR') or '/tmp'}/ankplan-{uid}"


def lock_file(node: Node, project: str = "") -> str:
    """The lock file of `project` for the node's Podman, as the lock shell names it."""
    key = "|".join((str(os.getuid()), os.environ.get("CONTAINERS_CONF", ""),
                    os.environ.get("CONTAINERS_STORAGE_CONF", ""), shlex.join(node.podman)))
    suffix = f"-{project}" if project else ""
    return f"{lock_directory()}/apply-{cksum(key.encode())}{suffix}.lock"


def try_lock_here(node: Node, holder_text: str,
                  project: str = "") -> tuple[HeldHere | None, str, str]:
    """One attempt, as `lock.try_lock` answers: (handle, "", file) when locked, (None, holder
    text, file) when another writer holds it. Raises LockError, in the lock shell's words,
    when the directory cannot be used or the file cannot be locked."""
    directory = lock_directory()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if os.stat(directory).st_uid != os.getuid():
            raise PermissionError("it belongs to another user")
    except OSError as error:
        raise LockError(f"node {node.name}: cannot find a place for the writer lock: cannot "
                        f"use lock directory {directory} ({_reason(error)})") from None
    path = lock_file(node, project)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as error:
        raise LockError(f"node {node.name}: cannot take the writer lock: cannot open {path} "
                        f"({_reason(error)})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            with open(f"{path}.holder", encoding="utf-8", errors="replace") as held:
                text = held.read().strip()
        except OSError:
            text = ""
        return None, text.splitlines()[0] if text else "(holder unknown)", path
    except OSError as error:  # a file system without locks, say
        os.close(fd)
        raise LockError(f"node {node.name}: cannot take the writer lock: cannot lock {path} "
                        f"({_reason(error)})") from None
    with open(f"{path}.holder", "w", encoding="utf-8") as held:
        held.write(f"{holder_text}\n")
    return HeldHere(fd), "", path


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def cksum(data: bytes) -> int:
    """The checksum POSIX `cksum` prints for `data` (CRC-32/CKSUM over the data and its
    length)."""
    table = _table()
    crc = 0
    length = len(data)
    tail = bytearray()
    while length:
        tail.append(length & 0xFF)
        length >>= 8
    for byte in data + bytes(tail):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return ~crc & 0xFFFFFFFF


@functools.cache
def _table() -> tuple[int, ...]:
    rows = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ _POLY) if value & 0x80000000 else value << 1
        rows.append(value & 0xFFFFFFFF)
    return tuple(rows)
