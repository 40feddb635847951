#!/bin/bash
# Test bed of nodes with real systemd: privileged Podman containers booting systemd as PID 1,
# with Podman and sshd inside, reachable over SSH with strict host keys. Two flavours, chosen by
# SUITE (default bookworm): bookworm = systemd 252 + Podman 4.3 (no Quadlet); trixie = systemd 257
# + Podman 5.4 (Quadlet). Each flavour has its own cached rootfs and image.
#
#   systemd-bed.sh build                 # cached: debootstrap rootfs -> tarball -> node image
#   systemd-bed.sh up DIR SLOT COUNT     # boot COUNT nodes; writes DIR/{id_ed25519,known_hosts,bed.env}
#   SUITE=trixie systemd-bed.sh ...      # the Quadlet flavour (build, up; down/purge take any)
#   systemd-bed.sh down SLOT             # remove the slot's nodes, network and node storage
#   systemd-bed.sh purge                 # down every slot + remove the node image and the cache
#
# Node N of slot S is the container ankplan-sd$S-node$N at 10.89.(100+S).(10+N) on the Podman
# network ankplan-sd$S; its own Podman storage lives on the host under $VAR (nested storage must
# not sit on overlayfs). The demo image (examples/images/build.sh) is loaded into every node
# offline. A reboot of a node is `podman restart ankplan-sd$S-node$N`. Facts behind the recipe:
# docs/testbed.md section 10 and the spike-init comments below.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VAR=${ANKPLAN_SYSTEMD_BED_CACHE:-/var/lib/ankplan-systemd-bed}
SUITE=${SUITE:-bookworm}
case "$SUITE" in bookworm|trixie) ;; *) echo "systemd-bed: SUITE must be bookworm or trixie" >&2; exit 2;; esac
ROOTFS=$VAR/rootfs-$SUITE
TAR=$VAR/node-$SUITE.tar.gz
IMAGE=localhost/ankplan-systemd-node:$SUITE
HASH_LABEL=ankplan.systemd-node.hash
# The machine's own Debian mirror (apt's deb822 sources), else deb.debian.org.
apt_mirror() {
  awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true
}
MIRROR=${ANKPLAN_DEBIAN_MIRROR:-$(apt_mirror)}; MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,podman,runc,netavark,aardvark-dns,conmon,catatonit,iptables,nftables,iproute2,busybox-static,procps
DEMO_IMAGE=localhost/ankplan-demo:latest

node_name() { echo "ankplan-sd$1-node$2"; }
node_ip() { echo "10.89.$((100 + $1)).$((10 + $2))"; }

# The recipe's hash: a changed build step or package list rebuilds the image.
recipe_hash() { { declare -f build write_spike_init; echo "$SUITE $PACKAGES"; } | sha256sum | cut -c1-16; }

write_spike_init() {
  cat > "$1" <<'INIT'
#!/bin/sh
# PID 1 of a test node, before systemd (host: cgroup v1/hybrid; node: podman --privileged
# --systemd=always --cgroupns=private). Podman 4.3 bind-mounts the HOST's whole name=systemd tree
# over runc's per-container mount; systemd would then create its cgroups at the host's top level,
# shared by all nodes. Drop that mount so systemd sees the container's own cgroup.
if awk '$5=="/sys/fs/cgroup/systemd" && $4 ~ /^\/\.\./ {f=1} END{exit !f}' /proc/self/mountinfo; then
  umount /sys/fs/cgroup/systemd/release_agent 2>/dev/null || true
  umount /sys/fs/cgroup/systemd
fi
# v1 controllers the host has not mounted (the container sits in their root): placeholders, so
# systemd does not mount them and make shared cgroups at the host's top level.
mount -o remount,rw /sys/fs/cgroup
for c in $(awk 'NR>1 && $4==1 {print $1}' /proc/cgroups); do
  grep -q "^[0-9]*:[^:]*\b$c\b[^:]*:/\$" /proc/self/cgroup || continue
  case "$c" in cpu|cpuacct|cpuset|memory|devices|freezer|blkio|pids) continue;; esac
  d=/sys/fs/cgroup/$c; { [ "$c" = net_cls ] || [ "$c" = net_prio ]; } && d=/sys/fs/cgroup/net_cls,net_prio
  mountpoint -q "$d" 2>/dev/null && continue
  mkdir -p "$d" && mount -t tmpfs -o ro,size=4k ankplan-placeholder "$d"
