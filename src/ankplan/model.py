"""ankplan's value types: manifest, inventory, observed state and plan, as frozen dataclasses.

Pure: no I/O. Everything here is immutable; collections are tuples, sorted where order carries
no meaning, and mappings are sorted tuples of pairs. Values are built by the loaders and the
planner after schema validation, never straight from untrusted input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ankplan.errors import Diagnostic, Location

VALUE = {"frozen": True, "slots": True, "kw_only": True}

# Labels ankplan puts on every container it creates. Identity is read from these, never from
# the container name; a container without LABEL_PROJECT is foreign and never touched.
LABEL_PREFIX = "ankplan."
LABEL_PROJECT = "ankplan.project"
LABEL_WORKLOAD = "ankplan.workload"
LABEL_AGENT = "ankplan.agent"
LABEL_SPEC_HASH = "ankplan.spec-hash"  # "<hash version>:<hex digest>"
LABEL_SPEC = "ankplan.spec"  # canonical JSON of the hashed spec, for field-level diffs
LABEL_RESTART_COUNT = "ankplan.restart-count"  # restarts done by watch, carried across re-creates
LABEL_MANAGED_BY = "ankplan.managed-by"  # "ankplan <version>"
# Where the container was planned from: "<host>:<real path of each manifest, comma-separated>".
# Shown for containers of other projects; the previous release did not set it.
LABEL_SOURCE = "ankplan.source"
# The systemd unit that runs the container (`apply --supervisor systemd`); absent otherwise.
LABEL_UNIT = "ankplan.unit"


class RestartPolicy(str, enum.Enum):
    """Ankaios restart policies; the value is the manifest spelling."""

    NEVER = "NEVER"
    ON_FAILURE = "ON_FAILURE"
    ALWAYS = "ALWAYS"


class AddCondition(str, enum.Enum):
    """Ankaios add conditions on a dependency; the value is the manifest spelling."""

    RUNNING = "ADD_COND_RUNNING"
    SUCCEEDED = "ADD_COND_SUCCEEDED"
    FAILED = "ADD_COND_FAILED"


@dataclass(**VALUE)
class Dependency:
    """`workload_name` must reach `condition` before the dependent workload may start."""

    workload_name: str
    condition: AddCondition


@dataclass(**VALUE)
class PodmanConfig:
    """runtimeConfig of runtime `podman`, parsed from the YAML string."""

    image: str
    general_options: tuple[str, ...] = ()  # before the subcommand: podman <these> run ...
    command_options: tuple[str, ...] = ()  # options of `podman run`
    command_args: tuple[str, ...] = ()  # arguments after the image


@dataclass(**VALUE)
class KubeConfig:
    """runtimeConfig of runtime `podman-kube`, parsed from the YAML string."""

    manifest: str
    play_options: tuple[str, ...] = ()
    down_options: tuple[str, ...] = ()
    general_options: tuple[str, ...] = ()
    control_interface_target: str = ""


@dataclass(**VALUE)
class WorkloadFile:
    """A file mounted read-only into the workload; exactly one of data / binary_data is set."""

    mount_point: str
    data: str | None = None
    binary_data: str | None = None  # standard base64


@dataclass(**VALUE)
class Workload:
    """One workload of the manifest, with templates already rendered."""

    name: str
    agent: str  # "" means not scheduled (Ankaios NotScheduled)
    runtime: str  # "podman", "podman-kube", or a runtime ankplan does not run
    runtime_config_text: str  # the rendered runtimeConfig string, whitespace-trimmed
    runtime_config: PodmanConfig | KubeConfig | None  # None when the runtime is not one we parse
    restart_policy: RestartPolicy = RestartPolicy.NEVER
    dependencies: tuple[Dependency, ...] = ()  # sorted by workload_name
    tags: tuple[tuple[str, str], ...] = ()  # sorted
    configs: tuple[tuple[str, str], ...] = ()  # alias -> top-level config key, sorted
    files: tuple[WorkloadFile, ...] = ()  # sorted by mount_point
    control_interface_access: bool = False  # rules present; accepted but not acted on
    # Where the workload is defined; not part of its identity and never hashed.
    location: Location | None = field(default=None, compare=False)

    @property
    def podman(self) -> PodmanConfig | None:
        """The podman runtimeConfig, or None for other runtimes."""
        return self.runtime_config if isinstance(self.runtime_config, PodmanConfig) else None

    def dependency_names(self) -> tuple[str, ...]:
        """Names of the workloads this one depends on, sorted."""
        return tuple(dep.workload_name for dep in self.dependencies)


@dataclass(**VALUE)
class Manifest:
    """The union of one or more manifest files, validated; workloads sorted by name."""

    api_version: str  # of the first file: "v1" or "v0.1"
    workloads: tuple[Workload, ...] = ()
    config_keys: tuple[str, ...] = ()  # top-level config keys, sorted
    sources: tuple[str, ...] = ()  # file paths, in the order given
    # Warnings found while loading (errors raise ManifestError instead).
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)

    def workload(self, name: str) -> Workload | None:
        """The workload called `name`, or None."""
        for workload in self.workloads:
            if workload.name == name:
                return workload
        return None

    def names(self) -> tuple[str, ...]:
        """All workload names, sorted."""
        return tuple(workload.name for workload in self.workloads)


# --- inventory -------------------------------------------------------------------------------


class Connection(str, enum.Enum):
    """How ankplan reaches a node's Podman."""

    LOCAL = "local"
    SSH = "ssh"


