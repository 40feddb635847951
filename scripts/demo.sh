#!/usr/bin/env bash
# The demo on the local Podman, from a fresh machine: installs ankplan and what it needs,
# fixes the local Podman where it cannot run containers as installed (and says what it
# changed), builds the demo image offline, then validates, graphs and applies the police
# monitoring example of the guide and shows every workload Running in dependency order.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/podman-setup.sh
export PATH="$PWD/.venv/bin:$PATH"
M=examples/police/manifest.yaml
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step ankplan validate "$M"
step ankplan graph "$M"
step ankplan plan "$M"
step ankplan apply --yes "$M"
step ankplan get workloads "$M"
step ankplan plan --detailed-exitcode "$M"
cat <<'TXT'

The police example runs on the local Podman (containers zenoh-router ... police-websocket).
Try:  ankplan get workload kuksa-bridge examples/police/manifest.yaml
      ankplan logs kuksa-bridge examples/police/manifest.yaml
      ankplan watch --duration 60s examples/police/manifest.yaml   (then: podman stop zenoh-router)
Remove everything again with:  ankplan destroy --yes examples/police/manifest.yaml
TXT
