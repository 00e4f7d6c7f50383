#!/usr/bin/env bash
# Stand-in images for docker-compose.yaml, built here from Debian packages (no registry is reachable):
#   flex-standin/debian:bookworm          debootstrap + docker import (rootfs.sh)
#   flex-standin/airflow:3.3.2-python3.11 for apache/airflow:3.3.2-python3.11 (AIRFLOW_BASE_IMAGE)
#   flex-standin/postgres:15-bookworm     for postgres:16 (POSTGRES_IMAGE)
#   flex-standin/redis:7.0-bookworm       for redis:7.2-bookworm (REDIS_IMAGE)
# Builds use the host's network (no bridge exists) and Docker's layer cache: a rerun with an unchanged
# requirements.lock rebuilds nothing. Dangling images left by a rebuild are removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=scripts/compose/standin
BASE=flex-standin/debian:bookworm

bash scripts/compose/rootfs.sh "$BASE"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$HERE"/*.sh requirements.lock "$ctx"/
# The host's local CA certificates (how this machine reaches PyPI), trusted by the Airflow stand-in too.
mkdir "$ctx/ca" && touch "$ctx/ca/.keep"
cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true

build() {  # build TAG DOCKERFILE
  local started=$SECONDS
  if ! nice -n 10 docker build --network host -q --build-arg "BASE_IMAGE=$BASE" -t "$1" -f "$HERE/$2" "$ctx" \
    >"$ctx/build.log" 2>&1; then
    tail -30 "$ctx/build.log" >&2
    return 1
  fi
  echo "images: $1 ($((SECONDS - started)) s)"
}
build flex-standin/postgres:15-bookworm postgres.Dockerfile
build flex-standin/redis:7.0-bookworm redis.Dockerfile
build flex-standin/airflow:3.3.2-python3.11 airflow.Dockerfile
docker image prune -f >/dev/null
