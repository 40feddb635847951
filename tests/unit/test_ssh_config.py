"""~/.ssh/config read like OpenSSH: lookups cross-checked against `ssh -G`, Include, Match,
tokens, located value errors, ProxyJump as jump Nodes, and a warning for each key ankplan does
not follow."""

from __future__ import annotations

import logging
import subprocess
import textwrap
from pathlib import Path

import pytest

from ankplan.errors import InventoryError
from ankplan.inventories.load import load_inventory
from ankplan.inventories.ssh_config import lookup, read_ssh_config, split_arguments
from ankplan.model import Connection, Node


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "conf.d" / "10-lab.conf", """\
        Host *.lab
          User labuser
          Port 2201
        """)
    return write(tmp_path / "ssh_config", f"""\
        # comment
        Include {tmp_path}/conf.d/*.conf

        Host web web2
          HostName=10.0.0.5
          Port = 2222
        Host db !db.old
          HostName %h.example.com
          IdentityFile {tmp_path}/id_a
          IdentityFile "{tmp_path}/id b"
        Match originalhost bastion user root
          Port 2022
        Match host 10.0.0.5
          User webadmin
        Match !host bastion,*.lab
          ProxyJump bastion
        Host *
          User everyone
          Port 22
          ProxyJump none
        """)


HOSTS = ("web", "web2", "db", "db.old", "bastion", "x.lab", "other", "WEB")


def ssh_g(config: Path, host: str, user: str = "") -> dict[str, str]:
    argv = ["ssh", "-G", "-F", str(config), *(["-l", user] if user else []), host]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in output.splitlines()
            if " " in line}


@pytest.mark.parametrize("host", HOSTS)
def test_lookups_agree_with_ssh_g(config: Path, host: str) -> None:
    found = lookup(read_ssh_config(str(config)), host, local_user="root")
    openssh = ssh_g(config, host)
    hostname = found.get("hostname")
    ours_hostname = hostname.value.replace("%h", host) if hostname else host
    assert ours_hostname.lower() == openssh["hostname"]  # ssh prints it lower-cased
    assert found.get("user").value == openssh["user"]  # type: ignore[union-attr]
    assert found.get("port").value == openssh["port"]  # type: ignore[union-attr]
    jump = found.get("proxyjump")
    assert (jump.value if jump and jump.value != "none" else None) == openssh.get("proxyjump")


def test_match_user_uses_the_inventory_user(config: Path) -> None:
    parsed = read_ssh_config(str(config))
    assert lookup(parsed, "bastion", user="root").get("port").value == "2022"  # type: ignore
    assert lookup(parsed, "bastion", user="ops").get("port").value == "22"  # type: ignore
    assert ssh_g(config, "bastion", "root")["port"] == "2022"
    assert ssh_g(config, "bastion", "ops")["port"] == "22"


def test_locations_and_multiple_identity_files(config: Path, tmp_path: Path) -> None:
    found = lookup(read_ssh_config(str(config)), "db")
    assert [option.value for option in found.multi["identityfile"]] == [
        f"{tmp_path}/id_a", f"{tmp_path}/id b"]
    port = found.get("port")
    assert port is not None and port.where == f"{config}:19"
    assert (port.location.line, port.location.column) == (19, 8)
    user = lookup(read_ssh_config(str(config)), "x.lab").get("user")
    assert user is not None and user.value == "labuser"
    assert user.where == f"{tmp_path}/conf.d/10-lab.conf:2"  # from the included file


@pytest.mark.parametrize(("text", "words"), [
    ("a b", ("a", "b")), ('"a b" c', ("a b", "c")), ("'q r' x", ("q r", "x")),
    ("x#y #comment", ("x#y",)), (r'\"z', ('"z',)), ("", ()), ('"open', None),
])
def test_arguments_split_as_openssh_splits_them(text: str, words: tuple[str, ...] | None) -> None:
    assert split_arguments(text) == words


# --- into inventory nodes --------------------------------------------------------------------


def load(tmp_path: Path, inventory: str, ssh_config: Path) -> dict[str, Node]:
    path = write(tmp_path / "inventory.yaml", inventory)
    return {node.name: node for node in load_inventory(str(path),
                                                       ssh_config=str(ssh_config)).nodes}


