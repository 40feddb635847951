"""Read what runs on the nodes: one `podman ps` per node (with `podman images` and `podman
stats` beside it when asked, and `podman pod ps` after it where pods run), nodes in parallel,
never a write; on systemd-supervised nodes the Podman and systemd versions; `systemctl show` for the restart counts of containers systemd units run.

Does I/O through the TransportPool. A node that fails becomes an observation carrying its error
and hint, so it never hides the others.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ankplan.errors import AnkplanError, ConnectError, RemoteCommandError
from ankplan.executors.transport import CommandResult, Transport, TransportPool, check_result
from ankplan.model import (
    LABEL_UNIT,
    Connection,
    LiveState,
    Node,
    NodeObservation,
    ObservedContainer,
    Supervisor,
)
from ankplan.podman import (
    PodmanInfo,
    fold_pods,
    images_argv,
    info_argv,
    nodestore,
    parse_images,
    parse_info,
    parse_pod_ps,
    parse_ps,
    parse_stats,
    ps_argv,
    quadlet,
    stats_argv,
    systemd_unit,
)
from ankplan.podman.events import events_probe_argv
from ankplan.podman.kube import pod_ps_argv

_Result = TypeVar("_Result")
_Images = tuple[tuple[str, str], ...]  # (image name, full id) pairs, as parse_images gives
ImageAnswer = tuple[_Images | None, str]  # an image table, or None and why it is missing


def observe_nodes(pool: TransportPool, nodes: Sequence[Node], *, forks: int = 10,
                  timeout: float = 30, images: bool = False, stats: bool = False,
                  project: str | None = None,
                  images_read: Mapping[str, Future[ImageAnswer]] | None = None) -> LiveState:
    """Every container on every node (one `podman ps` each), observations sorted by node.

    `images` adds each node's image table (one `podman images`), `stats` the running
    containers' resource use (one `podman stats`), `project` what ankplan recorded on the
    node for that project (one `sh`, podman/nodestore.py), each run beside the node's `ps`.
    `images_read`: image tables already being read (`images_ahead`), by node name.
    """
    ahead = images_read or {}
    observations = _parallel(nodes, forks, lambda node: observe_node(
        pool, node, timeout=timeout, images=images, stats=stats, project=project,
        images_read=ahead.get(node.name)))
    return LiveState(nodes=tuple(sorted(observations, key=lambda o: o.node_name)))


def images_ahead(executor: Executor, pool: TransportPool, nodes: Sequence[Node], *,
                 timeout: float = 30) -> dict[str, Future[ImageAnswer]]:
    """Start reading the image tables of the local nodes among `nodes`, for `observe_nodes`.

    The image table is no writer's state (no ankplan writer changes it under its lock), so a
    writer may read it while it still takes the lock: on this machine `podman images` is the
    slowest part of apply's observation. Over SSH the image table comes with the records and
    the containers in one command (one channel), and is not read ahead.
    """
    def read(node: Node) -> ImageAnswer:
        return _read_extra(pool.get(node), node, "images", timeout, parse_images)

    return {node.name: executor.submit(read, node) for node in nodes
            if node.connection is Connection.LOCAL}


def observe_node(pool: TransportPool, node: Node, *, timeout: float = 30, images: bool = False,
                 stats: bool = False, project: str | None = None,
                 images_read: Future[ImageAnswer] | None = None) -> NodeObservation:
    """The containers of one node (and its images, stats, the project's records when asked),
    or the reason it could not be observed. A failed images or stats call leaves that part
    None, with a warning; failing to read the records fails the observation (a `--rm` job
    that ran would look as if it never had).

    When `podman ps` shows containers in pods, `podman pod ps` follows (it holds the pods'
    labels, also of a pod whose containers are gone) and ankplan's pods are folded into one
    entry per podman-kube workload. Nodes without pods cost one call.
    """
    try:
        transport = pool.get(node)
        # Over SSH the records, the containers and the image table come in one command (one
        # channel); locally they run side by side, so none waits for another.
        together = images and project is not None and node.connection is not Connection.LOCAL
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="ankplan-extra") as executor:
            image_answer = images_read if images_read is not None and images else (
                executor.submit(_read_extra, transport, node, "images", timeout, parse_images)
                if images and not together else None)
            stats_answer = executor.submit(_read_extra, transport, node, "stats", timeout,
                                           parse_stats) if stats else None
            records = executor.submit(_read_records, transport, node, project,
                                      timeout) if project is not None and not together else None
            versions = executor.submit(_read_versions, transport, node, timeout) if (
                node.supervisor is Supervisor.SYSTEMD) else None
            if together:
                assert project is not None
                listed, stored, (image_table, image_warning) = _read_all(transport, node,
                                                                         project, timeout)
            else:
                argv = ps_argv(node)
                listed = check_result(node, argv, transport.run(argv, timeout=timeout)).stdout
                stored = records.result() if records else nodestore.StoreView()
                image_table, image_warning = image_answer.result() if image_answer else (None, "")
            containers = _fold_pods(transport, node, parse_ps(listed, node.name), timeout)
            stats_table, stats_warning = stats_answer.result() if stats_answer else (None, "")
            podman_version, systemd_version = versions.result() if versions else ("", 0)
    except AnkplanError as error:
        return NodeObservation(node_name=node.name, error=error_reason(node, error),
                               hint=error.hint)
    return NodeObservation(node_name=node.name, containers=containers, images=image_table,
                           stats=stats_table,
                           warnings=tuple(filter(None, (image_warning, stats_warning))),
                           boot_id=stored.boot_id, applied=stored.applied, runs=stored.runs,
                           podman_version=podman_version, systemd_version=systemd_version)


def _read_versions(transport: Transport, node: Node, timeout: float) -> tuple[str, int]:
    """The node's Podman version and systemd's major version (which unit ankplan writes there);
    ("", 0) when unreadable: the node then gets the unit every Podman runs."""
    try:
        result = transport.run(quadlet.probe_argv(node), timeout=timeout)
    except AnkplanError:
        return "", 0
    return quadlet.parse_probe(result.stdout) if result.ok else ("", 0)


def _read_records(transport: Transport, node: Node, project: str,
                  timeout: float) -> nodestore.StoreView:
    """The node's boot ID and the project's records there; AnkplanError when unreadable."""
    argv = nodestore.read_argv(node, project)
    return nodestore.parse_store(check_result(node, argv, transport.run(argv, timeout=timeout))
                                 .stdout, project)


def _read_all(transport: Transport, node: Node, project: str, timeout: float,
              ) -> tuple[str, nodestore.StoreView, ImageAnswer]:
    """(`podman ps` output, the records, the image table) from one command (one channel):
    unreadable records or a failed `podman ps` raise AnkplanError, a failed image listing
    gives (None, why not)."""
    argv = nodestore.read_all_argv(node, project)
    result = transport.run(argv, timeout=timeout)
    parts = nodestore.split_all(result.stdout)
    if parts.ps is None:  # the records part failed, before the containers were asked for
        check_result(node, argv, result)
        raise AnkplanError(f"node {node.name}: ankplan's records could not be read")
    listed = check_result(node, ps_argv(node), dataclasses.replace(
        result, exit_code=parts.ps_exit, stdout=parts.ps)).stdout
    stored = nodestore.parse_store(parts.records, project)
    if parts.images is None:
        why = "podman images failed, so rebuilt images cannot be detected: no output"
        return listed, stored, (None, why)
    images = dataclasses.replace(result, stdout=parts.images)
    return listed, stored, _parsed_extra(node, "images", images, parse_images)


def _fold_pods(transport: Transport, node: Node, containers: tuple[ObservedContainer, ...],
               timeout: float) -> tuple[ObservedContainer, ...]:
    """`containers`, with ankplan's pods folded per workload when any container is in a pod."""
    if not any(container.pod_id for container in containers):
        return containers
    argv = pod_ps_argv(node)
    result = check_result(node, argv, transport.run(argv, timeout=timeout))
    return fold_pods(containers, parse_pod_ps(result.stdout, node.name), node.name)


_Parsed = TypeVar("_Parsed")


def _read_extra(transport: Transport, node: Node, what: str, timeout: float,
                parse: Callable[[str], _Parsed]) -> tuple[_Parsed | None, str]:
    """(parsed answer, "") of `podman images` or `podman stats`, or (None, why not)."""
    argv = images_argv(node) if what == "images" else stats_argv(node)
    try:
        result = transport.run(argv, timeout=timeout)
    except AnkplanError as error:
        return None, f"podman {what} failed, {_WITHOUT[what]}: {error_reason(node, error)}"
    return _parsed_extra(node, what, result, parse)


def _parsed_extra(node: Node, what: str, result: CommandResult,
                  parse: Callable[[str], _Parsed]) -> tuple[_Parsed | None, str]:
    """(parsed answer, "") of a `podman images` or `podman stats` result, or (None, why not)."""
    argv = images_argv(node) if what == "images" else stats_argv(node)
    try:
        return parse(check_result(node, argv, result).stdout), ""
    except AnkplanError as error:
        return None, f"podman {what} failed, {_WITHOUT[what]}: {error_reason(node, error)}"


_WITHOUT = {"images": "so rebuilt images cannot be detected",
            "stats": "so no resource use is shown"}


class NodeObserver:
    """Observes nodes again and again, each at its own pace, so that one slow or cut-off node
    never holds up what the others show.

    At most one `podman ps` per node is in flight (in background threads). `observe` starts one
    on every idle node and waits up to `budget` seconds: a node still busy keeps its previous
    observation for up to `patience` seconds, then shows as not answering. Close it when done.
    """

    def __init__(self, pool: TransportPool, nodes: Sequence[Node], *, forks: int = 10,
                 timeout: float = 30, patience: float = 3.0, project: str | None = None) -> None:
        self._pool, self._timeout, self._patience = pool, timeout, patience
        self._project = project  # read the project's records too (watch plans on them)
        self._nodes = list({node.name: node for node in nodes}.values())
        self._executor = ThreadPoolExecutor(max_workers=max(1, min(forks, len(self._nodes))),
                                            thread_name_prefix="ankplan-observe")
        self._inflight: dict[str, tuple[Future[NodeObservation], float]] = {}
        self._last: dict[str, tuple[NodeObservation, float]] = {}

    def observe(self, budget: float) -> tuple[LiveState, dict[str, float]]:
        """Every node's latest observation, and when (time.monotonic()) each one began."""
        for node in self._nodes:
            if node.name not in self._inflight:
                began = time.monotonic()  # before submitting: the ps may run at once
                future = self._executor.submit(observe_node, self._pool, node,
                                               timeout=self._timeout, project=self._project)
                self._inflight[node.name] = (future, began)
        futures.wait([future for future, _ in self._inflight.values()], timeout=budget)
        now = time.monotonic()
        for node in self._nodes:
            future, began = self._inflight[node.name]
            if future.done():
                del self._inflight[node.name]
                self._last[node.name] = (future.result(), began)
            elif node.name not in self._last or now - began > self._patience:
                self._last[node.name] = (NodeObservation(
                    node_name=node.name, error=f"no answer for {now - began:.0f} s "
                    "(podman ps still running)", hint="is the node up and reachable?"), began)
        observations = sorted((self._last[n.name][0] for n in self._nodes),
                              key=lambda o: o.node_name)
        return LiveState(nodes=tuple(observations)), {n.name: self._last[n.name][1]
                                                      for n in self._nodes}

    def close(self) -> None:
        """Stop observing; a `podman ps` still running ends with its connection or timeout."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def error_reason(node: Node, error: AnkplanError) -> str:
    """The one-line reason of `error` without the "node NAME: " prefix the summary carries."""
    if isinstance(error, ConnectError):
        return error.reason
    summary = error.summary
    prefix = f"node {node.name}: "
    summary = summary.removeprefix(prefix)
    if isinstance(error, RemoteCommandError):
        return f"{summary} (exit code {error.exit_code})"
    return summary


def _parallel(nodes: Sequence[Node], forks: int,
              work: Callable[[Node], _Result]) -> list[_Result]:
    """`work` for each distinct node, at most `forks` at a time, in the nodes' order."""
    unique = list({node.name: node for node in nodes}.values())
    if not unique:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(unique))),
                            thread_name_prefix="ankplan-node") as executor:
        return list(executor.map(work, unique))


