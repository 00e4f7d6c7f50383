#!/usr/bin/env bash
# A Docker engine for the compose test on a machine without one: Debian's docker.io, host networking only.
#
# Installs docker.io when dockerd is missing and starts dockerd when no engine answers, with no bridge
# network at all (--bridge=none) and no iptables rules: containers can only use the host's network
# (network_mode: host), so nothing they send leaves 127.0.0.1 unless they dial out themselves.
# Idempotent; an engine that already answers is used as it is.
set -euo pipefail
DATA_ROOT="${FLEX_DOCKER_DATA_ROOT:-/var/lib/flex-docker}"
LOG="${FLEX_DOCKER_LOG:-/var/log/flex-dockerd.log}"

if ! command -v dockerd >/dev/null; then
  echo "engine: installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
if docker info >/dev/null 2>&1; then
  echo "engine: dockerd already running ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
  exit 0
fi
mkdir -p "$DATA_ROOT" "$(dirname "$LOG")"
echo "engine: starting dockerd (data root $DATA_ROOT, log $LOG)"
setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$DATA_ROOT" \
  --pidfile /var/run/flex-dockerd.pid >>"$LOG" 2>&1 </dev/null &
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then
    echo "engine: dockerd ready ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not answer within 60 s; last lines of $LOG:" >&2
tail -20 "$LOG" >&2
exit 1
