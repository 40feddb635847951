"""What ~/.ssh/config adds to an inventory node: HostName, User, Port, IdentityFile,
UserKnownHostsFile, ProxyJump (as jump Nodes), IdentitiesOnly, HashKnownHosts, ConnectTimeout.

Keys that would change how ssh connects but that ankplan does not follow are logged as one-line
warnings naming the file and line; bad values become located Diagnostics. Reads the local
user's name and home for %-tokens; the config itself is read by ssh_config.read_ssh_config.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from ankplan.errors import Diagnostic, Severity
from ankplan.inventories.ssh_config import Found, Option, SshConfig, expand_tokens, lookup
from ankplan.inventories.values import host_problem, parse_port, port_problem, user_problem
from ankplan.model import Connection, Node

MAX_JUMPS = 8
log = logging.getLogger(__name__)

# Keys ankplan follows, and keys that change nothing for it (ankplan never prompts, forwards or
# opens a terminal). Every other key that applies to a node is warned about.
FOLLOWED = frozenset({"hostname", "user", "port", "identityfile", "userknownhostsfile",
                      "proxyjump", "hashknownhosts", "identitiesonly", "connecttimeout"})
NO_EFFECT = frozenset({
    "addkeystoagent", "batchmode", "canonicaldomains", "canonicalizefallbacklocal",
    "canonicalizemaxdots", "canonicalizepermittedcnames", "challengeresponseauthentication",
    "checkhostip", "clearallforwardings", "compression", "connectionattempts", "controlmaster",
    "controlpath", "controlpersist", "dynamicforward", "enableescapecommandline", "escapechar",
    "exitonforwardfailure", "fingerprinthash", "forkafterauthentication", "forwardagent",
    "forwardx11", "forwardx11timeout", "forwardx11trusted", "gatewayports",
    "gssapiauthentication", "gssapidelegatecredentials", "ignoreunknown", "ipqos",
    "kbdinteractiveauthentication", "localforward", "loglevel", "logverbose",
    "nohostauthenticationforlocalhost", "numberofpasswordprompts", "obscurekeystroketiming",
    "passwordauthentication", "permitremoteopen", "preferredauthentications", "rekeylimit",
    "remoteforward", "requesttty", "serveralivecountmax", "serveraliveinterval", "sessiontype",
    "stdinnull", "streamlocalbindmask", "streamlocalbindunlink", "syslogfacility",
    "tcpkeepalive", "tunnel", "tunneldevice", "updatehostkeys", "usekeychain",
    "verifyhostkeydns", "visualhostkey", "xauthlocation", "channeltimeout"})
# Keys OpenSSH knows that change how it connects; ankplan does not follow them.
NOT_FOLLOWED = frozenset({
    "addressfamily", "bindaddress", "bindinterface", "canonicalizehostname",
    "casignaturealgorithms", "certificatefile", "ciphers", "enablesshkeysign",
    "globalknownhostsfile", "hostbasedacceptedalgorithms", "hostbasedauthentication",
    "hostkeyalgorithms", "hostkeyalias", "identityagent", "kexalgorithms", "knownhostscommand",
    "localcommand", "macs", "permitlocalcommand", "pkcs11provider", "proxycommand",
    "proxyusefdpass", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes",
    "pubkeyauthentication", "remotecommand", "requiredrsasize", "revokedhostkeys",
    "securitykeyprovider", "sendenv", "setenv", "stricthostkeychecking", "tag"})
# Values of otherwise unfollowed keys that mean "the default", so they change nothing either.
HARMLESS_VALUES = {"canonicalizehostname": {"no"}, "addressfamily": {"any"},
                   "pubkeyauthentication": {"yes"}, "permitlocalcommand": {"no"},
                   "proxycommand": {"none"}, "stricthostkeychecking": {"yes", "ask"},
                   "hostbasedauthentication": {"no"}, "enablesshkeysign": {"no"}}


@dataclass(frozen=True, slots=True, kw_only=True)
class SshSettings:
    """Connection settings ssh_config gives one host alias; "" or None where it gives none."""

    hostname: str = ""
    user: str = ""
    port: int | None = None
    identity_file: str = ""
    known_hosts_file: str = ""
    connect_timeout: float | None = None
    identities_only: bool = False
    hash_known_hosts: bool = False
    proxy_jump: Node | None = None


@dataclass(slots=True)
class SshResolver:
    """Looks host aliases up in an ssh_config (none: every lookup is empty)."""

    config: SshConfig | None
    problems: list[Diagnostic] = field(default_factory=list)

    def settings(self, alias: str, *, user: str = "", port: int | None = None,
                 given: frozenset[str] = frozenset(), connect_timeout: float = 10.0,
                 depth: int = 0) -> SshSettings:
        """What the config says for `alias`; bad values are added to `problems`.

        `given`: keys the caller already has ("hostname", "user", "port"); the config's
        values for those are neither used nor checked.
        """
        if self.config is None:
            return SshSettings()
        found = lookup(self.config, alias, user=user, local_user=_local_user())
        for warning in found.warnings:
            log.warning("%s", warning)
        _warn_unfollowed(found)
        for key in given:
            found.options.pop(key, None)
        return self._settings(alias, found, user, port or 22, connect_timeout, depth)

    def _settings(self, alias: str, found: Found, user: str, port: int,
                  connect_timeout: float, depth: int) -> SshSettings:
        hostname = self._checked(found.get("hostname"), host_problem,
                                 lambda text: text.replace("%%", "\0").replace("%h", alias)
                                 .replace("\0", "%"))
        user_value = self._checked(found.get("user"), user_problem, str)
        port_value = self._port(found.get("port"))
        tokens = _tokens(alias, hostname or alias, port_value or port,
                         user or user_value or _local_user())
        home = os.path.expanduser("~")
        identities = [expand_tokens(option.value, tokens, home)
                      for option in found.multi.get("identityfile", []) if option.value]
        known_hosts = found.get("userknownhostsfile")
        if known_hosts is not None and len(known_hosts.args) > 1:
            log.warning("%s: UserKnownHostsFile lists %d files; ankplan reads only the first "
                        "(%s)", known_hosts.where, len(known_hosts.args), known_hosts.value)
        timeout = self._timeout(found.get("connecttimeout"))
        jump = self._jump(found.get("proxyjump"), timeout or connect_timeout, depth)
        return SshSettings(
            hostname=hostname, user=user_value, port=port_value,
            identity_file=_first_existing(identities),
            known_hosts_file=(expand_tokens(known_hosts.value, tokens, home)
                              if known_hosts is not None and known_hosts.value != "none"
                              else ""),
            connect_timeout=timeout, identities_only=_yes(found.get("identitiesonly")),
            hash_known_hosts=_yes(found.get("hashknownhosts")), proxy_jump=jump)

    def _checked(self, option: Option | None, problem_of: Callable[[object], str | None],
                 expand: Callable[[str], str]) -> str:
        if option is None:
            return ""
        value = expand(option.value)
        problem = problem_of(value)
        if problem:
            self._error(option, f"{option.name}: {problem}")
            return ""
        return str(value)

    def _port(self, option: Option | None) -> int | None:
        if option is None:
            return None
        value = parse_port(option.value)
        problem = port_problem(value)
        if problem or not isinstance(value, int):
            self._error(option, f"{option.name}: {problem}")
            return None
        return value

    def _timeout(self, option: Option | None) -> float | None:
        if option is None or option.value == "none":
            return None
        try:
            seconds = float(option.value)
        except ValueError:
            seconds = 0.0
        if not 0 < seconds < float("inf"):
            self._error(option, f"{option.name}: expected a number of seconds greater than 0, "
                        f"got '{option.value}'")
            return None
        return seconds

    def _error(self, option: Option, summary: str) -> None:
        self.problems.append(Diagnostic(severity=Severity.ERROR, code="invalid-value",
                                        summary=summary, location=option.location))

    def _jump(self, option: Option | None, connect_timeout: float, depth: int) -> Node | None:
        """The last hop of a ProxyJump chain ("a,b": b reached through a), as a Node."""
        if option is None or option.value.lower() == "none":
            return None
        if depth >= MAX_JUMPS:
            self._error(option, f"{option.name}: more than {MAX_JUMPS} jump hosts in a row "
                        "(do the ProxyJump lines form a loop?)")
            return None
        previous: Node | None = None
        for hop in option.value.split(","):
            node = self._jump_node(option, hop, previous, connect_timeout, depth)
            if node is None:
                return None
            previous = node
        return previous

    def _jump_node(self, option: Option, hop: str, previous: Node | None,
                   connect_timeout: float, depth: int) -> Node | None:
        parsed = parse_jump(hop)
        if isinstance(parsed, str):
            self._error(option, f"{option.name}: {parsed}")
            return None
        user, host, port = parsed
        given = frozenset(key for key, value in (("user", user), ("port", port)) if value)
        settings = self.settings(host, user=user, port=port, given=given,
                                 connect_timeout=connect_timeout, depth=depth + 1)
        return Node(name=hop, connection=Connection.SSH, host=settings.hostname or host,
                    port=port or settings.port or 22, user=user or settings.user,
                    identity_file=settings.identity_file,
                    known_hosts_file=settings.known_hosts_file,
                    connect_timeout=settings.connect_timeout or connect_timeout,
                    identities_only=settings.identities_only,
                    hash_known_hosts=settings.hash_known_hosts,
                    proxy_jump=previous if previous is not None else settings.proxy_jump)


def parse_jump(hop: str) -> tuple[str, str, int | None] | str:
    """`[user@]host[:port]` or `ssh://[user@]host[:port]` as (user, host, port or None); a
    problem as a string."""
    text = hop.strip().removeprefix("ssh://")
    user, _, address = text.rpartition("@")
    port_text = ""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, port_text = address.split(":")
    else:
        host = address
    problem = host_problem(host) or (user_problem(user) if user else None)
    port = parse_port(port_text) if port_text else None
    problem = problem or (port_problem(port) if port is not None else None)
    if problem:
        return f"jump host '{hop}': {problem}"
    return user, host, port  # type: ignore[return-value]


def _warn_unfollowed(found: Found) -> None:
    for key, option in found.options.items():
        if key in NO_EFFECT or key in FOLLOWED:
            continue
        if option.value.lower() in HARMLESS_VALUES.get(key, ()):
            continue
        if key == "stricthostkeychecking":
            log.warning("%s: StrictHostKeyChecking %s is not followed: ankplan always checks "
                        "host keys (--accept-new-host-keys learns unknown ones)", option.where,
                        option.value)
        elif key in NOT_FOLLOWED:
            log.warning("%s: %s is not supported by ankplan and is ignored", option.where,
                        option.name)
        else:
            log.warning("%s: unknown ssh_config keyword %s; ignored", option.where, option.name)


def _yes(option: Option | None) -> bool:
    return option is not None and option.value.lower() == "yes"


def _first_existing(paths: list[str]) -> str:
    """The first IdentityFile that exists (ssh skips missing ones); one that is no regular
    file is taken too, so that connecting refuses it with a clear error."""
    for path in paths:
        if os.path.lexists(path):
            return path
    return ""


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _tokens(alias: str, hostname: str, port: int, user: str) -> dict[str, str]:
    local_host = socket.gethostname()
    return {"h": hostname, "n": alias, "p": str(port), "r": user, "u": _local_user(),
            "d": os.path.expanduser("~"), "i": str(os.getuid()),
            "l": local_host, "L": local_host.split(".")[0]}
