"""ssh_config read as OpenSSH reads it, keeping the file, line and column of every value: Host and
Match blocks, Include, the first value obtained wins, %-tokens in paths; and OpenSSH's patterns
(`*`, `?`, `!negated`), which known_hosts uses too.

`read_ssh_config` reads the files (Include too) through ankplan.files; the rest is pure.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ankplan.errors import Diagnostic, Location, Severity
from ankplan.files import read_regular

MAX_INCLUDE_DEPTH = 16
# Keywords that may be given several times, every value counting (the rest: first one wins).
MULTI_KEYS = frozenset({"identityfile", "certificatefile", "localforward", "remoteforward",
                        "dynamicforward", "sendenv", "setenv"})
# Match criteria ankplan can evaluate; the others (exec, canonical, final, localnetwork,
# tagged) make the block count as not matching, with a warning.
MATCH_CRITERIA = frozenset({"all", "host", "originalhost", "user", "localuser"})
_CRITERIA_WITH_ARGUMENT = frozenset({"host", "originalhost", "user", "localuser", "exec",
                                     "localnetwork", "tagged"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One `Keyword value...` line."""

    key: str  # lower case, e.g. "hostname"
    name: str  # as written, e.g. "HostName"
    args: tuple[str, ...]
    location: Location  # of the first argument

    @property
    def where(self) -> str:
        """`file:line`, for messages."""
        return f"{self.location.file}:{self.location.line}"

    @property
    def value(self) -> str:
        """The first argument ("" when none)."""
        return self.args[0] if self.args else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """A `Host` or `Match` line; the options after it apply when it matches."""

    kind: str  # "host" or "match"
    args: tuple[str, ...]
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class SshConfig:
    """Every option of a config file and its includes, in order, with the conditions it needs."""

    path: str
    entries: tuple[tuple[tuple[Condition, ...], Option], ...] = ()
    problems: tuple[Diagnostic, ...] = ()  # lines that could not be read, as warnings


@dataclass(slots=True)
class Found:
    """What a lookup found for one host: the first value of each key, all values of MULTI_KEYS,
    and warnings about conditions ankplan could not evaluate."""

    options: dict[str, Option] = field(default_factory=dict)
    multi: dict[str, list[Option]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, key: str) -> Option | None:
        """The option that decides `key` (lower case), or None."""
        return self.options.get(key)


# --- reading ---------------------------------------------------------------------------------


def read_ssh_config(path: str) -> SshConfig:
    """Read `path` and the files it includes (OSError when `path` itself cannot be read)."""
    entries: list[tuple[tuple[Condition, ...], Option]] = []
    problems: list[Diagnostic] = []
    text = read_regular(path, max_bytes=4 * 1024 * 1024).decode("utf-8", "replace")
    _parse(text, path, (), entries, problems, depth=0)
    return SshConfig(path=path, entries=tuple(entries), problems=tuple(problems))


def _parse(text: str, path: str, outer: tuple[Condition, ...],
           entries: list[tuple[tuple[Condition, ...], Option]], problems: list[Diagnostic],
           depth: int) -> None:
    conditions = outer
    for number, line in enumerate(text.splitlines(), start=1):
        parsed = _split_line(line)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            problems.append(_warning(path, number, 1, parsed))
            continue
        name, args, column = parsed
        location = Location(file=path, line=number, column=column)
        key = name.lower()
        if key in ("host", "match"):
            conditions = (*outer, Condition(kind=key, args=args, location=location))
        elif key == "include":
            for included in _included_files(args, path):
                _include(included, conditions, entries, problems, depth, location)
        else:
            entries.append((conditions, Option(key=key, name=name, args=args, location=location)))


def _include(path: str, conditions: tuple[Condition, ...],
             entries: list[tuple[tuple[Condition, ...], Option]], problems: list[Diagnostic],
             depth: int, location: Location) -> None:
    if depth >= MAX_INCLUDE_DEPTH:
        problems.append(_warning(location.file, location.line, location.column,
                                 f"Include nested deeper than {MAX_INCLUDE_DEPTH}; skipped"))
        return
    try:
        text = read_regular(path, max_bytes=4 * 1024 * 1024).decode("utf-8", "replace")
    except OSError as error:
        problems.append(_warning(location.file, location.line, location.column,
                                 f"cannot read included file {path}: {error.strerror}; "
                                 "skipped"))
        return
    _parse(text, path, conditions, entries, problems, depth + 1)


def _included_files(args: tuple[str, ...], including: str) -> Iterator[str]:
    """Include's arguments as files: ~ expanded, relative to ~/.ssh, globs sorted."""
    for arg in args:
        expanded = os.path.expanduser(arg)
        if not os.path.isabs(expanded):
            expanded = os.path.join(os.path.expanduser("~/.ssh"), expanded)
        matches = sorted(glob.glob(expanded)) if glob.has_magic(expanded) else [expanded]
        yield from (match for match in matches if os.path.abspath(match) !=
                    os.path.abspath(including))


