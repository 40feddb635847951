"""Inventory loading: own format, Ansible format, ssh_config, defaults, and error locations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ankplan.errors import InventoryError
from ankplan.inventories.load import load_inventory
from ankplan.model import Connection, Node

INVENTORIES = Path(__file__).parent.parent.parent / "inventories"


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def load(tmp_path: Path, text: str, **kwargs: str) -> tuple:
    inventory = load_inventory(write(tmp_path, text), ssh_config=kwargs.get("ssh_config", ""))
    return inventory, {node.name: node for node in inventory.nodes}


def errors(tmp_path: Path, text: str) -> list[tuple[str, int, int, str]]:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, ssh_config="")
    assert caught.value.summary.startswith(f"inventory {path} is invalid")
    return [(d.code, d.location.line, d.location.column, d.summary)
            for d in caught.value.diagnostics if d.location]


def test_embedded_default_is_all_local() -> None:
    inventory = load_inventory(None)
    assert inventory.nodes == (Node(name="local", connection=Connection.LOCAL),)
    assert inventory.default_node == "local"
    assert inventory.node_for_agent("any_agent") == inventory.nodes[0]


def test_full_format(tmp_path: Path) -> None:
    inventory, nodes = load(tmp_path, """\
        defaults:
          connection: ssh
          user: root
          port: 22
          identity_file: keys/id_ed25519
          known_hosts_file: ~/kh
          connect_timeout: 5
          podman: sudo -n podman
        nodes:
          node1: {host: 10.231.0.11}
          node2: {host: 10.231.0.12, port: 2222, podman: [podman, --root, /x y]}
          here: {connection: local}
        agents:
          police_agent: node1
          backup_agent: {node: node2}
          edge_agent: {host: 10.0.0.5, user: pi}
        default_node: here
        """)
    assert nodes["node1"] == Node(
        name="node1", connection=Connection.SSH, host="10.231.0.11", port=22, user="root",
        identity_file=str(tmp_path / "keys" / "id_ed25519"),
        known_hosts_file=str(Path("~/kh").expanduser()), connect_timeout=5.0,
        podman=("sudo", "-n", "podman"))
    assert nodes["node2"].port == 2222
    assert nodes["node2"].podman == ("podman", "--root", "/x y")
    # defaults apply to local nodes too (here: the podman command)
    assert nodes["here"] == Node(name="here", connection=Connection.LOCAL,
                                 podman=("sudo", "-n", "podman"))
    assert (nodes["edge_agent"].host, nodes["edge_agent"].user) == ("10.0.0.5", "pi")
    assert nodes["edge_agent"].connection is Connection.SSH
    assert inventory.agents == (("backup_agent", "node2"), ("edge_agent", "edge_agent"),
                                ("police_agent", "node1"))
    assert inventory.node_for_agent("unknown_agent").name == "here"
    assert [node.name for node in inventory.nodes] == sorted(nodes)
    assert inventory.source.endswith("inventory.yaml")


def test_connection_defaults_from_host(tmp_path: Path) -> None:
    _, nodes = load(tmp_path, """\
        nodes:
          a: {host: h}
          b: {}
          c:
        """)
    assert nodes["a"].connection is Connection.SSH and nodes["a"].port == 22
    assert nodes["b"].connection is Connection.LOCAL
    assert nodes["c"].connection is Connection.LOCAL
    assert nodes["a"].podman == ("podman",)


def test_empty_sections_are_allowed(tmp_path: Path) -> None:
    inventory, nodes = load(tmp_path, """\
        defaults:
        nodes:
          a: {host: h}
        agents:
        """)
    assert list(nodes) == ["a"] and inventory.agents == ()


def test_agent_may_use_an_inline_node_of_another_agent(tmp_path: Path) -> None:
    inventory, _ = load(tmp_path, """\
        agents:
          a_second: edge
          edge: {host: 10.0.0.5}
        """)
    assert dict(inventory.agents) == {"a_second": "edge", "edge": "edge"}
    assert inventory.default_node is None
    assert inventory.node_for_agent("other") is None


def test_semantic_errors_located(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        defaults:
          podman: "  "
        nodes:
          n1: {host: a}
        agents:
          a1: nx
          a2: {node: n1, port: 3}
          a3: {node: missing}
          n1: {host: b}
        default_node: zz
        """)
    assert found == [
        ("invalid-podman", 2, 11, "podman command '  ' is empty or badly quoted"),
        ("unknown-node", 6, 7, "agent a1 refers to unknown node 'nx'"),
        ("mixed-agent-entry", 7, 7,
         "agent a2: give either `node` or inline connection settings, not both"),
        ("unknown-node", 8, 14, "agent a3 refers to unknown node 'missing'"),
        ("node-name-conflict", 9, 7,
         "agent n1 defines an inline node, but a node called 'n1' is already declared under nodes"),
        ("unknown-node", 10, 15, "default_node 'zz' is not a node under nodes"),
    ]