class UnitFlavour(str, enum.Enum):
    """How systemd runs a workload's container on a node: a unit ankplan writes in the shape of
    `podman generate systemd --new` (Podman < 4.4), or a Quadlet `.container` file from which
    the node's Podman generates the unit (Podman >= 4.4)."""

    UNIT = "unit"
    QUADLET = "quadlet"


class Supervisor(str, enum.Enum):
    """Who restarts a node's workloads after apply: `ankplan watch` while it runs, or systemd
    on the node (one unit per workload, podman/systemd_unit.py)."""

    WATCH = "watch"
    SYSTEMD = "systemd"


@dataclass(**VALUE)
class Node:
    """A host running Podman, and how to reach it."""

    name: str
    connection: Connection = Connection.LOCAL
    host: str = ""  # address or name; for ssh defaults to `name` (after ~/.ssh/config lookup)
    port: int = 22
    user: str = ""  # "" means the current user / ssh_config User
    identity_file: str = ""  # private key path; "" means ssh-agent and default keys
    known_hosts_file: str = ""  # "" means ~/.ssh/known_hosts
    connect_timeout: float = 10.0  # seconds, for TCP connect and SSH handshake
    podman: tuple[str, ...] = ("podman",)  # argv prefix, e.g. ("sudo", "podman")
    proxy_jump: Node | None = None  # reached through this host (ssh_config ProxyJump)
    identities_only: bool = False  # offer only identity_file, not ssh-agent keys
    hash_known_hosts: bool = False  # learned host keys are written hashed
    supervisor: Supervisor = Supervisor.WATCH

    @property
    def address(self) -> str:
        """`user@host:port` for messages, or `local`."""
        if self.connection is Connection.LOCAL:
            return "local"
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host or self.name}:{self.port}"


@dataclass(**VALUE)
class Inventory:
    """Which node runs each Ankaios agent."""

    nodes: tuple[Node, ...]  # sorted by name
    agents: tuple[tuple[str, str], ...]  # agent name -> node name, sorted
    # Node used for agents not listed; the embedded default maps every agent to local Podman.
    default_node: str | None = None
    source: str = "<embedded default>"

    def node(self, node_name: str) -> Node | None:
        """The node called `node_name`, or None."""
        for node in self.nodes:
            if node.name == node_name:
                return node
        return None

    def node_for_agent(self, agent: str) -> Node | None:
        """The node that runs `agent`, or None when the inventory does not know the agent."""
        for agent_name, node_name in self.agents:
            if agent_name == agent:
                return self.node(node_name)
        return self.node(self.default_node) if self.default_node else None


# --- observed state --------------------------------------------------------------------------


