#!/bin/sh
# /bin/stub of the ankplan demo image (localhost/ankplan-demo:latest): a tiny stand-in workload.
# Every mode traps TERM/INT and exits 0 at once, so `podman stop` never waits for its timeout;
# the shell stays the container's PID 1 and waits on children with `cmd & wait $!`.
#
#   stub serve PORT                      serve HTTP on PORT (busybox httpd)
#   stub client [--port P] --needs HOST:PORT [--needs HOST:PORT ...]
#                                        check each needed address every second, log
#                                        "connected to HOST:PORT"; exit 1 with
#                                        "ERROR: lost connection to HOST:PORT" when one stops answering
#   stub job SECONDS CODE                log, sleep SECONDS, exit CODE
#   stub crash SECONDS CODE              the same as job
#   stub health-file PATH                exit 0 when PATH exists (for health checks)
#   stub env                             print the environment, then idle
#   stub idle                            log, then idle until stopped

MODE=${1:-help}
CHILD=""  # the running `sleep`, killed on a signal
HTTPD=""  # the running busybox httpd, if any
# Seconds a client waits on start for its dependencies before failing.
STUB_CONNECT_WAIT=${STUB_CONNECT_WAIT:-5}

log() { echo "stub $MODE: $*"; }
fail() { echo "stub $MODE: ERROR: $*" >&2; exit 1; }

cleanup() {
    for pid in $CHILD $HTTPD; do kill "$pid" 2>/dev/null; done
}

on_signal() {
    log "stopping on signal"
    exit 0
}
trap cleanup EXIT
trap on_signal TERM INT

# Sleep $1 seconds in a way that a TERM interrupts at once.
nap() {
    sleep "$1" &
    CHILD=$!
    wait "$CHILD"
    CHILD=""
}

idle_forever() {
    while :; do nap 3600; done
}

is_number() {
    case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac
}

# Start busybox httpd on port $1 in the background and remember it as the child.
start_httpd() {
    is_number "$1" || fail "port must be a number, got '$1'"
    httpd -f -p "$1" -h /www &
    HTTPD=$!
}

# True when HOST:PORT ($1) accepts a TCP connection within one second.
answers() {
    nc -w 1 "${1%:*}" "${1##*:}" -e true >/dev/null 2>&1
}

mode_serve() {
    [ $# -eq 1 ] || fail "usage: stub serve PORT"
    start_httpd "$1"
    log "serving HTTP on port $1"
    wait "$HTTPD"
    code=$?
    HTTPD=""
    log "httpd on port $1 exited with code $code"
    exit "$code"
}

# Wait up to STUB_CONNECT_WAIT seconds for every needed address; fail on the first that never answers.
await_needs() {
    for need in $NEEDS; do
        waited=0
        until answers "$need"; do
            waited=$((waited + 1))
            [ "$waited" -gt "$STUB_CONNECT_WAIT" ] && fail "cannot connect to $need"
            nap 1
        done
        log "connected to $need"
    done
}

watch_needs() {
    while :; do
        for need in $NEEDS; do
            answers "$need" || fail "lost connection to $need"
        done
        if [ -n "$HTTPD" ] && ! kill -0 "$HTTPD" 2>/dev/null; then
            fail "httpd on port $PORT exited"
        fi
        nap 1
    done
}

mode_client() {
    PORT=""; NEEDS=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) PORT=$2; shift 2 ;;
            --needs) NEEDS="$NEEDS $2"; shift 2 ;;
            *) fail "unknown argument '$1' (usage: stub client [--port P] --needs HOST:PORT ...)" ;;
        esac
    done
    [ -n "$NEEDS" ] || fail "usage: stub client [--port P] --needs HOST:PORT ..."
    if [ -n "$PORT" ]; then
        start_httpd "$PORT"
        log "serving HTTP on port $PORT"
    fi
    log "needs$NEEDS"
    await_needs
    watch_needs
}

mode_job() {
    if [ $# -ne 2 ] || ! is_number "$1" || ! is_number "$2"; then
        fail "usage: stub $MODE SECONDS CODE"
    fi
    log "running for $1 s, then exiting with code $2"
    nap "$1"
    log "done, exit code $2"
    exit "$2"
}

mode_health_file() {
    [ $# -eq 1 ] || fail "usage: stub health-file PATH"
    [ -e "$1" ]
}

mode_env() {
    env | sort
    idle_forever
}

usage() {
    echo "usage: stub serve PORT | client [--port P] --needs HOST:PORT ... | job SECONDS CODE"
    echo "       | crash SECONDS CODE | health-file PATH | env | idle"
}

[ $# -gt 0 ] && shift
case "$MODE" in
    serve) mode_serve "$@" ;;
    client) mode_client "$@" ;;
    job|crash) mode_job "$@" ;;
    health-file) mode_health_file "$@" ;;
    env) mode_env ;;
    idle) log "idle until stopped"; idle_forever ;;
    help|-h|--help) usage ;;
    *) usage >&2; exit 2 ;;
esac
