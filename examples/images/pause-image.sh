#!/bin/sh
# Puts Podman's own pause image into a separate image store (e.g. the test bed's shared one).
# `podman kube play`, like every pod, needs it; Podman builds it locally from catatonit (no
# registry) when it is missing. Built once here, every test-bed node finds it in the shared
# read-only store instead of building its own copy on its first pod.
# Usage: pause-image.sh --store DIR     Safe to run again: a no-op when the image is there.
set -eu

STORE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --store) STORE=${2:?--store needs a directory}; shift 2 ;;
        --store=*) STORE=${1#--store=}; shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "pause-image.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[ -n "$STORE" ] || { echo "pause-image.sh: --store DIR is required" >&2; exit 2; }
mkdir -p "$STORE"
STORE=$(cd "$STORE" && pwd)
set -- podman --root "$STORE/graph" --runroot "$STORE/run" --tmpdir "$STORE/tmp" \
    --storage-driver overlay

# The same lock as build.sh: one writer per store at a time.
exec 9>"$STORE/build.lock"
flock 9

if [ -n "$("$@" images --quiet --filter reference=localhost/podman-pause)" ]; then
    exit 0
fi
# A throw-away pod makes Podman build the image under the name it will look for. Its own
# containers.conf keeps it off the host Podman's lock segment and tmp dir.
CONF="$STORE/pause-build.conf"
cat >"$CONF" <<CONF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
lock_type = "file"
tmp_dir = "$STORE/tmp"
CONF
CONTAINERS_CONF=$CONF "$@" pod create --name ankplan-pause-probe --network none >/dev/null
CONTAINERS_CONF=$CONF "$@" pod rm ankplan-pause-probe >/dev/null
echo "pause-image.sh: built $("$@" images --format '{{.Repository}}:{{.Tag}}' \
    --filter reference=localhost/podman-pause) in $STORE"
