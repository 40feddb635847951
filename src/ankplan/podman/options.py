"""The one tokenizer of podman option lists, and what is built on it: option values, env
assignments, secret masking and rewriting options without some of them.

Pure: no I/O. It reads options as podman's flag parser (spf13/pflag) does: `-e V`, `-eV`, `-e=V`,
`--env V`, `--env=V`, short flags combined (`-it`, `-ie V`, `-itePASS=x`: a letter that takes a
value takes the rest of its word, or the next word), `--` ending the options. Which options take
a value comes from podman's own `--help` (option_table.py). Words that are not options do not
stop the scan, so a fragment such as commandOptions is read whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from ankplan.podman import option_table

MASK = "***"


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionTable:
    """The options of one podman command: long names taking a value, flags, short letters."""

    valued: frozenset[str]
    flags: frozenset[str]
    short: Mapping[str, str]  # letter -> long name, e.g. "e" -> "--env"

    def takes_value(self, name: str) -> bool:
        """True when the long option `name` takes a value; unknown options are read as flags."""
        return name in self.valued


RUN = OptionTable(valued=option_table.RUN_VALUED, flags=option_table.RUN_FLAGS,
                  short=option_table.RUN_SHORT)
GLOBAL = OptionTable(valued=option_table.GLOBAL_VALUED, flags=option_table.GLOBAL_FLAGS,
                     short=option_table.GLOBAL_SHORT)
# Options whose value holds a secret after a separator: the part before it (a variable or user
# name) may be shown, the rest never. `--creds` is `podman kube play`'s USER:PASSWORD.
SECRET_OPTIONS: Mapping[str, str] = {"--env": "=", "--env-merge": "=", "--creds": ":"}
ENV = "--env"
# `podman kube play` refuses -e/--env, but a manifest may still give them: read them as env
# options there too, so their values are hidden before podman gets to refuse them.
KUBE_PLAY = OptionTable(valued=option_table.KUBE_PLAY_VALUED | frozenset(SECRET_OPTIONS),
                        flags=option_table.KUBE_PLAY_FLAGS,
                        short={**option_table.KUBE_PLAY_SHORT, "e": ENV})


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """One option (or one word that is no option) of an option list.

    The option text is `words[word][start:end]`; its value, when given, is the rest of
    `words[value_word]` from `value_start` (the same word for `-eV`/`--env=V`, the next one for
    `-e V`). Several tokens share a word when short flags are combined (`-it`).
    """

    name: str  # the long name ("--env" also for "-e"), or "" for a word that is no option
    spelling: str  # as written: "-e", "--env", "-i"; the word itself when name is ""
    value: str | None  # None for a flag given without a value (or a value missing at the end)
    word: int
    start: int
    end: int
    value_word: int = -1  # -1 without a value
    value_start: int = 0

    @property
    def is_option(self) -> bool:
        """False for a word that is no option (an image, an argument, a stray word)."""
        return bool(self.name)

    @property
    def words_used(self) -> int:
        """How many words the token reaches over: 2 for `-e V`, else 1."""
        return 2 if self.value_word > self.word else 1


def tokenize(words: Sequence[str], table: OptionTable = RUN) -> tuple[Token, ...]:
    """Every option and every other word of `words`, in order."""
    return tuple(_scan(words, table))


def _scan(words: Sequence[str], table: OptionTable) -> Iterator[Token]:
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            yield _plain(words, index)
            for rest in range(index + 1, len(words)):
                yield _plain(words, rest)
            return
        if word.startswith("--"):
            token = _long(words, index, table)
        elif word.startswith("-") and len(word) > 1:
            tokens = _short(words, index, table)
            yield from tokens[:-1]
            token = tokens[-1]
        else:
            token = _plain(words, index)
        yield token
        index += token.words_used if token.word == index else 1


def _plain(words: Sequence[str], index: int) -> Token:
    return Token(name="", spelling=words[index], value=words[index], word=index, start=0,
                 end=len(words[index]), value_word=index)


def _long(words: Sequence[str], index: int, table: OptionTable) -> Token:
    word = words[index]
    name, equals, _ = word.partition("=")
    if equals:
        return Token(name=name, spelling=name, value=word[len(name) + 1:], word=index, start=0,
                     end=len(word), value_word=index, value_start=len(name) + 1)
    if table.takes_value(name) and index + 1 < len(words):
        return Token(name=name, spelling=name, value=words[index + 1], word=index, start=0,
                     end=len(word), value_word=index + 1)
    return Token(name=name, spelling=name, value=None, word=index, start=0, end=len(word))


def _short(words: Sequence[str], index: int, table: OptionTable) -> list[Token]:
    """The tokens of one word of short flags, e.g. `-it`, `-ePASS=x`, `-ie`, `-e=V`."""
    word = words[index]
    tokens: list[Token] = []
    for position in range(1, len(word)):
        letter = word[position]
        name = table.short.get(letter, "-" + letter)  # unknown letters are read as flags
        rest = position + 1
        token = partial(Token, name=name, spelling="-" + letter, word=index, start=position)
        if rest < len(word) and word[rest] == "=":  # pflag: `-e=V`, also `-i=false`
            tokens.append(token(value=word[rest + 1:], end=len(word), value_word=index,
                                value_start=rest + 1))
            break
        if not table.takes_value(name):
            tokens.append(token(value=None, end=rest))
        elif rest < len(word):
            tokens.append(token(value=word[rest:], end=len(word), value_word=index,
                                value_start=rest))
            break
        elif index + 1 < len(words):
            tokens.append(token(value=words[index + 1], end=rest, value_word=index + 1))
            break
        else:
            tokens.append(token(value=None, end=rest))
    return tokens


# --- what callers ask of option lists --------------------------------------------------------


def option_values(words: Sequence[str], name: str, table: OptionTable = RUN) -> tuple[str, ...]:
    """Every value given to the long option `name` (in any spelling), in order."""
    return tuple(token.value for token in tokenize(words, table)
                 if token.name == name and token.value is not None)


def last_value(words: Sequence[str], name: str, table: OptionTable = RUN) -> str | None:
    """The value of the last `name` option (podman keeps the last one), or None."""
    values = option_values(words, name, table)
    return values[-1] if values else None


def has_option(words: Sequence[str], name: str, table: OptionTable = RUN) -> bool:
    """True when the long option `name` is given in any spelling."""
    return any(token.name == name for token in tokenize(words, table))


def env_assignments(words: Sequence[str],
                    table: OptionTable = RUN) -> tuple[tuple[str, str | None], ...]:
    """Every `(NAME, VALUE)` the env options set, in order; VALUE None for `-e NAME` (the value
    then comes from the environment podman runs in)."""
    found: list[tuple[str, str | None]] = []
    for value in option_values(words, ENV, table):
        name, equals, rest = value.partition("=")
        found.append((name, rest if equals else None))
    return tuple(found)


def secret_split(token: Token) -> tuple[str, str] | None:
    """(shown part with its separator, secret part) of a secret-bearing option's value."""
    separator = SECRET_OPTIONS.get(token.name)
    if separator is None or token.value is None:
        return None
    head, found, secret = token.value.partition(separator)
    if not found:
        return None if separator == "=" else ("", token.value)  # `-e NAME`: no value given
    return head + separator, secret