def test_schema_errors_located(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        defaults:
          port: "x"
          conection: ssh
        nodes:
          n1: {host: a, bad: 1, connect_timeout: 0}
        agents:
          a3: 5
        extra: 1
        """)
    codes = {(code, line) for code, line, _, _ in found}
    assert ("wrong-type", 2) in codes
    assert ("unknown-key", 3) in codes
    assert ("unknown-key", 5) in codes
    assert ("wrong-type", 7) in codes
    assert any(line == 8 for _, line, _, _ in found)
    assert any(line == 5 and "connect_timeout" in summary for _, line, _, summary in found)


def test_unreadable_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(InventoryError):
        load_inventory(str(tmp_path / "missing.yaml"), ssh_config="")
    with pytest.raises(InventoryError):
        load_inventory(write(tmp_path, "[1, 2]\n"), ssh_config="")
    with pytest.raises(InventoryError):
        load_inventory(write(tmp_path, "nodes: {a: {host: [}\n"), ssh_config="")


# --- ~/.ssh/config ---------------------------------------------------------------------------


def test_ssh_config_fills_unset_fields(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("")
    ssh_config = write(tmp_path, f"""\
        Host node1
          HostName 10.231.0.11
          User admin
          Port 2200
          IdentityFile {tmp_path / "missing-key"}
          IdentityFile {tmp_path / "key"}
          UserKnownHostsFile {tmp_path / "kh"}
        Host node2
          User other
          Port 2201
        """, "ssh_config")
    _, nodes = load(tmp_path, """\
        defaults: {connection: ssh}
        nodes:
          node1: {}
          node2: {host: node2, user: set-in-inventory}
          node3: {port: 23}
        """, ssh_config=ssh_config)
    assert (nodes["node1"].host, nodes["node1"].user, nodes["node1"].port) == (
        "10.231.0.11", "admin", 2200)
    assert nodes["node1"].identity_file == str(tmp_path / "key")
    assert nodes["node1"].known_hosts_file == str(tmp_path / "kh")
    assert (nodes["node2"].user, nodes["node2"].port) == ("set-in-inventory", 2201)
    assert (nodes["node3"].host, nodes["node3"].port, nodes["node3"].user) == ("node3", 23, "")


def test_explicit_ssh_config_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes: {a: {host: h}}\n")
    with pytest.raises(InventoryError, match="ssh config .* not found"):
        load_inventory(path, ssh_config=str(tmp_path / "nope"))


# --- Ansible ---------------------------------------------------------------------------------


def test_ansible_inventory(tmp_path: Path) -> None:
    inventory, nodes = load(tmp_path, """\
        all:
          vars:
            ansible_user: root
            ansible_ssh_private_key_file: id_ed25519
            ansible_port: 22
          children:
            vehicles:
              vars:
                ansible_port: "2222"
                ansible_become: true
              hosts:
                police_agent: {ansible_host: 10.231.0.11}
                backup_agent: {ansible_host: 10.231.0.12, ansible_port: 2200,
                               ansible_user: pi, ankplan_podman: podman --root /x}
            lab:
              hosts:
                laptop_agent: {ansible_connection: local}
                other_agent:
        """)
    police = nodes["police_agent"]
    assert (police.host, police.port, police.user) == ("10.231.0.11", 2222, "root")
    assert police.identity_file == str(tmp_path / "id_ed25519")
    assert police.podman == ("sudo", "-n", "podman")
    backup = nodes["backup_agent"]
    assert (backup.port, backup.user, backup.podman) == (2200, "pi", ("podman", "--root", "/x"))
    assert nodes["laptop_agent"].connection is Connection.LOCAL
    assert (nodes["other_agent"].host, nodes["other_agent"].port) == ("other_agent", 22)
    assert dict(inventory.agents) == {name: name for name in nodes}


def test_ansible_groups_without_all(tmp_path: Path) -> None:
    _, nodes = load(tmp_path, """\
        webservers:
          hosts:
            web_agent: {ansible_host: 10.0.0.1}
        """)
    assert nodes["web_agent"].host == "10.0.0.1"


def test_ansible_errors_located(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        all:
          hosts:
            a1: {ansible_port: many}
            a2: [1]
          children:
            g: 5
        """)
    assert [(code, line) for code, line, _, _ in found] == [
        ("invalid-variable", 3), ("invalid-host", 4), ("invalid-group", 6)]


