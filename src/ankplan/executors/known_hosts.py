"""known_hosts read and matched the way OpenSSH does: markers, patterns, hashed names, several
keys per host.

Parsing and matching are pure; `read_known_hosts` and `learn_host_key` do the file I/O (through
ankplan.files, so a FIFO is refused instead of blocking).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ankplan.files import append_regular, check_regular, read_regular
from ankplan.inventories.ssh_config import host_patterns_match

MARKERS = ("@cert-authority", "@revoked")
_CACHE: dict[str, tuple[tuple[int, ...], KnownHosts]] = {}  # path -> (stat signature, parse)
_CACHE_LOCK = threading.Lock()
HASH_MAGIC = "|1|"
_KEY_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]*")


class Verdict(enum.Enum):
    """The outcome of checking a presented host key, as OpenSSH's HostStatus."""

    OK = "ok"  # a plain line for this host holds the key
    UNKNOWN = "unknown"  # no plain line for this host
    CHANGED = "changed"  # plain lines for this host, none holding the key
    REVOKED = "revoked"  # a matching @revoked line holds the key


@dataclass(frozen=True, slots=True, kw_only=True)
class HostKeyLine:
    """One usable line of a known_hosts file."""

    path: str
    line: int  # 1-based
    marker: str  # "", "@cert-authority" or "@revoked"
    hosts: str  # the host field as written: "a,b,!c", "[h]:2222" or "|1|salt|hash"
    key_type: str  # e.g. "ssh-ed25519"
    key_blob: bytes  # the decoded public key
    salt: bytes = b""  # of a hashed host field, decoded once
    digest: bytes = b""

    @property
    def where(self) -> str:
        """`file:line`, for messages."""
        return f"{self.path}:{self.line}"

    def matches(self, name: str) -> bool:
        """True when this line's host field covers `name` ("host" or "[host]:port")."""
        if self.salt:
            return _hash_matches(self.salt, self.digest, name)
        return host_field_matches(self.hosts, name)


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownHosts:
    """The usable lines of one known_hosts file and a warning for each line skipped."""

    path: str
    lines: tuple[HostKeyLine, ...] = ()
    warnings: tuple[str, ...] = ()  # "file:line: what is wrong; skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostKeyCheck:
    """What known_hosts says about the key a host presented."""

    verdict: Verdict
    line: HostKeyLine | None = None  # the line that decided: holds the key, or a known key
    skipped_authorities: tuple[HostKeyLine, ...] = ()  # matching @cert-authority lines


def lookup_name(host: str, port: int) -> str:
    """The name a host's keys are filed under: `host`, or `[host]:port` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


# --- parsing ---------------------------------------------------------------------------------


def parse_known_hosts(text: str, path: str) -> KnownHosts:
    """Every usable line of a known_hosts text; malformed lines become warnings."""
    lines: list[HostKeyLine] = []
    warnings: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        parsed = _parse_line(fields, path, number)
        if isinstance(parsed, str):
            warnings.append(f"{path}:{number}: {parsed}; line skipped")
        else:
            lines.append(parsed)
    return KnownHosts(path=path, lines=tuple(lines), warnings=tuple(warnings))


def _parse_line(fields: list[str], path: str, number: int) -> HostKeyLine | str:
    marker = ""
    if fields[0].startswith("@"):
        marker, fields = fields[0], fields[1:]
        if marker not in MARKERS:
            return f"unknown marker {marker[:40]!r} (known: {', '.join(MARKERS)})"
    if len(fields) < 3:
        return "expected a host pattern, a key type and a key"
    hosts, key_type, encoded = fields[:3]
    salt, digest = b"", b""
    if hosts.startswith(HASH_MAGIC):
        parts = _hashed_parts(hosts)
        if parts is None:
            return "malformed hashed host name"
        salt, digest = parts
    if not _KEY_TYPE.fullmatch(key_type):
        return f"not a key type: {key_type[:40]!r}"
    blob = _decode_blob(encoded)
    if blob is None:
        return "the key is not valid base64"
    if _blob_type(blob) != key_type:
        return f"the key is not a {key_type[:40]} key"
    return HostKeyLine(path=path, line=number, marker=marker, hosts=hosts, key_type=key_type,
                       key_blob=blob, salt=salt, digest=digest)


def _decode_blob(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _blob_type(blob: bytes) -> str | None:
    """The key type name a public key blob starts with (an SSH string)."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    name = blob[4:4 + length]
    if len(name) != length:
        return None
    return name.decode("ascii", "replace")


