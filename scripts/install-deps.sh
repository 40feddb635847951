#!/usr/bin/env bash
# Installs what ankplan's demo, tests and benchmarks need on a fresh Debian/Ubuntu machine:
# podman, runc, openssh-server, busybox-static, iptables, zsh, fish, docker-registry (the
# test bed's image registry), debootstrap (the systemd test bed's rootfs) (apt, only when
# missing), and a Python venv in .venv with ankplan and its test dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v iptables >/dev/null 2>&1 || need+=(iptables)  # test_proxy_jump hides a node
# zsh and fish: the tests check that `ankplan completion zsh|fish` parse and complete there.
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
# debootstrap: the systemd test bed's Debian rootfs (scripts/systemd-bed.sh), built once, cached.
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  if [[ " ${need[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1; then
    # The package's own service would listen on :5000 of every interface; the test bed runs
    # its own registry on a bed address (scripts/testbed_registry.py) instead.
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]'
