#!/usr/bin/env bash
# Run redis-server as the redis user (flags only: protected mode off, as the official image does).
set -euo pipefail
if [ "${1:0:1}" = "-" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data
  if [ "${2:-}" = "" ] || [ "${2:0:1}" = "-" ]; then
    shift
    set -- redis-server --protected-mode no "$@"
  fi
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
