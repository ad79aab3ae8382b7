#!/usr/bin/env bash
# Installs Redis (Debian's redis-server) and nginx for the scale-out tests, when they are missing.
# Idempotent: installs only the package whose binary is not on the PATH (nor in /usr/sbin or
# /usr/bin), and does nothing when both are there. Needs root and apt (CI). The tests start their
# own private redis-server and nginx (test/helpers/redis-server.ts, test/helpers/nginx.ts) on
# free loopback ports; the system services are kept from starting, and stopped and disabled
# should they start anyway, so that they hold no ports (6379, 80).
set -euo pipefail

have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

packages=()
have redis-server || packages+=(redis-server)
have nginx || packages+=(nginx)
if [ "${#packages[@]}" -eq 0 ]; then
  echo "install-redis-nginx: redis-server and nginx already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-redis-nginx: ${packages[*]} missing and this script needs root to install it" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-redis-nginx: ${packages[*]} missing and apt-get is not available" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Do not let the packages start their own services: the tests run private instances.
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
# Stop the system services if they were started anyway (e.g. under systemd), so ports stay free,
# and keep them from starting at boot.
for service in redis-server nginx; do
  (systemctl stop "$service" 2>/dev/null || service "$service" stop 2>/dev/null) >/dev/null || true
  (systemctl disable "$service" 2>/dev/null || update-rc.d "$service" disable 2>/dev/null) \
    >/dev/null || true
done
for package in "${packages[@]}"; do
  echo "install-redis-nginx: installed $package $(dpkg-query -W -f='${Version}' "$package")"
done
