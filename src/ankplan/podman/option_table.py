"""Which podman options take a value, as `--help` of podman 4.3.1 lists them.

Pure data, written by scripts/podman_option_table.py (do not edit by hand; run it after a podman
upgrade). Read by podman/options.py, the one tokenizer of podman option lists.
"""

from __future__ import annotations

PODMAN_VERSION = "4.3.1"

GLOBAL_VALUED = frozenset({
    "--cgroup-manager", "--conmon", "--connection", "--events-backend", "--hooks-dir",
    "--identity", "--log-level", "--namespace", "--network-cmd-path", "--network-config-dir",
    "--root", "--runroot", "--runtime", "--runtime-flag", "--ssh", "--storage-driver",
    "--storage-opt", "--tmpdir", "--url", "--volumepath",
})
GLOBAL_FLAGS = frozenset({
    "--help", "--noout", "--remote", "--syslog", "--version",
})
GLOBAL_SHORT = {
    "c": "--connection", "r": "--remote", "v": "--version",
}

RUN_VALUED = frozenset({
    "--add-host", "--annotation", "--arch", "--attach", "--authfile", "--blkio-weight",
    "--blkio-weight-device", "--cap-add", "--cap-drop", "--cgroup-conf", "--cgroup-parent",
    "--cgroupns", "--cgroups", "--chrootdirs", "--cidfile", "--conmon-pidfile", "--cpu-period",
    "--cpu-quota", "--cpu-rt-period", "--cpu-rt-runtime", "--cpu-shares", "--cpus",
    "--cpuset-cpus", "--cpuset-mems", "--detach-keys", "--device", "--device-cgroup-rule",
    "--device-read-bps", "--device-read-iops", "--device-write-bps", "--device-write-iops",
    "--dns", "--dns-opt", "--dns-option", "--dns-search", "--entrypoint", "--env", "--env-file",
    "--env-merge", "--expose", "--gidmap", "--group-add", "--health-cmd", "--health-interval",
    "--health-on-failure", "--health-retries", "--health-start-period", "--health-timeout",
    "--hostname", "--hostuser", "--image-volume", "--init-ctr", "--init-path", "--ip", "--ip6",
    "--ipc", "--label", "--label-file", "--log-driver", "--log-opt", "--mac-address", "--memory",
    "--memory-reservation", "--memory-swap", "--memory-swappiness", "--mount", "--name", "--net",
    "--network", "--network-alias", "--oom-score-adj", "--os", "--passwd-entry", "--personality",
    "--pid", "--pidfile", "--pids-limit", "--platform", "--pod", "--pod-id-file", "--preserve-fds",
    "--publish", "--pull", "--requires", "--restart", "--sdnotify", "--seccomp-policy", "--secret",
    "--security-opt", "--shm-size", "--stop-signal", "--stop-timeout", "--subgidname",
    "--subuidname", "--sysctl", "--systemd", "--timeout", "--tmpfs", "--tz", "--uidmap",
    "--ulimit", "--umask", "--unsetenv", "--user", "--userns", "--uts", "--variant", "--volume",
    "--volumes-from", "--workdir",
})
RUN_FLAGS = frozenset({
    "--detach", "--disable-content-trust", "--env-host", "--help", "--http-proxy", "--init",
    "--interactive", "--no-healthcheck", "--no-hosts", "--oom-kill-disable", "--passwd",
    "--privileged", "--publish-all", "--quiet", "--read-only", "--read-only-tmpfs", "--replace",
    "--rm", "--rmi", "--rootfs", "--sig-proxy", "--tls-verify", "--tty", "--unsetenv-all",
})
RUN_SHORT = {
    "P": "--publish-all", "a": "--attach", "c": "--cpu-shares", "d": "--detach", "e": "--env",
    "h": "--hostname", "i": "--interactive", "l": "--label", "m": "--memory", "p": "--publish",
    "q": "--quiet", "t": "--tty", "u": "--user", "v": "--volume", "w": "--workdir",
}

KUBE_PLAY_VALUED = frozenset({
    "--annotation", "--authfile", "--cert-dir", "--configmap", "--context-dir", "--creds", "--ip",
    "--log-driver", "--log-opt", "--mac-address", "--network", "--seccomp-profile-root",
    "--userns",
})
KUBE_PLAY_FLAGS = frozenset({
    "--build", "--no-hosts", "--quiet", "--replace", "--start", "--tls-verify",
})
KUBE_PLAY_SHORT = {
    "q": "--quiet",
}