def _hashed_parts(field: str) -> tuple[bytes, bytes] | None:
    parts = field[len(HASH_MAGIC):].split("|")
    if len(parts) != 2:
        return None
    salt, digest = (_decode_blob(part) for part in parts)
    if salt is None or digest is None or len(salt) != 20 or len(digest) != 20:
        return None
    return salt, digest


# --- matching --------------------------------------------------------------------------------


def _hash_matches(salt: bytes, digest: bytes, name: str) -> bool:
    """`|1|salt|digest` names `name`: HMAC-SHA1 of the lower-cased name, keyed by the salt."""
    given = hmac.new(salt, name.lower().encode(), hashlib.sha1).digest()
    return hmac.compare_digest(given, digest)


def host_field_matches(field: str, name: str) -> bool:
    """OpenSSH's match_hostname: a hashed name, or a comma list of patterns where one negated
    pattern (`!p`) that matches vetoes the line. Case-insensitive, `*` and `?` wildcards."""
    if field.startswith(HASH_MAGIC):
        parts = _hashed_parts(field)
        return parts is not None and _hash_matches(*parts, name)
    return host_patterns_match(tuple(field.split(",")), name, fold_case=True)


def lines_for(known: Sequence[KnownHosts], name: str) -> tuple[HostKeyLine, ...]:
    """Every line, of every file, whose host field covers `name`, in file order."""
    return tuple(line for hosts in known for line in hosts.lines if line.matches(name))


def check_host_key(lines: Sequence[HostKeyLine], key_type: str,
                   key_blob: bytes) -> HostKeyCheck:
    """OpenSSH's verdict on a host presenting the key `key_blob` of type `key_type`, given the
    known_hosts `lines` for that host (from `lines_for`)."""
    authorities = tuple(line for line in lines if line.marker == "@cert-authority")
    revoked = next((line for line in lines
                    if line.marker == "@revoked" and line.key_blob == key_blob), None)
    if revoked is not None:
        return HostKeyCheck(verdict=Verdict.REVOKED, line=revoked,
                            skipped_authorities=authorities)
    plain = [line for line in lines if not line.marker]
    holding = next((line for line in plain if line.key_blob == key_blob), None)
    if holding is not None:
        return HostKeyCheck(verdict=Verdict.OK, line=holding, skipped_authorities=authorities)
    if plain:
        same_type = [line for line in plain if line.key_type == key_type]
        return HostKeyCheck(verdict=Verdict.CHANGED, line=(same_type or plain)[0],
                            skipped_authorities=authorities)
    return HostKeyCheck(verdict=Verdict.UNKNOWN, skipped_authorities=authorities)


def known_key_types(lines: Sequence[HostKeyLine]) -> tuple[str, ...]:
    """Key types of the plain `lines` of a host, in file order (to ask the server for them)."""
    return tuple(dict.fromkeys(line.key_type for line in lines if not line.marker))


def entry_text(name: str, key_type: str, key_base64: str, *, hashed: bool,
               salt: bytes | None = None) -> str:
    """The line OpenSSH appends for a learned key (hashed as with HashKnownHosts yes)."""
    if not hashed:
        return f"{name} {key_type} {key_base64}\n"
    salt = salt if salt is not None else os.urandom(20)
    digest = hmac.new(salt, name.lower().encode(), hashlib.sha1).digest()  # as _hash_matches
    field = f"{HASH_MAGIC}{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    return f"{field} {key_type} {key_base64}\n"


# --- I/O -------------------------------------------------------------------------------------


def read_known_hosts(path: str) -> KnownHosts:
    """Read and parse the known_hosts file at `path` (OSError when it cannot be read).

    Nodes connecting in parallel share one parse while the file stays the same."""
    status = check_regular(path)
    signature = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
    known = parse_known_hosts(read_regular(path).decode("utf-8", "replace"), path)
    with _CACHE_LOCK:
        _CACHE[path] = (signature, known)
    return known


def learn_host_key(path: str, name: str, key_type: str, key_base64: str, *,
                   hashed: bool) -> None:
    """Append a learned key to `path`, on a line of its own (OSError when it cannot)."""
    try:
        existing = read_regular(path)
    except FileNotFoundError:
        existing = b""
    prefix = "\n" if existing and not existing.endswith(b"\n") else ""
    append_regular(path, prefix + entry_text(name, key_type, key_base64, hashed=hashed))