def secret_values(words: Sequence[str], table: OptionTable = RUN) -> tuple[str, ...]:
    """The secret part of every secret-bearing option (`VALUE` of `-e NAME=VALUE`), in order."""
    return tuple(split[1] for split in map(secret_split, tokenize(words, table))
                 if split is not None and split[1])


def mask_options(words: Sequence[str], table: OptionTable = RUN,
                 hidden: Callable[[Token], str | None] = lambda token: None) -> tuple[str, ...]:
    """`words` for display: every secret value shown as `***`, the spelling kept.

    `hidden(token)` may name more values to hide: it returns the part of the value to keep
    (the rest becomes `***`), or None. Without any word that starts with "-" there is no
    option, so nothing is tokenized.
    """
    if not any(word.startswith("-") for word in words):
        return tuple(words)
    masked = list(words)
    for token in tokenize(words, table):
        split = secret_split(token)
        kept = split[0] if split is not None and split[1] else hidden(token)
        if kept is not None:
            word = masked[token.value_word]
            masked[token.value_word] = word[:token.value_start] + kept + MASK
    return tuple(masked)


Rewrite = Callable[[Token], tuple[str, ...] | None]


def rewrite(words: Sequence[str], replace: Rewrite, table: OptionTable = RUN) -> tuple[str, ...]:
    """`words` with each option for which `replace` returns words put in its place.

    `replace` returns None to keep a token as written. A replaced short flag is cut out of its
    word (`-ie V` with `e` replaced keeps `-i`); the replacement follows what is left.
    """
    tokens = tokenize(words, table)
    result: list[str] = []
    position = 0
    while position < len(tokens):
        group = [tokens[position]]
        while (position + len(group) < len(tokens)
               and tokens[position + len(group)].word == group[0].word):
            group.append(tokens[position + len(group)])
        position += len(group)
        result += _rewrite_word(words, group, replace)
    return tuple(result)


def _rewrite_word(words: Sequence[str], group: list[Token], replace: Rewrite) -> list[str]:
    """The words for the tokens that start in one word (several only for combined flags)."""
    replacements = [replace(token) if token.is_option else None for token in group]
    last = group[-1]
    value_words = [words[last.value_word]] if last.value_word > last.word else []
    if all(replacement is None for replacement in replacements):
        return [words[last.word], *value_words]
    word = words[last.word]
    kept = "".join(word[token.start:token.end] for token, replacement in
                   zip(group, replacements) if replacement is None)
    prefix = word[:group[0].start]
    result = [prefix + kept] if kept else []
    if replacements[-1] is None:
        result += value_words
    for replacement in replacements:
        result += replacement or ()
    return result


def missing_values(words: Sequence[str], table: OptionTable = RUN) -> tuple[Token, ...]:
    """Options that take a value but end the list without one (`["-p"]`): appended before an
    image, they would take the image as their value."""
    return tuple(token for token in tokenize(words, table)
                 if token.is_option and token.value is None and table.takes_value(token.name))