@dataclass(**VALUE)
class ObservedContainer:
    """One container as `podman ps -a --format json` reports it, or a podman-kube workload's
    pods folded into one entry; only what decisions need."""

    id: str
    name: str
    node_name: str
    image: str  # the full image name podman resolved the reference to at create time
    state: str  # podman state, lower-cased: created, running, exited, stopping, paused, ...
    exit_code: int = 0
    started_at: float = 0.0  # unix seconds, 0 when never started
    finished_at: float = 0.0  # unix seconds, 0 when not exited
    health: str = ""  # "", "starting", "healthy", "unhealthy"
    labels: tuple[tuple[str, str], ...] = ()  # sorted
    restart_count: int = 0  # from LABEL_RESTART_COUNT
    # The state of the systemd unit that runs it, as `systemctl` words it: "active (running)",
    # "activating (auto-restart)", "failed (failed)"; "" when no unit runs it or not read.
    unit_state: str = ""
    image_id: str = ""  # full id of the image the container was created from ("" unknown)
    pod_id: str = ""  # the pod this container belongs to ("" when none)
    # A podman-kube workload's pods are folded into ONE entry (podman/kube.py): its id is
    # "pods:<pod ids>", its state the Ankaios fold of every container in those pods.
    pods: tuple[str, ...] = ()  # names of the folded pods, sorted
    members: tuple[str, ...] = ()  # ids of the folded pods' containers, infra left out

    def label(self, key: str) -> str:
        """The value of label `key`, or ""."""
        for label_key, value in self.labels:
            if label_key == key:
                return value
        return ""

    @property
    def project(self) -> str:
        """The ankplan project that owns this container, or "" when it is foreign."""
        return self.label(LABEL_PROJECT)

    @property
    def owned(self) -> bool:
        """True when ankplan created this container (for any project)."""
        return bool(self.project)

    @property
    def workload_name(self) -> str:
        """The workload this container runs, from its label."""
        return self.label(LABEL_WORKLOAD)

    @property
    def spec_hash(self) -> str:
        """The spec hash label, "<version>:<digest>"."""
        return self.label(LABEL_SPEC_HASH)


@dataclass(**VALUE)
class ContainerStats:
    """One running container's resource use, from `podman stats --no-stream`."""

    id: str  # podman prints the short id (12 hex digits)
    cpu_percent: float | None = None  # podman's CPU %, averaged since the container started
    memory_usage: int | None = None  # bytes
    memory_limit: int | None = None  # bytes; the node's memory when no limit is set
    memory_text: str = ""  # podman's own "569.3kB / 67.11MB"


@dataclass(**VALUE)
class AppliedRecord:
    """What ankplan last applied of a workload's in-place fields, as recorded on its node
    (`applied.json` in the workload's folder; see podman/nodestore.py)."""

    project: str
    workload: str
    restart_policy: str = ""  # manifest spelling, e.g. "ON_FAILURE"
    dependencies: tuple[tuple[str, str], ...] = ()  # (workload, ADD_COND_...), sorted
    tags: tuple[tuple[str, str], ...] = ()  # sorted


@dataclass(**VALUE)
class RunRecord:
    """The last start of a workload's container by ankplan, as recorded on its node
    (`run.json`): survives the container, so a vanished `--rm` job is not run again."""

    project: str
    workload: str
    spec_hash: str  # of the container started
    container_id: str
    boot_id: str = ""  # the node's boot ID when it was started; "" when unknown
    started_at: float = 0.0  # unix seconds on the node's clock
    # watch's restarts counted for this container: a restart by `podman start` keeps the
    # container (and its restart-count label), so the count that grew lives here
    restart_count: int = 0


@dataclass(**VALUE)
class NodeObservation:
    """What one node reported, or why it could not be observed."""

    node_name: str
    containers: tuple[ObservedContainer, ...] = ()  # sorted by name, then id
    error: str | None = None  # one-line reason the node could not be observed
    hint: str = ""  # what to do about `error`
    boot_id: str = ""  # the node's current boot ID; "" when not read
    applied: tuple[AppliedRecord, ...] = ()  # the observed project's records, by workload
    runs: tuple[RunRecord, ...] = ()  # the observed project's run records, by workload
    # Local image name (`repo:tag` or `repo@digest`) -> full image id, sorted; None when the
    # images were not asked for. Read in the same round as `containers`.
    images: tuple[tuple[str, str], ...] | None = None
    stats: tuple[ContainerStats, ...] | None = None  # running containers; None: not asked for
    # Parts of the observation that failed while `podman ps` worked (images, stats): one line
    # each, shown as warnings.
    warnings: tuple[str, ...] = ()
    # Read on nodes whose supervisor is systemd ("" / 0 elsewhere or when unreadable): which
    # kind of unit ankplan writes there, and whether systemd has RestartSteps= (254+).
    podman_version: str = ""
    systemd_version: int = 0

    def image_id(self, name: str) -> str:
        """The id of the local image called `name` ("" when missing or not observed)."""
        for image_name, image_id in self.images or ():
            if image_name == name:
                return image_id
        return ""

    @property
    def reachable(self) -> bool:
        """True when the node answered."""
        return self.error is None


