#!/bin/sh
# shellcheck disable=SC2016  # backquotes in printf formats are Markdown, not expansions
# Runs every benchmark in benchmarks/ one after the other and writes benchmarks/RESULTS.md:
# machine, versions, date, each benchmark's command, duration and full output, and a summary
# of every `verdict:` line (where ankplan is ahead of a peer and where it is NOT).
# Needs root, podman, the demo image's busybox and (for the SSH benchmarks) the test bed's
# tools; Ansible is installed from PyPI into benchmarks/.venv-ansible when missing.
# Usage: benchmarks/run_all.sh [--quick]    (--quick skips the long ones: noop_ssh,
#        many_nodes, watch; about 4 minutes instead of about 20)
# Raw outputs also go to benchmarks/out/. Exit 1 when any benchmark failed (the rest still run).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT="$HERE/out"
RESULTS="$HERE/RESULTS.md"
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
PYTHON=${PYTHON:-python3}
# Time ankplan as an installed copy runs: with byte-compiled modules cached (pip compiles them
# at install; podman-compose and Ansible come that way too).
unset PYTHONDONTWRITEBYTECODE
export NO_COLOR=1

cd "$ROOT" || exit 1
mkdir -p "$OUT"
rm -f "$OUT"/*.txt "$OUT"/*.err  # the summary is built from this run's outputs only

if [ ! -x "$HERE/.venv-ansible/bin/ansible-playbook" ]; then
    echo "run_all: installing ansible into benchmarks/.venv-ansible (PyPI)" >&2
    "$PYTHON" -m venv "$HERE/.venv-ansible" &&
        "$HERE/.venv-ansible/bin/pip" install --quiet ansible >&2 &&
        echo '*' >"$HERE/.venv-ansible/.gitignore" ||
        echo "run_all: ansible could not be installed; its columns will be missing" >&2
fi
"$ROOT/examples/images/build.sh" >/dev/null

first_line() { "$@" 2>&1 | head -n 1; }
ANSIBLE_VERSION=$(first_line "$HERE/.venv-ansible/bin/ansible" --version || echo missing)
PODMAN_PY=$("$HERE/.venv-ansible/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['collection_info']['version'])" \
    "$HERE/.venv-ansible/lib/python3.11/site-packages/ansible_collections/containers/podman/MANIFEST.json" 2>/dev/null || echo "?")

{
    echo "# ankplan benchmark results"
    echo
    echo "Written by \`benchmarks/run_all.sh$([ $QUICK = 1 ] && echo ' --quick')\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Every figure below comes from this one run on this one machine; rerun the command to refresh them."
    echo
    echo "## Machine and versions"
    echo
    echo "| what | value |"
    echo "|---|---|"
    echo "| CPUs (nproc) | $(nproc) |"
    echo "| memory | $(free -h | awk '/^Mem:/ {print $2}') |"
    echo "| kernel | $(uname -sr) |"
    # shellcheck disable=SC1091
    echo "| OS | $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") |"
    echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared) |"
    echo "| python | $("$PYTHON" --version 2>&1) |"
    echo "| ankplan | $(first_line ankplan --version) (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', with uncommitted changes')) |"
    echo "| podman | $(first_line podman --version) (runtime $(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)) |"
    echo "| podman-compose | $(first_line podman-compose --version) |"
    echo "| ansible | $ANSIBLE_VERSION, containers.podman $PODMAN_PY |"
    echo
} >"$RESULTS.tmp"

FAILED=""
SECTIONS="$OUT/sections.md"
: >"$SECTIONS"

# bench NAME LONG TITLE COMMAND...: run one benchmark, record its output and duration.
bench() {
    name=$1; long=$2; title=$3; shift 3
    if [ "$long" = long ] && [ $QUICK = 1 ]; then
        printf '## %s\n\nSkipped (--quick). Run: `%s`\n\n' "$title" "$*" >>"$SECTIONS"
        return
    fi
    echo "run_all: $name ..." >&2
    start=$(date +%s)
    "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err"
    code=$?
    seconds=$(( $(date +%s) - start ))
    {
        printf '## %s\n\n' "$title"
        printf 'Command: `%s` (%s s%s)\n\n```\n' "$*" "$seconds" "$([ "$long" = long ] && echo ', long')"
        cat "$OUT/$name.txt"
        if [ $code -ne 0 ]; then
            echo "FAILED with exit code $code:"
            tail -n 20 "$OUT/$name.err"
        fi
        printf '```\n\n'
    } >>"$SECTIONS"
    [ $code -ne 0 ] && FAILED="$FAILED $name"
    echo "run_all: $name done in ${seconds}s (exit $code)" >&2
}

bench validate short "Validate a 1,000-workload manifest" "$PYTHON" benchmarks/bench_validate.py
bench scale short "Pure planner at scale (500 to 10,000 workloads, 100 nodes)" "$PYTHON" benchmarks/bench_scale.py
bench apply short "Apply of the police example from empty, local Podman, vs peers" "$PYTHON" benchmarks/bench_apply.py --runs 7
bench observe short "Observing 3 SSH nodes x 20 containers" "$PYTHON" benchmarks/bedslot.py --nodes 3 -- "$PYTHON" benchmarks/bench_observe.py --bed "{bed}"
bench noop_ssh long "No-change run on 3 SSH nodes x 20 workloads: ankplan plan vs ansible --check" "$PYTHON" benchmarks/bench_noop_ssh.py --runs 3
bench many_nodes long "30 SSH nodes: plan and apply with --forks 1, 10, 30, and Ansible with -f 10, 30" "$PYTHON" benchmarks/bench_many_nodes.py --runs 2
if [ -f benchmarks/bench_watch.py ]; then
    bench watch long "watch: crash to Running again vs Podman's restart policy, the floor, idle CPU" "$PYTHON" benchmarks/bench_watch.py
fi
bench thousand long "1,000 workloads over 10 SSH nodes: threads and peak memory" "$PYTHON" benchmarks/bench_thousand.py

# bench_watch.py prints no verdict line of its own: derive it from its two medians.
if [ -f "$OUT/watch.txt" ] && ! grep -q '^verdict:' "$OUT/watch.txt"; then
    awk '/^  ankplan watch/ { for (i = 1; i <= NF; i++) if ($i == "median") a = $(i + 1) }
         /^  podman --restart/ { for (i = 1; i <= NF; i++) if ($i == "median") p = $(i + 1) }
         END { if (a != "" && p != "" && p + 0 > 0)
                 printf "verdict: crash to Running again: ankplan watch %s s vs podman " \
                        "--restart=on-failure %s s -> ankplan %s (%.2fx)\n", a, p,
                        (a + 0 < p + 0 ? "ahead" : "NOT ahead"), a / p }' \
        "$OUT/watch.txt" >"$OUT/watch-verdict.txt"
fi

{
    echo "## Summary"
    echo
    echo "Every comparison the benchmarks made (\`verdict:\` lines), as measured in this run:"
    echo
    grep -h '^verdict: ' "$OUT"/*.txt 2>/dev/null | sed 's/^verdict: /- /' | awk '!seen[$0]++'
    echo
    if grep -qh '^verdict: .*NOT' "$OUT"/*.txt 2>/dev/null; then
        echo "Where ankplan is **not** ahead:"
        echo
        grep -h '^verdict: .*NOT' "$OUT"/*.txt | sed 's/^verdict: /- /' | awk '!seen[$0]++'
        echo
    fi
    [ -n "$FAILED" ] && echo "**Failed benchmarks:**$FAILED (see their sections)" && echo
    cat "$SECTIONS"
} >>"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "run_all: wrote $RESULTS" >&2
[ -z "$FAILED" ]
