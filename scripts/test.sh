#!/usr/bin/env bash
# Installs everything, prepares the local Podman, and runs the whole test suite, integration
# tests on real Podman and real SSH nodes included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/podman-setup.sh
if [ $# -eq 0 ]; then
  # Static checks first: cheap, and a type error is a bug the tests may not reach.
  .venv/bin/python -m ruff check src tests benchmarks scripts
  .venv/bin/python -m mypy
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
