"""Renders shell completion scripts (bash, zsh, fish) from a description of the commands.

Pure: returns the script text. bash gets a function driven by `case` tables (no associative
arrays, so bash 3.2 works too); zsh runs the same function through zsh's bashcompinit; fish
gets one `complete` line per sub-command and option. Workload names are completed by calling
`ankplan completion --workloads FILE...` with the manifests already typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SHELLS = ("bash", "zsh", "fish")
MANIFEST_FLAGS = ("-f", "--filename", "-m", "--manifest")


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionSpec:
    """One option: its spellings, whether it takes a value, which values, and if a path."""

    flags: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...] = ()
    is_file: bool = False
    help: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """One command (`plan`) or command with a resource (`get workloads`)."""

    key: str
    help: str
    options: tuple[OptionSpec, ...]
    words: str  # what positional words are: "files", "names" (and files), "choices" or "none"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionSpec:
    """Every command and the top-level options."""

    commands: tuple[CommandSpec, ...]
    options: tuple[OptionSpec, ...]

    def top_commands(self) -> tuple[CommandSpec, ...]:
        """The sub-commands (not `get workloads`)."""
        return tuple(command for command in self.commands if " " not in command.key)


def render_completion(shell: str, spec: CompletionSpec) -> str:
    """The completion script for `shell` (one of SHELLS)."""
    return {"bash": render_bash, "zsh": render_zsh, "fish": render_fish}[shell](spec)


# --- bash ------------------------------------------------------------------------------------


def _flags(options: Iterable[OptionSpec], *, values: bool | None = None) -> str:
    return " ".join(flag for option in options for flag in option.flags
                    if values is None or option.takes_value == values)


def _case_lines(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f"        {pattern}) echo '{value}' ;;\n" for pattern, value in pairs)


def render_bash(spec: CompletionSpec) -> str:
    """A bash completion function `_ankplan` registered with `complete -F`."""
    commands = " ".join(command.key for command in spec.top_commands())
    options = _case_lines((f"'{c.key}'", _flags(c.options)) for c in spec.commands)
    value_options = _case_lines((f"'{c.key}'", _flags(c.options, values=True))
                                for c in spec.commands)
    choices = _case_lines(("|".join(f"'{c.key} {flag}'" for flag in o.flags), " ".join(o.choices))
                          for c in spec.commands for o in c.options if o.choices)
    words = _case_lines((f"'{c.key}'", " ".join((c.words, *c.choices))) for c in spec.commands)
    file_flags = sorted({flag for c in spec.commands for o in c.options if o.is_file
                         for flag in o.flags})
    return BASH_TEMPLATE.format(
        commands=commands, top=_flags(spec.options), options=options,
        value_options=value_options, choices=choices, words=words,
        file_flags=" ".join(file_flags), manifest_flags=" ".join(MANIFEST_FLAGS))


BASH_TEMPLATE = """\
# ankplan completion for bash. Load it with:  source <(ankplan completion bash)

_ankplan_options() {{
    case $1 in
{options}    esac
}}

_ankplan_value_options() {{
    case $1 in
{value_options}    esac
}}

_ankplan_choices() {{
    case "$1 $2" in
{choices}    esac
}}

_ankplan_words() {{
    case $1 in
{words}    esac
}}

