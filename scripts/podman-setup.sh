#!/usr/bin/env bash
# Makes the local Podman able to run ankplan's demo containers, changing as little as possible.
# Builds localhost/ankplan-demo:latest, runs it, and for each known failure sets one setting in a
# drop-in (/etc/containers/containers.conf.d/50-ankplan.conf, or $CONTAINERS_CONF when set):
#   crun "cgroups in hybrid mode not supported"       -> [engine] runtime = "runc" (apt runc)
#   "setrlimit RLIMIT_NOFILE: Operation not permitted" -> [containers] default_ulimits = []
# Prints every change and the podman error behind it; prints "local podman OK" when none was needed.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=localhost/ankplan-demo:latest
if [ -n "${CONTAINERS_CONF:-}" ]; then
    CONF=$CONTAINERS_CONF  # podman then reads only this file, no drop-ins
elif [ "$(id -u)" -eq 0 ]; then
    CONF=/etc/containers/containers.conf.d/50-ankplan.conf
else
    CONF=${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf.d/50-ankplan.conf
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { echo "ankplan setup: $*"; }

apt_install() {
    say "apt-get install $*"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# set_conf SECTION KEY VALUE: put `KEY = VALUE` into [SECTION] of $CONF, keeping everything else.
set_conf() {
    mkdir -p "$(dirname "$CONF")"
    [ -e "$CONF" ] || : >"$CONF"
    python3 - "$CONF" "$1" "$2" "$3" <<'EOF'
import re, sys
path, section, key, value = sys.argv[1:]
lines = open(path).read().splitlines()
current, out, done = None, [], False
for line in lines:
    header = re.match(r"\s*\[([^\]]+)\]\s*$", line)
    if header:
        if current == section and not done:
            out.append(f"{key} = {value}"); done = True
        current = header.group(1).strip()
    elif current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
        line, done = f"{key} = {value}", True
    out.append(line)
if not done:
    if current != section:
        out.append(f"[{section}]")
    out.append(f"{key} = {value}")
open(path, "w").write("\n".join(out) + "\n")
EOF
}

# try_run: run the demo image once; on failure leave podman's message in $ERROR.
try_run() {
    if ERROR=$(podman run --rm "$IMAGE" true 2>&1); then
        return 0
    fi
    ERROR=$(printf '%s\n' "$ERROR" | grep -v -e 'failed to connect to syslog' -e 'pids limit' |
        grep -m1 -i -e 'error' -e 'not supported' -e 'not permitted' || printf '%s' "$ERROR")
    return 1
}

fix_runtime() {
    command -v runc >/dev/null 2>&1 || apt_install runc
    set_conf engine runtime '"runc"'
    say "set runtime = \"runc\" in $CONF because: $ERROR"
}

fix_ulimits() {
    set_conf containers default_ulimits '[]'
    say "set default_ulimits = [] in $CONF because: $ERROR"
}

command -v podman >/dev/null 2>&1 || apt_install podman
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || apt_install busybox-static
if ! built=$(examples/images/build.sh 2>&1); then
    echo "ankplan setup: error: building $IMAGE failed: $built" >&2
    exit 1
fi

changed=0
for _attempt in 1 2 3; do
    if try_run; then
        if [ "$changed" -eq 0 ]; then
            echo "local podman OK"
        else
            say "local podman OK after $changed change(s)"
        fi
        exit 0
    fi
    case "$ERROR" in
        *"cgroups in hybrid mode"*)
            grep -q '^runtime *= *"runc"' "$CONF" 2>/dev/null && break
            fix_runtime ;;
        *RLIMIT*|*rlimit*)
            grep -q '^default_ulimits *= *\[\]' "$CONF" 2>/dev/null && break
            fix_ulimits ;;
        *) break ;;
    esac
    changed=$((changed + 1))
done
echo "ankplan setup: error: podman cannot run $IMAGE: $ERROR" >&2
echo "ankplan setup: hint: this is not one of the known problems; see docs testbed.md section 1" >&2
exit 1
