#!/usr/bin/env bash
# Installs Debian packages for the tests, each only when its binary is missing, without letting
# them start their services: the tests run private instances (test/helpers/rabbitmq.ts,
# redis-server.ts, nginx.ts) on free loopback ports, so system services must hold no ports
# (5672, 6379, 80 …). Idempotent. Needs root and apt-get (CI).
#
#   bash .ci/install-packages.sh rabbitmq-server redis-server nginx
#
# Each argument is a package whose main binary has the same name.
set -euo pipefail

have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] \
    || [ -x "/usr/lib/rabbitmq/bin/$1" ]
}

packages=()
for package in "$@"; do have "$package" || packages+=("$package"); done
if [ "${#packages[@]}" -eq 0 ]; then
  echo "install-packages: $* already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-packages: ${packages[*]} missing and this script needs root to install it" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-packages: ${packages[*]} missing and apt-get is not available" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exiting 101 tells the packages' maintainer scripts not to start their services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Stop a service started anyway (e.g. under systemd), and keep it from starting at boot.
for service in "${packages[@]}"; do
  (systemctl stop "$service" 2>/dev/null || service "$service" stop 2>/dev/null) >/dev/null || true
  (systemctl disable "$service" 2>/dev/null || update-rc.d "$service" disable 2>/dev/null) \
    >/dev/null || true
done
for package in "${packages[@]}"; do
  echo "install-packages: installed $package $(dpkg-query -W -f='${Version}' "$package")"
done