def _split_line(line: str) -> tuple[str, tuple[str, ...], int] | str | None:
    """(keyword, arguments, column of the first argument); a problem; None for nothing."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    indent = len(line) - len(line.lstrip())
    head = stripped.split(None, 1)[0].split("=", 1)[0]
    rest = stripped[len(head):].lstrip()
    rest = rest[1:].lstrip() if rest.startswith("=") else rest
    column = indent + len(stripped) - len(rest) + 1
    args = split_arguments(rest)
    if args is None:
        return f"{head}: unbalanced quotes; line skipped"
    return head, args, column


def split_arguments(text: str) -> tuple[str, ...] | None:
    """Words as OpenSSH splits them: whitespace, "double" or 'single' quotes, a backslash
    before a quote, and `#` starting a word ends the line. None for an unbalanced quote."""
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "\\\"'":
            word = (word or []) + [text[index + 1]]
            index += 2
            continue
        if quote:
            quote = "" if char == quote else quote
            if quote:
                word = (word or []) + [char]
        elif char in "\"'":
            quote, word = char, word or []
        elif char.isspace():
            if word is not None:
                words.append("".join(word))
            word = None
        elif char == "#" and word is None:
            break
        else:
            word = (word or []) + [char]
        index += 1
    if quote:
        return None
    if word is not None:
        words.append("".join(word))
    return tuple(words)


def _warning(path: str, line: int, column: int, summary: str) -> Diagnostic:
    return Diagnostic(severity=Severity.WARNING, code="ssh-config", summary=summary,
                      location=Location(file=path, line=line, column=column))


# --- lookup ----------------------------------------------------------------------------------


def lookup(config: SshConfig, host: str, *, user: str = "", local_user: str = "") -> Found:
    """The options that apply to `host`, as `ssh host` would see them. Pure.

    `user`: the user the inventory names (for `Match user`); `local_user`: for `Match localuser`.
    """
    found = Found()
    decided: dict[Condition, bool] = {}
    for conditions, option in config.entries:
        if not all(_holds(condition, decided, host, user, local_user, found)
                   for condition in conditions):
            continue
        if option.key in MULTI_KEYS:
            found.multi.setdefault(option.key, []).append(option)
        found.options.setdefault(option.key, option)
    return found


def _holds(condition: Condition, decided: dict[Condition, bool], host: str, user: str,
           local_user: str, found: Found) -> bool:
    """Whether `condition` matches, decided once when first met (as ssh reads top down)."""
    if condition not in decided:
        if condition.kind == "host":
            decided[condition] = host_patterns_match(condition.args, host)
        else:
            hostname, found_user = found.get("hostname"), found.get("user")
            state = {"host": hostname.value.replace("%h", host) if hostname else host,
                     "originalhost": host, "localuser": local_user,
                     "user": user or (found_user.value if found_user else local_user)}
            decided[condition] = _match_holds(condition, state, found)
    return decided[condition]


def wildcard_match(text: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: `*` any run, `?` any one character, all else literal."""
    t = p = 0
    star_p, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star_p, star_t, p = p, t, p + 1
        elif p < len(pattern) and pattern[p] in ("?", text[t]):
            t, p = t + 1, p + 1
        elif star_p >= 0:
            star_t += 1
            t, p = star_t, star_p + 1
        else:
            return False
    return all(char == "*" for char in pattern[p:])


def host_patterns_match(patterns: tuple[str, ...], host: str, *, fold_case: bool = False) -> bool:
    """Some pattern matches `host` and no negated one (`!p`) does, as on a `Host` line.

    `fold_case`: compare in lower case, as `Match host` and known_hosts do (a `Host` line is
    case-sensitive in OpenSSH)."""
    if fold_case:
        host, patterns = host.lower(), tuple(pattern.lower() for pattern in patterns)
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if wildcard_match(host, pattern.removeprefix("!")):
            if negated:
                return False
            matched = True
    return matched


def pattern_list_match(patterns: str, value: str) -> bool:
    """A comma list as in `Match host a,b,!c` (OpenSSH's match_pattern_list, case-folded)."""
    return host_patterns_match(tuple(patterns.split(",")), value, fold_case=True)


def _match_holds(condition: Condition, state: dict[str, str], found: Found) -> bool:
    args = list(condition.args)
    where = f"{condition.location.file}:{condition.location.line}"
    while args:
        word = args.pop(0)
        negated = word.startswith("!")
        criterion = word.lower().removeprefix("!")
        argument = args.pop(0) if criterion in _CRITERIA_WITH_ARGUMENT and args else ""
        if criterion not in MATCH_CRITERIA:
            found.warnings.append(f"{where}: Match {criterion} is not supported by ankplan; "
                                  "the block is ignored")
            return False
        result = criterion == "all" or pattern_list_match(argument, state[criterion])
        if result == negated:
            return False
    return True


def expand_tokens(text: str, tokens: Mapping[str, str], home: str) -> str:
    """%-tokens (`tokens` maps "h" -> host name, ...; "%%" is "%") and a leading ~, as ssh
    expands them in IdentityFile and UserKnownHostsFile. Unknown tokens stay as written."""
    out, index = [], 0
    while index < len(text):
        letter = text[index + 1] if text[index] == "%" and index + 1 < len(text) else ""
        if letter == "%" or letter in tokens:
            out.append("%" if letter == "%" else tokens[letter])
            index += 2
        else:
            out.append(text[index])
            index += 1
    expanded = "".join(out)
    if expanded == "~" or expanded.startswith("~/"):
        expanded = home + expanded[1:]
    return expanded