def test_proxy_jump_chain_becomes_jump_nodes(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("")
    ssh_config = write(tmp_path / "ssh_config", f"""\
        Host inner
          HostName 10.9.0.3
          ProxyJump admin@gate:2200,hop
        Host gate
          HostName 10.0.0.1
          IdentityFile {tmp_path}/key
          UserKnownHostsFile {tmp_path}/kh
          HashKnownHosts yes
          IdentitiesOnly yes
        Host hop
          HostName 10.9.0.1
          ProxyJump elsewhere
        Host *
          User root
          ConnectTimeout 3
        """)
    nodes = load(tmp_path, "defaults: {connection: ssh}\nnodes: {inner: {}}\n", ssh_config)
    inner = nodes["inner"]
    assert (inner.host, inner.user, inner.connect_timeout) == ("10.9.0.3", "root", 3.0)
    hop = inner.proxy_jump
    assert hop is not None and (hop.name, hop.host, hop.port) == ("hop", "10.9.0.1", 22)
    gate = hop.proxy_jump  # the chain's first hop, not hop's own ProxyJump
    assert gate == Node(name="admin@gate:2200", connection=Connection.SSH, host="10.0.0.1",
                        port=2200, user="admin", identity_file=str(tmp_path / "key"),
                        known_hosts_file=f"{tmp_path}/kh", connect_timeout=3.0,
                        identities_only=True, hash_known_hosts=True)


def test_proxy_jump_loop_is_an_error(tmp_path: Path) -> None:
    ssh_config = write(tmp_path / "ssh_config", "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, "defaults: {connection: ssh}\nnodes: {a: {}}\n", ssh_config)
    summaries = {d.summary for d in caught.value.diagnostics}
    assert summaries == {("ProxyJump: more than 8 jump hosts in a row (do the ProxyJump lines "
                         "form a loop?)")}


@pytest.mark.parametrize(("line", "summary"), [
    ("Port 0", "Port: 0 is less than the minimum of 1"),
    ("Port 65536", "Port: 65536 is greater than the maximum of 65535"),
    ("Port 99999999999999999999",
     "Port: 99999999999999999999 is greater than the maximum of 65535"),
    ("Port ssh", "Port: expected an integer, got string 'ssh'"),
    ("User \"a b\"", "User: invalid user 'a b': contains whitespace or control characters"),
    ("HostName -oProxyCommand=x",
     "HostName: invalid host '-oProxyCommand=x': not a host name or IP address"),
    ("ProxyJump gate:0", "ProxyJump: jump host 'gate:0': 0 is less than the minimum of 1"),
    ("ConnectTimeout soon",
     "ConnectTimeout: expected a number of seconds greater than 0, got 'soon'"),
])
def test_bad_values_are_located_errors(tmp_path: Path, line: str, summary: str) -> None:
    ssh_config = write(tmp_path / "ssh_config", f"# lab\nHost n1\n    {line}\n")
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, "defaults: {connection: ssh}\nnodes: {n1: {}}\n", ssh_config)
    assert caught.value.summary == f"ssh config {ssh_config} is invalid (1 error)"
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.summary == summary
    location = diagnostic.location
    assert location is not None
    assert (location.file, location.line, location.column) == (
        str(ssh_config), 3, 5 + len(line.split()[0]) + 1)


def test_values_the_inventory_overrides_are_neither_used_nor_checked(tmp_path: Path) -> None:
    ssh_config = write(tmp_path / "ssh_config", "Host n1\n  Port 0\n  User 'a b'\n")
    nodes = load(tmp_path, "nodes: {n1: {host: n1, port: 2222, user: ops}}\n", ssh_config)
    assert (nodes["n1"].port, nodes["n1"].user) == (2222, "ops")


def test_unfollowed_keys_warn_once_each_with_file_and_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ssh_config = write(tmp_path / "ssh_config", """\
        Host n1 n2
          ProxyCommand ssh -W %h:%p gate
          StrictHostKeyChecking no
          UserKnownHostsFile /tmp/a /tmp/b
          CertificateFile ~/.ssh/id-cert.pub
          IdentitiesOnly yes
          BatchMode yes
          ServerAliveInterval 5
          HostNme typo
        Match exec "test -e /x"
          User nobody
        Host *
          StrictHostKeyChecking ask
          User root
        """)
    with caplog.at_level(logging.WARNING, logger="ankplan"):
        load(tmp_path, "defaults: {connection: ssh}\nnodes: {n1: {}, n3: {}}\n", ssh_config)
    warnings = list(dict.fromkeys(record.getMessage() for record in caplog.records))
    where = str(ssh_config)
    assert warnings == [
        f"{where}:10: Match exec is not supported by ankplan; the block is ignored",
        f"{where}:2: ProxyCommand is not supported by ankplan and is ignored",
        (f"{where}:3: StrictHostKeyChecking no is not followed: ankplan always checks host keys "
        "(--accept-new-host-keys learns unknown ones)"),
        f"{where}:5: CertificateFile is not supported by ankplan and is ignored",
        f"{where}:9: unknown ssh_config keyword HostNme; ignored",
        f"{where}:4: UserKnownHostsFile lists 2 files; ankplan reads only the first (/tmp/a)",
    ]


def test_unreadable_lines_and_includes_are_warned(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    ssh_config = write(tmp_path / "ssh_config", f"""\
        Host n1
          User "root
          Include {tmp_path}/missing.conf
        """)
    with caplog.at_level(logging.WARNING, logger="ankplan"):
        nodes = load(tmp_path, "defaults: {connection: ssh}\nnodes: {n1: {}}\n", ssh_config)
    assert nodes["n1"].user == ""
    assert [record.getMessage() for record in caplog.records] == [
        f"{ssh_config}:2:1: User: unbalanced quotes; line skipped",
        (f"{ssh_config}:3:11: cannot read included file {tmp_path}/missing.conf: No such file "
        "or directory; skipped")]


def test_an_include_with_a_nul_byte_is_a_warning_not_a_crash(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_bytes(b"Include /tmp/a\x00b\nHost n1\n  User root\n")
    with caplog.at_level(logging.WARNING, logger="ankplan"):
        nodes = load(tmp_path, "defaults: {connection: ssh}\nnodes: {n1: {}}\n", ssh_config)
    assert nodes["n1"].user == "root"
    assert [record.getMessage() for record in caplog.records] == [
        (f"{ssh_config}:1:9: cannot read included file /tmp/a\\x00b: the path contains a NUL "
        "byte; skipped")]
