"""The one way ankplan opens a file it reads: regular files only, bounded, never blocking.

Does I/O. A FIFO, socket, device or directory is refused before it is opened (a FIFO would
block the open or the read for ever); the open itself uses O_NONBLOCK and checks again what it
got, so a file swapped for a FIFO in between is refused too.
"""

from __future__ import annotations

import errno
import os
import stat

DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


class NotRegularFileError(OSError):
    """The path names a FIFO, socket, device or directory instead of a regular file."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file", path)
        self.kind = kind


class FileTooLargeError(OSError):
    """The file holds more than the reader's limit."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"is too large ({size} bytes; the limit is {limit})", path)
        self.size = size
        self.limit = limit


def file_kind(mode: int) -> str:
    """What a st_mode names, e.g. "a FIFO (named pipe)"; "a regular file" for one."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """stat `path` (following links); NotRegularFileError unless it is a regular file.

    Raises FileNotFoundError, PermissionError and other OSErrors as os.stat does.
    """
    try:
        status = os.stat(path)
    except ValueError:  # a NUL byte: no file can have that name
        raise OSError(errno.EINVAL, "the path contains a NUL byte", os.fspath(path)) from None
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFileError(os.fspath(path), file_kind(status.st_mode))
    return status


def read_regular(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of the regular file at `path`, at most `max_bytes` (FileTooLargeError beyond).

    Never blocks on a FIFO or device: refused (NotRegularFileError) before and after opening.
    """
    status = check_regular(path)
    if status.st_size > max_bytes:
        raise FileTooLargeError(os.fspath(path), status.st_size, max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped between stat and open
            raise NotRegularFileError(os.fspath(path), file_kind(opened.st_mode))
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise FileTooLargeError(os.fspath(path), size, max_bytes)
    return b"".join(chunks)


def read_regular_text(path: str | os.PathLike[str], *,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """`read_regular` decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_regular(path, max_bytes=max_bytes).decode("utf-8")


def append_regular(path: str | os.PathLike[str], text: str, *, mode: int = 0o600) -> None:
    """Append `text` to the file at `path`, creating it with `mode`; a non-regular file is
    refused (opened without blocking, then checked) instead of written to."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY
                 | os.O_CLOEXEC, mode)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise NotRegularFileError(os.fspath(path), file_kind(opened.st_mode))
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