@pytest.mark.parametrize("name", ["local.yaml", "three-nodes.yaml", "ansible-hosts.yaml"])
def test_shipped_examples_load(name: str) -> None:
    inventory = load_inventory(str(INVENTORIES / name), ssh_config="")
    assert inventory.nodes
    for agent, node_name in inventory.agents:
        assert inventory.node(node_name) is not None, agent


# --- the same checks and words in every format -----------------------------------------------


def located_summaries(inventory: Path, ssh_config: Path | None = None) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(str(inventory), ssh_config=str(ssh_config) if ssh_config else "")
    return [d.summary for d in caught.value.diagnostics if d.location and d.location.line]


def in_three_formats(tmp_path: Path, native: str, ansible: str,
                     ssh_config_line: str) -> tuple[list[str], ...]:
    """The located error summaries of node n1 written natively (`native`: its settings), in
    Ansible YAML (`ansible`: its host variables) and in an ssh_config `Host n1` block."""
    (tmp_path / "native.yaml").write_text(f"nodes: {{n1: {{{native}}}}}\n")
    (tmp_path / "ansible.yaml").write_text(f"all: {{hosts: {{n1: {{{ansible}}}}}}}\n")
    (tmp_path / "ssh_config").write_text(f"Host n1\n  {ssh_config_line}\n")
    (tmp_path / "plain.yaml").write_text("nodes: {n1: {connection: ssh}}\n")
    return (located_summaries(tmp_path / "native.yaml"),
            located_summaries(tmp_path / "ansible.yaml"),
            located_summaries(tmp_path / "plain.yaml", tmp_path / "ssh_config"))


@pytest.mark.parametrize(("value", "problem"), [
    ("0", "0 is less than the minimum of 1"),
    ("-1", "-1 is less than the minimum of 1"),
    ("65536", "65536 is greater than the maximum of 65535"),
    ("99999999999999999999", "99999999999999999999 is greater than the maximum of 65535"),
    ("ssh", "expected an integer, got string 'ssh'"),
])
def test_port_problems_worded_alike_in_every_format(tmp_path: Path, value: str,
                                                    problem: str) -> None:
    assert in_three_formats(tmp_path, f"host: h, port: {value}", f"ansible_port: {value}",
                            f"Port {value}") == (
        [f"nodes.n1.port: {problem}"], [f"all.hosts.n1.ansible_port: {problem}"],
        [f"Port: {problem}"])


@pytest.mark.parametrize(("key", "ansible_key", "config_key", "value", "problem"), [
    ("host", "ansible_host", "HostName", "bad host",
     "invalid host 'bad host': contains whitespace or control characters"),
    ("host", "ansible_host", "HostName", "-oProxyCommand=x",
     "invalid host '-oProxyCommand=x': not a host name or IP address"),
    ("host", "ansible_host", "HostName", "", "empty host is not allowed"),
    ("user", "ansible_user", "User", "a;b", "invalid user 'a;b': contains ';'"),
    ("user", "ansible_user", "User", "-l", "invalid user '-l': starts with '-'"),
    ("user", "ansible_user", "User", "", "empty user is not allowed"),
])
def test_host_and_user_problems_worded_alike(tmp_path: Path, key: str, ansible_key: str,
                                             config_key: str, value: str, problem: str) -> None:
    assert in_three_formats(tmp_path, f"connection: ssh, {key}: '{value}'",
                            f"{ansible_key}: '{value}'", f'{config_key} "{value}"') == (
        [f"nodes.n1.{key}: {problem}"], [f"all.hosts.n1.{ansible_key}: {problem}"],
        [f"{config_key}: {problem}"])