@dataclass(**VALUE)
class LiveState:
    """Observations of every node involved in a run."""

    nodes: tuple[NodeObservation, ...] = ()  # sorted by node_name

    def node(self, node_name: str) -> NodeObservation | None:
        """The observation of `node_name`, or None when it was not observed."""
        for observation in self.nodes:
            if observation.node_name == node_name:
                return observation
        return None

    def owned_containers(self, project: str) -> tuple[ObservedContainer, ...]:
        """Every container of `project` on every reachable node."""
        return tuple(c for n in self.nodes for c in n.containers if c.project == project)


class State(enum.StrEnum):
    """The Ankaios execution states; the value is Ankaios's display spelling."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPING = "Stopping"
    REMOVED = "Removed"
    NOT_SCHEDULED = "NotScheduled"
    AGENT_DISCONNECTED = "AgentDisconnected"


class SubState(enum.StrEnum):
    """The Ankaios substates ankplan reports, by the state they belong to; the value is
    Ankaios's display spelling. NotScheduled, Removed and AgentDisconnected show none."""

    INITIAL = "Initial"  # Pending
    WAITING_TO_START = "WaitingToStart"  # Pending
    STARTING = "Starting"  # Pending
    STARTING_FAILED = "StartingFailed"  # Pending
    OK = "Ok"  # Running, Succeeded
    EXEC_FAILED = "ExecFailed"  # Failed
    UNKNOWN = "Unknown"  # Failed
    LOST = "Lost"  # Failed
    STOPPING = "Stopping"  # Stopping
    WAITING_TO_STOP = "WaitingToStop"  # Stopping
    REQUESTED_AT_RUNTIME = "RequestedAtRuntime"  # Stopping
    DELETE_FAILED = "DeleteFailed"  # Stopping


@dataclass(**VALUE)
class ExecutionState:
    """An Ankaios execution state, displayed as `State(SubState)`, e.g. `Running(Ok)`.

    Both enums are StrEnums, so a member equals, prints and serializes as its Ankaios spelling.
    """

    state: State
    sub_state: SubState | None = None  # None for the states shown without one (NotScheduled)
    info: str = ""  # additional info, e.g. "Exit code: '1'"

    def __str__(self) -> str:
        return f"{self.state}({self.sub_state})" if self.sub_state else self.state.value


# --- project ---------------------------------------------------------------------------------


@dataclass(**VALUE)
class Project:
    """Which containers a run may change: those labelled `ankplan.project=<name>`.

    docs/projects.md explains how the CLI names a project. `legacy_name` is set only for a name
    derived from the manifests' location: it is the name the previous release derived for them
    (the folder's name), and its containers without LABEL_SOURCE count as this project's when
    their workload is one of `legacy_workloads` (the workloads the manifests define).
    """

    name: str
    source: str = ""  # LABEL_SOURCE of the containers this run makes
    legacy_name: str = ""
    legacy_workloads: tuple[str, ...] = ()  # sorted


@dataclass(**VALUE)
class KeptContainer:
    """A container of a project related to this one (same folder name, or made by an older
    ankplan for it) that the plan leaves alone, and how to adopt it."""

    node_name: str
    container_name: str
    container_id: str
    project: str
    workload_name: str
    source: str = ""  # its LABEL_SOURCE; "" when an older ankplan made it


# --- plan ------------------------------------------------------------------------------------


class ActionKind(str, enum.Enum):
    """What a plan step does; values are stable and part of the JSON plan format."""

    CREATE = "create"  # no container: create and start it
    REPLACE = "replace"  # stop and remove the old container, then create
    START = "start"  # container exists with the right spec but should run
    UPDATE = "update"  # in-place fields changed: recorded on the node, no new container
    REMOVE = "remove"  # owned container no longer wanted on this node
    RESTART = "restart"  # stop the container gracefully, then start the same one again
    NOOP = "noop"  # converged


