#!/bin/sh
# Builds localhost/ankplan-demo:latest without a registry: Debian's static busybox, its applet
# symlinks and /bin/stub (stub.sh) in a rootfs, imported with `podman import`.
# Usage: build.sh [--store DIR]   (DIR: a separate Podman image store, e.g. for the test bed)
# Skips the build when the image already carries the same content hash label. Safe to run again.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE=localhost/ankplan-demo:latest
HASH_LABEL=ankplan.demo.hash
STORE=""

while [ $# -gt 0 ]; do
    case "$1" in
        --store) STORE=${2:?--store needs a directory}; shift 2 ;;
        --store=*) STORE=${1#--store=}; shift ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

BUSYBOX=""
for candidate in /bin/busybox /usr/bin/busybox; do
    [ -x "$candidate" ] && BUSYBOX=$candidate && break
done
if [ -z "$BUSYBOX" ] || ! "$BUSYBOX" --list >/dev/null 2>&1; then
    echo "build.sh: no busybox found; install it with: apt-get install busybox-static" >&2
    exit 1
fi
if ! LC_ALL=C ldd "$BUSYBOX" 2>&1 | grep -q "not a dynamic"; then
    echo "build.sh: $BUSYBOX is not statically linked; install busybox-static" >&2
    exit 1
fi

if [ -n "$STORE" ]; then
    mkdir -p "$STORE"
    STORE=$(cd "$STORE" && pwd)
    set -- podman --root "$STORE/graph" --runroot "$STORE/run" --tmpdir "$STORE/tmp" \
        --storage-driver overlay
    LOCK="$STORE/build.lock"
else
    set -- podman
    LOCK=/run/lock/ankplan-demo-build.lock
    mkdir -p /run/lock
fi

# The content hash covers everything that goes into the image.
HASH=$(cat "$HERE/stub.sh" "$0" "$BUSYBOX" | sha256sum | cut -c1-16)

# Serialise concurrent builds into the same store.
exec 9>"$LOCK"
flock 9

current=$("$@" image inspect --format "{{index .Labels \"$HASH_LABEL\"}}" "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$HASH" ]; then
    echo "build.sh: $IMAGE is up to date (content $HASH)${STORE:+ in $STORE}"
    exit 0
fi
old_id=$("$@" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

ROOTFS=$(mktemp -d)
trap 'rm -rf "$ROOTFS"' EXIT
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/www" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" \
    "$ROOTFS/dev" "$ROOTFS/run" "$ROOTFS/var"
chmod 1777 "$ROOTFS/tmp"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$ROOTFS/bin/$applet"
done
cp "$HERE/stub.sh" "$ROOTFS/bin/stub"
chmod 0755 "$ROOTFS/bin/stub"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
    >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
echo '<html><body>ankplan demo</body></html>' >"$ROOTFS/www/index.html"

tar -C "$ROOTFS" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c . |
    "$@" import --quiet \
        --change 'ENTRYPOINT []' \
        --change 'CMD ["/bin/stub", "idle"]' \
        --change 'ENV PATH=/bin' \
        --change 'WORKDIR /' \
        --change "LABEL $HASH_LABEL=$HASH" \
        - "$IMAGE" >/dev/null

# Drop the image this build replaced, unless a container still uses it. A separate store is
# left alone: it serves test-bed nodes whose containers its own podman cannot see.
if [ -n "$old_id" ] && [ -z "$STORE" ]; then
    "$@" rmi "$old_id" >/dev/null 2>&1 || true
fi
echo "build.sh: built $IMAGE (content $HASH)${STORE:+ in $STORE}"
