#!/bin/sh
# Start a Docker engine on a machine without an init system (CI, these dev machines):
# nothing to do when one answers; else dockerd in the background, its log in
# ${DOCKERD_LOG:-/var/log/dockerd.log}. --iptables=false: the machine's firewall is not
# ours to change (containers on one user-defined network still reach each other, and
# published ports still answer on the host through docker-proxy).
set -eu
if docker info > /dev/null 2>&1; then
    exit 0
fi
log=${DOCKERD_LOG:-/var/log/dockerd.log}
echo "start-engine: starting dockerd (log: $log)"
nohup dockerd --iptables=false --ip6tables=false >> "$log" 2>&1 < /dev/null &
# For whoever must stop it again (.ci/run does): its pid.
[ -z "${DOCKERD_PIDFILE:-}" ] || echo $! > "$DOCKERD_PIDFILE"
for _ in $(seq 60); do
    docker info > /dev/null 2>&1 && exit 0
    sleep 1
done
echo "start-engine: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