class Reason(str, enum.Enum):
    """Why a step exists; values are stable and part of the JSON plan format."""

    NOT_FOUND = "not-found"
    SPEC_CHANGED = "spec-changed"
    NOT_IN_MANIFEST = "not-in-manifest"
    MOVED_NODE = "moved-node"
    EXITED = "exited"  # exited, and its restart policy restarts it (START; watch: REPLACE)
    NOT_RUNNING = "not-running"
    DUPLICATE = "duplicate"
    IMAGE_REBUILT = "image-rebuilt"  # the container's image name now points at another image
    RESTART_REQUESTED = "restart-requested"  # `ankplan restart` named it (or a dependency)
    UP_TO_DATE = "up-to-date"
    POLICY_CHANGED = "policy-changed"  # restartPolicy, dependencies or tags changed (UPDATE)
    NODE_RESTARTED = "node-restarted"  # the node stopped it (reboot, `podman stop -a`) (START)
    SUPERVISOR_CHANGED = "supervisor-changed"  # systemd <-> watch (REPLACE)
    LOST = "lost"  # a `--rm` container that ran and vanished: Failed(Lost), not re-created


@dataclass(**VALUE)
class Action:
    """One change on one node, with its reason and the payload the executor needs."""

    kind: ActionKind
    node_name: str
    workload_name: str
    reason: Reason
    details: tuple[str, ...] = ()  # human reason lines, e.g. "image: a -> b" (secrets masked)
    workload: Workload | None = None  # the desired workload (None for REMOVE)
    container_id: str = ""  # existing container acted on (REPLACE, START, REMOVE)
    container_name: str = ""  # its name, when there is one
    # The systemd unit that runs the workload's container after this step ("" when Podman runs
    # it alone, supervised by `watch`), and the unit running the existing container (stopped
    # and removed with it).
    unit: str = ""
    container_unit: str = ""
    unit_requires: tuple[str, ...] = ()  # units `unit` requires: same-node RUNNING dependencies
    unit_flavour: UnitFlavour = UnitFlavour.UNIT  # the kind of file that defines `unit`
    unit_backoff: bool = False  # the node's systemd grows the restart delay (RestartSteps=)

    @property
    def address(self) -> str:
        """`node/workload`, the address used everywhere."""
        return f"{self.node_name}/{self.workload_name}"

    @property
    def subject(self) -> str:
        """What people are shown the step acts on: the address, but for a duplicate the
        container itself (`node/name (id)`), so its removal never reads as the workload's."""
        if self.reason is Reason.DUPLICATE and self.container_id:
            return f"{self.node_name}/{self.container_name} ({self.container_id[:12]})"
        return self.address


@dataclass(**VALUE)
class PlanStep:
    """An action with the ids of the steps that must finish before it (removal order)."""

    id: int
    action: Action
    depends_on: tuple[int, ...] = ()


@dataclass(**VALUE)
class Plan:
    """Every step of a run, already in topological order; deterministic."""

    project: str
    steps: tuple[PlanStep, ...] = ()
    # Problems that make the plan not applyable (name conflicts, unknown agents, ...).
    errors: tuple[str, ...] = ()
    # Workloads that cannot start (Ankaios: Pending(StartingFailed)), one line each; the
    # rest of the plan is still applied.
    starting_failed: tuple[str, ...] = ()
    # node name -> fingerprint of what was observed there when planning.
    fingerprints: tuple[tuple[str, str], ...] = ()
    # Things to know that do not stop the plan (a container with the project's label but no
    # workload label, ...).
    warnings: tuple[str, ...] = ()
    kept: tuple[KeptContainer, ...] = ()  # related projects' containers left alone
    source: str = ""  # LABEL_SOURCE of the containers the plan makes
    # Containers an older ankplan made for this project, taken over by id (see Project).
    adopted: tuple[str, ...] = ()

    def changes(self) -> tuple[PlanStep, ...]:
        """The steps that change something (everything but NOOP)."""
        return tuple(s for s in self.steps if s.action.kind is not ActionKind.NOOP)

    def is_empty(self) -> bool:
        """True when nothing would change."""
        return not self.changes()

    def count(self, kind: ActionKind) -> int:
        """How many steps are of `kind`."""
        return sum(1 for s in self.steps if s.action.kind is kind)
