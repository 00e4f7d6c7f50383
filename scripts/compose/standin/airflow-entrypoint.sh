#!/usr/bin/env bash
# The stand-in image's entrypoint, doing what docker-compose.yaml relies on in the official one: wait for
# the metadata DB (CONNECTION_CHECK_MAX_COUNT tries, 0 = do not wait), then run `bash ...`,
# `python ...`, or `airflow <command>` (with or without a leading `airflow`).
set -euo pipefail
tries="${CONNECTION_CHECK_MAX_COUNT:-20}"
if [ "$tries" -gt 0 ]; then
  for i in $(seq "$tries"); do
    if airflow db check >/dev/null 2>&1; then break; fi
    if [ "$i" = "$tries" ]; then echo "entrypoint: metadata DB unreachable after $tries tries" >&2; exit 1; fi
    sleep "${CONNECTION_CHECK_SLEEP_TIME:-3}"
  done
fi
case "${1:-}" in
  bash|python|sh) exec "$@" ;;
  airflow) shift; exec airflow "$@" ;;
  *) exec airflow "$@" ;;
esac