_ankplan() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local key="" files="" word i skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        if ((skip)); then
            skip=0
            case " {manifest_flags} " in *" ${{COMP_WORDS[i-1]}} "*) files="$files $word" ;; esac
            continue
        fi
        case $word in
            -?*)
                case " $(_ankplan_value_options "$key") " in *" $word "*) skip=1 ;; esac
                continue ;;
        esac
        if [[ -z $key ]]; then
            key=$word
        elif [[ $key == get ]]; then
            key="get $word"
        elif [[ $word == - || $word == *.* || $word == */* ]]; then
            files="$files $word"
        fi
    done
    COMPREPLY=()
    if [[ -z $key ]]; then
        COMPREPLY=($(compgen -W "{commands} {top}" -- "$cur"))
        return 0
    fi
    case " $(_ankplan_value_options "$key") " in
        *" $prev "*)
            local values
            values=$(_ankplan_choices "$key" "$prev")
            if [[ -n $values ]]; then
                COMPREPLY=($(compgen -W "$values" -- "$cur"))
            elif [[ " {file_flags} " == *" $prev "* ]]; then
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_ankplan_options "$key")" -- "$cur"))
        return 0
    fi
    local words
    words=$(_ankplan_words "$key")
    case $words in
        choices\\ *) COMPREPLY=($(compgen -W "${{words#choices }}" -- "$cur")) ;;
        names)
            if [[ -n $files ]]; then
                COMPREPLY=($(compgen -W "$(ankplan completion --workloads $files 2>/dev/null)" \\
                             -- "$cur"))
            fi
            compopt -o filenames 2>/dev/null
            COMPREPLY+=($(compgen -f -- "$cur")) ;;
        files)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
    return 0
}}

complete -F _ankplan ankplan
"""


# --- zsh -------------------------------------------------------------------------------------


def render_zsh(spec: CompletionSpec) -> str:
    """The bash function run by zsh's bashcompinit (the same behaviour in both shells)."""
    return ZSH_HEADER + render_bash(spec).split("\n", 1)[1]


ZSH_HEADER = """\
#compdef ankplan
# ankplan completion for zsh. Load it with:  source <(ankplan completion zsh)
# It is the bash completion run through zsh's bashcompinit.
if ! (( $+functions[compdef] )); then
    autoload -U +X compinit && compinit
fi
autoload -U +X bashcompinit && bashcompinit
"""


# --- fish ------------------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _short_help(text: str) -> str:
    first = text.split(";")[0].split(" (")[0].strip()
    return first if len(first) <= 60 else first[:57] + "..."


def _fish_option(condition: str, option: OptionSpec) -> str:
    """One `complete` line; an option with choices gets a second line for its values, so
    fish does not show the option's description next to every value."""
    spelled = []
    for flag in option.flags:
        if flag.startswith("--"):
            spelled.append(f"-l {flag[2:]}")
        elif len(flag) == 2:
            spelled.append(f"-s {flag[1]}")
        else:
            spelled.append(f"-o {flag[1:]}")  # old style, e.g. -out
    head = f"complete -c ankplan -n {_fish_quote(condition)} {' '.join(spelled)}"
    kind = "-r -F" if option.is_file else ("-x" if option.takes_value else "")
    described = f" -d {_fish_quote(_short_help(option.help))}" if option.help else ""
    line = f"{head} {kind}".rstrip() + described
    if option.choices:
        line += f"\n{head} -x -a {_fish_quote(' '.join(option.choices))}"
    return line


def _fish_condition(key: str) -> str:
    words = key.split()
    condition = "; and ".join(f"__fish_seen_subcommand_from {word}" for word in words)
    if words == ["get"]:
        condition += "; and not __fish_seen_subcommand_from workloads workload"
    return condition


def render_fish(spec: CompletionSpec) -> str:
    """`complete` lines for every sub-command, option, value and positional word."""
    lines = [FISH_HEADER]
    for option in spec.options:
        lines.append(_fish_option("__fish_use_subcommand", option))
    for command in spec.top_commands():
        lines.append(f"complete -c ankplan -n '__fish_use_subcommand' -a {command.key} "
                     f"-d {_fish_quote(_short_help(command.help))}")
    for command in spec.commands:
        condition = _fish_condition(command.key)
        lines += [_fish_option(condition, option) for option in command.options]
        if command.words == "choices":
            lines.append(f"complete -c ankplan -n {_fish_quote(condition)} -a "
                         f"{_fish_quote(' '.join(command.choices))}")
        elif command.words in ("files", "names"):
            lines.append(f"complete -c ankplan -n {_fish_quote(condition)} -F")
        if command.words == "names":
            lines.append(f"complete -c ankplan -n {_fish_quote(condition)} "
                         "-a '(__ankplan_workloads)'")
    return "\n".join(lines) + "\n"


FISH_HEADER = """\
# ankplan completion for fish. Load it with:  ankplan completion fish | source

function __ankplan_workloads --description 'workload names in the manifests typed so far'
    set -l files
    for word in (commandline -opc)[2..-1]
        if string match -q -- '-*' $word
            continue
        end
        if string match -q -r -- '[./]' $word
            set -a files $word
        end
    end
    if test (count $files) -gt 0
        ankplan completion --workloads $files 2>/dev/null
    end
end

complete -c ankplan -f"""