# --- node checks (`ankplan nodes`) -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """What `ankplan nodes` reports about one node."""

    node_name: str
    address: str  # user@host:port or "local"
    reachable: bool = False  # connected (podman may still have failed)
    host_key: str = ""  # "ssh-ed25519 SHA256:..." over SSH, "" locally
    host_key_status: str = ""  # "known", "learned" (--accept-new-host-keys), "" locally
    podman: PodmanInfo | None = None
    owned_containers: int = 0  # containers carrying ankplan's project label (or --project)
    events: str = ""  # "stream": watch can follow `podman events`; else "poll (why)"
    duration: float = 0.0  # seconds for connect + info + ps
    error: str | None = None
    hint: str = ""

    @property
    def ok(self) -> bool:
        """True when the node answered and podman worked."""
        return self.error is None


def observe_node_info(pool: TransportPool, nodes: Sequence[Node], *, forks: int = 10,
                      timeout: float = 30, project: str | None = None) -> tuple[NodeInfo, ...]:
    """Check every node: connection, host key, `podman info`, and ankplan's container count."""
    infos = _parallel(nodes, forks,
                      lambda node: _node_info(pool, node, timeout=timeout, project=project))
    return tuple(sorted(infos, key=lambda info: info.node_name))


def _node_info(pool: TransportPool, node: Node, *, timeout: float,
               project: str | None) -> NodeInfo:
    started = time.monotonic()
    base = NodeInfo(node_name=node.name, address=node.address)
    try:
        transport = pool.get(node)
    except AnkplanError as error:
        return _with(base, error=error_reason(node, error), hint=error.hint, started=started)
    base = _with(base, reachable=True, host_key=getattr(transport, "host_key", ""),
                 host_key_status=getattr(transport, "host_key_status", ""), started=started)
    try:
        argv = info_argv(node)
        info = parse_info(check_result(node, argv, transport.run(argv, timeout=timeout)).stdout)
        argv = ps_argv(node)
        result = check_result(node, argv, transport.run(argv, timeout=timeout))
        containers = parse_ps(result.stdout, node.name)
    except AnkplanError as error:
        return _with(base, error=error_reason(node, error), hint=error.hint, started=started)
    owned = sum(1 for c in containers if c.owned and (project is None or c.project == project))
    return _with(base, podman=info, owned_containers=owned, started=started,
                 events=_events_mode(transport, node, timeout))