@pytest.mark.parametrize("host", ["10.0.0.1", "::1", "fe80::1%eth0", "node-1.lab.example.",
                                  "police_agent", "a" * 63 + ".lab"])
def test_sane_hosts_pass(tmp_path: Path, host: str) -> None:
    _, nodes = load(tmp_path, f"nodes: {{n1: {{host: '{host}'}}}}\n")
    assert nodes["n1"].host == host


def test_ansible_group_port_checked_once_where_it_is_written(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        all:
          children:
            lab:
              vars: {ansible_port: 0}
              hosts: {a: , b: , c: {ansible_port: 22}}
        """)
    assert found == [("invalid-variable", 4, 28,
                      "all.children.lab.vars.ansible_port: 0 is less than the minimum of 1")]


@pytest.mark.parametrize(("value", "problem"), [
    ("\"0'\"", "podman command \"0'\" is empty or badly quoted"),
    ("''", "podman command '' is empty or badly quoted"),
    ("[]", "podman command [] is empty or badly quoted"),
    ("[podman, 5]", "expected a list of non-empty strings"),
])
def test_ansible_podman_command_checked_as_the_native_one(tmp_path: Path, value: str,
                                                          problem: str) -> None:
    found = errors(tmp_path, f"""\
        all:
          hosts:
            n1: {{ansible_host: 10.0.0.1, ankplan_podman: {value}}}
        """)
    assert [(code, text) for code, _, _, text in found] == [
        ("invalid-variable", f"all.hosts.n1.ankplan_podman: {problem}")]


def test_ansible_supervisor_variable_sets_the_node_s_supervisor(tmp_path: Path) -> None:
    _, nodes = load(tmp_path, "all:\n  vars: {ankplan_supervisor: systemd}\n  hosts:\n"
                              "    n1: {ansible_host: 10.0.0.1}\n"
                              "    n2: {ansible_host: 10.0.0.2, ankplan_supervisor: watch}\n")
    assert (nodes["n1"].supervisor.value, nodes["n2"].supervisor.value) == ("systemd", "watch")


@pytest.mark.parametrize(("value", "problem"), [
    ("quadlet", "'quadlet' is not a supervisor (expected one of: watch, systemd)"),
    ("''", "'' is not a supervisor (expected one of: watch, systemd)"),
    ("5", "expected a string, got number 5"),
])
def test_ansible_supervisor_variable_must_name_a_supervisor(tmp_path: Path, value: str,
                                                            problem: str) -> None:
    found = errors(tmp_path, f"all: {{hosts: {{n1: {{ansible_host: 10.0.0.1, "
                             f"ankplan_supervisor: {value}}}}}}}\n")
    assert [(code, text) for code, _, _, text in found] == [
        ("invalid-variable", f"all.hosts.n1.ankplan_supervisor: {problem}")]


def test_ansible_podman_command_split_as_a_shell_would(tmp_path: Path) -> None:
    _, nodes = load(tmp_path, "all: {hosts: {n1: {ansible_host: 10.0.0.1, "
                              "ankplan_podman: \"sudo -n 'podman'\"}}}\n")
    assert nodes["n1"].podman == ("sudo", "-n", "podman")


@pytest.mark.parametrize("text", [
    "# hosts\n[vehicles]\npolice_agent ansible_host=10.0.0.1\n[vehicles:vars]\nansible_user=root\n",
    "police_agent ansible_host=10.0.0.1 ansible_port=2222\nother_agent\n",
    "[all]\nhost1\n",
])
def test_ini_inventory_refused_with_the_conversion_command(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hosts"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_inventory(str(path), ssh_config="")
    assert caught.value.summary == f"inventory {path} is an Ansible INI inventory"
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.hint == f"convert it: ansible-inventory -i {path} --list -y > inventory.yaml"
    assert diagnostic.location is not None and diagnostic.location.line == text.count(
        "\n", 0, text.index(next(line for line in text.splitlines()
                                 if not line.startswith("#")))) + 1


def test_yaml_that_is_no_mapping_is_not_taken_for_ini(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="is invalid"):
        load_inventory(write(tmp_path, "- a\n- b\n"), ssh_config="")
