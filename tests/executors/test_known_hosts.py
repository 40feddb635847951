"""known_hosts read like OpenSSH: files written with ssh-keygen (real keys, `-H` hashing), every
lookup cross-checked against `ssh-keygen -F`, and the verdicts OpenSSH gives."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ankplan.executors import known_hosts as kh
from ankplan.inventories.ssh_config import wildcard_match


def keygen(path: Path, key_type: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(path)], check=True,
                   capture_output=True)


def pub(path: Path) -> str:
    """`type base64` of the key pair at `path`."""
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    paths = {name: folder / name for name in ("a", "b", "c", "rsa")}
    for name, path in paths.items():
        keygen(path, "rsa" if name == "rsa" else ("ecdsa" if name == "c" else "ed25519"))
    return paths


# ssh lower-cases the host name before looking it up (ssh-keygen -F does not), so every name
# here is lower case; test_verdicts checks an upper-case one.
NAMES = ("node1", "10.0.0.1", "a.lab", "bad.lab", "x.y.lab", "[h2]:2222", "h2",
         "[h2]:22", "hax", "hx", "foo.example.com", "[10.231.0.5]:2200", "[10.231.0.5]:22",
         "other", "*", "")


@pytest.fixture(scope="module")
def known_hosts_file(keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A known_hosts with every feature; the plain names are hashed by ssh-keygen -H."""
    path = tmp_path_factory.mktemp("kh") / "known_hosts"
    path.write_text("\n".join([
        "# written by hand and by ssh-keygen",
        f"@cert-authority *.example.com {pub(keys['c'])}",
        f"@revoked * {pub(keys['b'])}",
        f"node1,10.0.0.1 {pub(keys['a'])}",
        f"node1 {pub(keys['c'])}",
        f"*.lab,!bad.lab {pub(keys['a'])}",
        f"[h2]:2222 {pub(keys['a'])}",
        f"h?x {pub(keys['rsa'])}",
        f"[10.231.0.*]:2200 {pub(keys['a'])} comment words",
        "",
        "   # indented comment",
    ]) + "\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    Path(f"{path}.old").unlink()
    with path.open("a") as file:  # hand-edited damage (ssh-keygen -H refuses to hash it)
        file.write("\n".join([
            "not-enough-fields ssh-ed25519",
            "@bogus host ssh-ed25519 AAAA",
            "host ssh-ed25519 !!notbase64!!",
            f"host ssh-rsa {pub(keys['a']).split()[1]}",
            "|1|bad|hash ssh-ed25519 AAAA",
        ]) + "\n")
    return path


def openssh_lookup(path: Path, name: str) -> list[tuple[int, str]]:
    """(line, marker) of every line `ssh-keygen -F name` reports."""
    output = subprocess.run(["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True,
                            text=True, check=False).stdout
    found = re.findall(r"^# Host .* found: line (\d+) ?(\w*)$", output, re.MULTILINE)
    markers = {"": "", "CA": "@cert-authority", "REVOKED": "@revoked"}
    return [(int(line), markers[marker]) for line, marker in found]


def test_the_file_is_hashed_the_way_openssh_writes_it(known_hosts_file: Path) -> None:
    lines = known_hosts_file.read_text().splitlines()
    assert lines[3].startswith("|1|") and lines[4].startswith("|1|")  # node1, 10.0.0.1
    assert lines[5].startswith("|1|")  # node1 (second key)
    assert lines[6].startswith("*.lab")  # wildcards stay plain


@pytest.mark.parametrize("name", [name for name in NAMES if name])
def test_lookups_agree_with_ssh_keygen(known_hosts_file: Path, name: str) -> None:
    known = kh.read_known_hosts(str(known_hosts_file))
    ours = [(line.line, line.marker) for line in known.lines if line.matches(name)]
    assert ours == openssh_lookup(known_hosts_file, name)


def test_malformed_lines_are_warned_and_skipped(known_hosts_file: Path) -> None:
    known = kh.read_known_hosts(str(known_hosts_file))
    path = str(known_hosts_file)
    assert known.warnings == (
        f"{path}:13: expected a host pattern, a key type and a key; line skipped",
        f"{path}:14: unknown marker '@bogus' (known: @cert-authority, @revoked); line skipped",
        f"{path}:15: the key is not valid base64; line skipped",
        f"{path}:16: the key is not a ssh-rsa key; line skipped",
        f"{path}:17: malformed hashed host name; line skipped")
    assert len(known.lines) == 9


def blob(path: Path) -> tuple[str, bytes]:
    key_type, encoded = pub(path).split()
    return key_type, kh.base64.b64decode(encoded)


@pytest.mark.parametrize(("name", "key", "verdict", "line"), [
    ("node1", "a", kh.Verdict.OK, 4),  # hashed entry
    ("NODE1", "a", kh.Verdict.OK, 4),  # names are compared in lower case
    ("node1", "c", kh.Verdict.OK, 6),  # a second key for the same host: any match is accepted
    ("10.0.0.1", "a", kh.Verdict.OK, 5),
    ("node1", "rsa", kh.Verdict.CHANGED, 4),  # known keys, none matching (another type too)
    ("10.0.0.1", "c", kh.Verdict.CHANGED, 5),
    ("node1", "b", kh.Verdict.REVOKED, 3),  # revoked beats every plain line
    ("a.lab", "a", kh.Verdict.OK, 7),
    ("bad.lab", "a", kh.Verdict.UNKNOWN, None),  # negated pattern vetoes the line
    ("[h2]:2222", "a", kh.Verdict.OK, 8),
    ("h2", "a", kh.Verdict.UNKNOWN, None),  # port 22 is a different entry
    ("hax", "rsa", kh.Verdict.OK, 9),
    ("[10.231.0.5]:2200", "a", kh.Verdict.OK, 10),
    ("foo.example.com", "a", kh.Verdict.UNKNOWN, None),  # only a CA: certificates unsupported
])
def test_verdicts(known_hosts_file: Path, keys: dict[str, Path], name: str, key: str,
                  verdict: kh.Verdict, line: int | None) -> None:
    known = kh.read_known_hosts(str(known_hosts_file))
    key_type, key_blob = blob(keys[key])
    check = kh.check_host_key(kh.lines_for((known,), name), key_type, key_blob)
    assert check.verdict is verdict
    assert (check.line.line if check.line else None) == line


def test_cert_authority_lines_are_reported_for_warning(known_hosts_file: Path,
                                                       keys: dict[str, Path]) -> None:
    known = kh.read_known_hosts(str(known_hosts_file))
    check = kh.check_host_key(kh.lines_for((known,), "foo.example.com"), *blob(keys["a"]))
    assert [line.line for line in check.skipped_authorities] == [2]
    assert kh.check_host_key(kh.lines_for((known,), "node1"), *blob(keys["a"])
                             ).skipped_authorities == ()


def test_known_key_types_in_file_order(known_hosts_file: Path) -> None:
    known = kh.read_known_hosts(str(known_hosts_file))
    assert kh.known_key_types(kh.lines_for((known,), "node1")) == (
        "ssh-ed25519", "ecdsa-sha2-nistp256")
    assert kh.known_key_types(kh.lines_for((known,), "hax")) == ("ssh-rsa",)
    assert kh.known_key_types(kh.lines_for((known,), "nowhere")) == ()


@pytest.mark.parametrize(("text", "pattern", "expected"), [
    ("node1", "node?", True), ("node12", "node?", False), ("a.b.lab", "*.lab", True),
    ("lab", "*.lab", False), ("[h]:22", "[h]:22", True), ("[h]:2", "[h]:2*", True),
    ("x", "*", True), ("", "*", True), ("ab", "a*b*", True), ("*ab", "*b", True),
    ("abc", "a*c*d", False), ("[x]", "[x]", True), ("x", "[x]", False),
])
def test_wildcards_are_openssh_globs_not_fnmatch(text: str, pattern: str, expected: bool) -> None:
    assert wildcard_match(text, pattern) is expected


def test_learned_lines_are_found_by_openssh(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("first ssh-ed25519 " + pub(keys["a"]).split()[1])  # no final newline
    key_type, encoded = pub(keys["c"]).split()
    kh.learn_host_key(str(path), "[10.0.0.9]:2222", key_type, encoded, hashed=False)
    kh.learn_host_key(str(path), "node9", key_type, encoded, hashed=True)
    lines = path.read_text().splitlines()
    assert lines[1] == f"[10.0.0.9]:2222 {key_type} {encoded}"
    assert lines[2].startswith("|1|") and lines[2].endswith(f" {key_type} {encoded}")
    assert openssh_lookup(path, "[10.0.0.9]:2222") == [(2, "")]
    assert openssh_lookup(path, "node9") == [(3, "")]
    known = kh.read_known_hosts(str(path))
    assert kh.check_host_key(kh.lines_for((known,), "node9"), key_type,
                             kh.base64.b64decode(encoded)).verdict is kh.Verdict.OK


def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "known_hosts"
    kh.os.mkfifo(fifo)
    with pytest.raises(OSError, match="is a FIFO"):
        kh.read_known_hosts(str(fifo))
    with pytest.raises(OSError):  # no reader: refused at open; never blocks
        kh.learn_host_key(str(fifo), "h", "ssh-ed25519", "AAAA", hashed=False)