def _events_mode(transport: Transport, node: Node, timeout: float) -> str:
    """Whether this node's Podman gives events ("stream"), or why watch polls it instead."""
    try:
        result = transport.run(events_probe_argv(node), timeout=timeout)
    except AnkplanError as error:
        return f"poll ({error_reason(node, error)})"
    if result.ok:
        return "stream"
    why = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
    return f"poll ({why})"


def _with(info: NodeInfo, *, started: float, **changes: Any) -> NodeInfo:
    return dataclasses.replace(info, duration=time.monotonic() - started, **changes)


def with_unit_restarts(pool: TransportPool, inventory_nodes: Sequence[Node], live: LiveState, *,
                       timeout: float = 30) -> LiveState:
    """`live` with each systemd-run container's restart count taken from its unit
    (`NRestarts=`, restarts systemd did since the unit was last started) and the unit's state:
    one `systemctl show` per node that has such containers. A node that does not answer keeps
    its counts."""
    nodes = {node.name: node for node in inventory_nodes}
    observations = []
    for observation in live.nodes:
        node = nodes.get(observation.node_name)
        units = sorted({c.label(LABEL_UNIT) for c in observation.containers
                        if c.label(LABEL_UNIT)})
        if node is None or not units:
            observations.append(observation)
            continue
        try:
            result = pool.get(node).run(systemd_unit.show_argv(units), timeout=timeout)
        except AnkplanError:
            observations.append(observation)
            continue
        shown = {state.unit: state
                 for state in systemd_unit.parse_show(result.stdout)} if result.ok else {}
        containers = tuple(
            dataclasses.replace(c, restart_count=shown[c.label(LABEL_UNIT)].restarts,
                                unit_state=shown[c.label(LABEL_UNIT)].state)
            if c.label(LABEL_UNIT) in shown else c for c in observation.containers)
        observations.append(dataclasses.replace(observation, containers=containers))
    return dataclasses.replace(live, nodes=tuple(observations))