done
mount -o remount,ro /sys/fs/cgroup
exec /lib/systemd/systemd "$@"
INIT
  chmod 755 "$1"
}

build() {
  local hash; hash=$(recipe_hash)
  mkdir -p "$VAR"
  exec 9>"$VAR/build.lock"; flock 9
  if [ "$(podman image inspect --format "{{index .Labels \"$HASH_LABEL\"}}" "$IMAGE" 2>/dev/null)" = "$hash" ]; then
    echo "systemd-bed: $IMAGE is up to date ($hash)"; return 0
  fi
  if [ ! -f "$TAR" ] || [ "$(cat "$TAR.hash" 2>/dev/null)" != "$hash" ]; then
    command -v debootstrap >/dev/null || { echo "systemd-bed: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    if [ ! -x "$ROOTFS/sbin/init" ] || [ "$(cat "$ROOTFS.packages" 2>/dev/null)" != "$PACKAGES" ]; then
      rm -rf "$ROOTFS"
      # netavark/aardvark-dns: debootstrap cannot resolve podman's virtual "container-network-stack"
      debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$VAR/debootstrap.log" 2>&1 \
        || { tail -20 "$VAR/debootstrap.log" >&2; exit 1; }
      echo "$PACKAGES" > "$ROOTFS.packages"
    fi
    local R=$ROOTFS
    echo ankplan-node > "$R/etc/hostname"
    : > "$R/etc/machine-id"                    # a fresh machine-id per boot
    rm -f "$R/etc/resolv.conf" "$R"/etc/ssh/ssh_host_*   # host keys: per node, made at first boot
    install -d -m700 "$R/root/.ssh"; : > "$R/root/.ssh/authorized_keys"
    install -d "$R/etc/systemd/system/ssh.service.d"
    printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
      > "$R/etc/systemd/system/ssh.service.d/ankplan-hostkeys.conf"
    printf 'UseDNS no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100:30:200\n' \
      > "$R/etc/ssh/sshd_config.d/ankplan-bed.conf"
    install -d "$R/etc/containers/containers.conf.d"
    printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\nevents_logger = "file"\n' \
      > "$R/etc/containers/containers.conf.d/50-ankplan-bed.conf"
    write_spike_init "$R/usr/local/sbin/spike-init"
    if [ "$SUITE" != bookworm ]; then
      # Podman 5 on this host's cgroup v1: Quadlet's default --cgroups=split fails ("could not find
      # cgroup mount in /proc/self/cgroup"); every .container gets --cgroups=no-conmon instead.
      install -d "$R/etc/containers/systemd/container.d" "$R/etc/systemd/system.conf.d"
      printf '[Container]\nPodmanArgs=--cgroups=no-conmon\n' \
        > "$R/etc/containers/systemd/container.d/10-ankplan-bed-cgroupv1.conf"
      printf '[Manager]\nDefaultEnvironment=PODMAN_IGNORE_CGROUPSV1_WARNING=1\n' \
        > "$R/etc/systemd/system.conf.d/ankplan-bed.conf"
      grep -q PODMAN_IGNORE_CGROUPSV1_WARNING "$R/etc/environment" 2>/dev/null \
        || echo PODMAN_IGNORE_CGROUPSV1_WARNING=1 >> "$R/etc/environment"
    fi
    chroot "$R" apt-get clean
    tar --numeric-owner -C "$R" -czf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
    echo "$hash" > "$TAR.hash"
  fi
  podman import --change 'CMD ["/usr/local/sbin/spike-init"]' --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' --change "LABEL $HASH_LABEL=$hash" "$TAR" "$IMAGE" >/dev/null
  echo "systemd-bed: built $IMAGE ($hash)"
}

wait_booted() {
  local name=$1 state=
  for _ in $(seq 1 240); do
    state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break;; esac; sleep 0.25
  done
  case "$state" in running|degraded) ;; *) echo "systemd-bed: $name did not boot ($state)" >&2; return 1;; esac
  for _ in $(seq 1 120); do
    podman exec "$name" systemctl is-active -q ssh.service && return 0; sleep 0.25
  done
  echo "systemd-bed: sshd of $name did not start" >&2; return 1
}

up_node() {
  local dir=$1 slot=$2 n=$3 name ip
  name=$(node_name "$slot" "$n"); ip=$(node_ip "$slot" "$n")
  podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
  rm -rf "$VAR/s$slot-node$n"; mkdir -p "$VAR/s$slot-node$n"
  # --cgroupns=private: with the host's, nested runc fails (error mounting "cgroup" to rootfs).
  podman run -d --name "$name" --hostname "node$n" --privileged --systemd=always --cgroupns=private \
    --network "ankplan-sd$slot" --ip "$ip" --label ankplan-systemd-bed="$slot" \
    -v "$VAR/s$slot-node$n:/var/lib/containers" "$IMAGE" /usr/local/sbin/spike-init >/dev/null
  podman exec -i "$name" sh -c 'cat > /root/.ssh/authorized_keys' < "$dir/id_ed25519.pub"
  wait_booted "$name"
  # a persistent journal: what a node did before a reboot stays readable (journalctl -D)
  podman exec "$name" sh -c 'mkdir -p /var/log/journal && journalctl --flush' >/dev/null 2>&1 || true
  podman exec -i "$name" podman load -q < "$dir/demo-image.tar" >/dev/null
  echo "$ip $(podman exec "$name" cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2)" \
    > "$dir/known_hosts.$n"
}

up() {
  local dir=$1 slot=$2 count=$3 t0 n
  t0=$(date +%s.%N)
  build
  exec 9>&-  # release the build lock: no node (its conmon, aardvark-dns) may inherit it
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C ankplan-systemd-bed -f "$dir/id_ed25519"
  "$HERE/../examples/images/build.sh" >/dev/null
  podman save -q "$DEMO_IMAGE" -o "$dir/demo-image.tar.tmp" && mv "$dir/demo-image.tar.tmp" "$dir/demo-image.tar"
  down "$slot" >/dev/null 2>&1 || true
  podman network create --subnet "10.89.$((100 + slot)).0/24" "ankplan-sd$slot" >/dev/null
  local pids=()
  for n in $(seq 1 "$count"); do up_node "$dir" "$slot" "$n" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  cat "$dir"/known_hosts.[0-9]* > "$dir/known_hosts"; rm -f "$dir"/known_hosts.[0-9]*
  {
    echo "SLOT=$slot"; echo "COUNT=$count"; echo "SUITE=$SUITE"
    for n in $(seq 1 "$count"); do echo "NODE$n=$(node_name "$slot" "$n") $(node_ip "$slot" "$n")"; done
  } > "$dir/bed.env"
  echo "systemd-bed: $count nodes up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
}

down() {
  local slot=$1 c
  for c in $(podman ps -a --filter "label=ankplan-systemd-bed=$slot" --format '{{.Names}}'); do
    podman rm -f -t 10 "$c" >/dev/null
  done
  podman network exists "ankplan-sd$slot" && podman network rm -f "ankplan-sd$slot" >/dev/null
  rm -rf "$VAR"/s"$slot"-node*
}

purge() {
  local s
  for s in $(podman ps -a --filter label=ankplan-systemd-bed --format '{{index .Labels "ankplan-systemd-bed"}}' | sort -u); do
    down "$s"
  done
  podman image exists "$IMAGE" && podman rmi "$IMAGE" >/dev/null || true
  rm -rf "$VAR"
}

cmd=${1:-}; shift || true
case "$cmd" in
  build) build;;
  up) [ $# -eq 3 ] || { echo "usage: $0 up DIR SLOT COUNT" >&2; exit 2; }; up "$@";;
  down) [ $# -eq 1 ] || { echo "usage: $0 down SLOT" >&2; exit 2; }; down "$1";;
  purge) purge;;
  *) sed -n '2,13p' "$0"; exit 2;;
esac
