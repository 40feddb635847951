"""The one podman option tokenizer: every spelling podman accepts, values, masking, rewriting."""

from __future__ import annotations

import pytest

from ankplan.podman.masking import mask_argv
from ankplan.podman.options import (
    KUBE_PLAY,
    RUN,
    Token,
    env_assignments,
    has_option,
    last_value,
    mask_options,
    missing_values,
    option_values,
    rewrite,
    tokenize,
)

# Every way podman (pflag) lets one set PASSWORD=s3cr3t, next to other options.
ENV_FORMS = [
    ("-e", "PASSWORD=s3cr3t"),
    ("-ePASSWORD=s3cr3t",),
    ("-e=PASSWORD=s3cr3t",),
    ("--env", "PASSWORD=s3cr3t"),
    ("--env=PASSWORD=s3cr3t",),
    ("-ie", "PASSWORD=s3cr3t"),
    ("-itePASSWORD=s3cr3t",),
    ("-ite=PASSWORD=s3cr3t",),
    ("-ti", "-e", "PASSWORD=s3cr3t"),
]


@pytest.mark.parametrize("form", ENV_FORMS, ids=[" ".join(f) for f in ENV_FORMS])
def test_every_env_spelling_is_one_env_assignment(form: tuple[str, ...]) -> None:
    options = ("--cpus", "1", *form, "-p", "80:80")
    assert env_assignments(options) == (("PASSWORD", "s3cr3t"),)
    masked = mask_options(options)
    assert "s3cr3t" not in " ".join(masked) and "PASSWORD=***" in " ".join(masked)
    assert masked[:2] == ("--cpus", "1") and masked[-2:] == ("-p", "80:80")
    assert "s3cr3t" not in " ".join(mask_argv(("podman", "run", *options, "img")))
    without = rewrite(options, lambda token: () if token.name == "--env" else None)
    assert "PASSWORD=s3cr3t" not in without and without[:2] == ("--cpus", "1")
    assert without[-2:] == ("-p", "80:80")


def test_tokens_know_their_names_values_and_places() -> None:
    tokens = tokenize(("-dit", "--name", "web", "-p8080:80", "img", "--rm=false"))
    assert [(t.name, t.spelling, t.value, t.word) for t in tokens] == [
        ("--detach", "-d", None, 0), ("--interactive", "-i", None, 0), ("--tty", "-t", None, 0),
        ("--name", "--name", "web", 1), ("--publish", "-p", "8080:80", 3), ("", "img", "img", 4),
        ("--rm", "--rm", "false", 5)]


def test_a_value_is_taken_whatever_it_looks_like_as_podman_does() -> None:
    """pflag gives `--name` the next word even when it starts with a dash."""
    assert last_value(("--name", "-e", "X=1"), "--name") == "-e"
    assert env_assignments(("--name", "-e", "X=1")) == ()


def test_double_dash_ends_the_options() -> None:
    assert [t.is_option for t in tokenize(("-i", "--", "-e", "X=1"))] == [True, False, False,
                                                                          False]


def test_values_and_flags() -> None:
    options = ("--health-cmd", "a", "--health-cmd=b", "-e", "ONLY_NAME", "--no-healthcheck")
    assert option_values(options, "--health-cmd") == ("a", "b")
    assert last_value(options, "--health-cmd") == "b"
    assert last_value(options, "--health-interval") is None
    assert has_option(options, "--no-healthcheck") and not has_option(options, "--rm")
    assert env_assignments(options) == (("ONLY_NAME", None),)


def test_unknown_options_are_flags_and_unknown_letters_too() -> None:
    assert [(t.name, t.value) for t in tokenize(("--future-flag", "x", "-Z"))] == [
        ("--future-flag", None), ("", "x"), ("-Z", None)]


def test_missing_value_at_the_end() -> None:
    assert [t.spelling for t in missing_values(("--cpus", "1", "-ip"))] == ["-p"]
    assert missing_values(("-e", "A=1", "--rm")) == ()


def test_rewrite_cuts_a_flag_out_of_a_combined_word() -> None:
    def drop_env(token: Token) -> tuple[str, ...] | None:
        return () if token.name == "--env" else None

    def to_long(token: Token) -> tuple[str, ...] | None:
        return ("--env", token.value or "") if token.name == "--env" else None

    assert rewrite(("-ie", "A=1", "img"), drop_env) == ("-i", "img")
    assert rewrite(("-eA=1",), drop_env) == ()
    assert rewrite(("-ti", "--env=A=1", "-p", "1:1"), drop_env) == ("-ti", "-p", "1:1")
    assert rewrite(("-itePIN=1", "-x"), to_long) == ("-it", "--env", "PIN=1", "-x")


def test_kube_play_credentials_are_masked_after_the_user() -> None:
    assert mask_options(("--creds", "me:pa55", "--creds=you"), KUBE_PLAY) == (
        "--creds", "me:***", "--creds=***")
    assert mask_options(("-e", "K=v"), KUBE_PLAY) == ("-e", "K=***")


def test_env_merge_values_are_masked() -> None:
    assert mask_options(("--env-merge", "PATH=${PATH}:/secret",)) == ("--env-merge", "PATH=***")


def test_the_table_comes_from_podman_help() -> None:
    """Spot checks of option_table.py, written by scripts/podman_option_table.py."""
    assert RUN.takes_value("--env") and RUN.takes_value("--env-file")
    assert RUN.takes_value("--health-cmd") and RUN.takes_value("--net")
    assert not RUN.takes_value("--rm") and not RUN.takes_value("--interactive")
    assert RUN.short["e"] == "--env" and RUN.short["h"] == "--hostname"
    assert "--tty" in RUN.flags and "--detach" in RUN.flags
