#!/usr/bin/env bash
# Installs RabbitMQ (Debian's rabbitmq-server) for the broker hook's tests, when it is missing.
# Idempotent: does nothing when `rabbitmq-server` is already on the PATH (or in /usr/sbin).
# Needs root and apt (CI). The tests start their own private node (test/helpers/rabbitmq.ts)
# and enable the plugins they need there; the system service is stopped and disabled so it
# holds no ports.
set -euo pipefail

if command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] \
  || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  echo "install-rabbitmq: rabbitmq-server already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-rabbitmq: rabbitmq-server is missing and this script needs root to install it" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-rabbitmq: rabbitmq-server is missing and apt-get is not available" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Do not let the package start its own service: the tests run a private node.
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
apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
# Stop a system node if one was started anyway (e.g. under systemd), so ports stay free.
if command -v rabbitmqctl >/dev/null 2>&1; then
  (systemctl stop rabbitmq-server 2>/dev/null || service rabbitmq-server stop 2>/dev/null) || true
  (systemctl disable rabbitmq-server 2>/dev/null) || true
fi
echo "install-rabbitmq: installed $(dpkg-query -W -f='${Version}' rabbitmq-server)"
