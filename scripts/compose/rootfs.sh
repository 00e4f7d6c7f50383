#!/usr/bin/env bash
# The stand-in base image: Debian bookworm from Debian's own packages (debootstrap), `docker import`ed.
#
# No container registry is reachable here, so `debian:bookworm` cannot be pulled. debootstrap builds the
# same minimal system from deb.debian.org; its tarball is cached (FLEX_COMPOSE_CACHE) so a rerun imports
# it again only when the image is gone, and skips both when the image exists.
set -euo pipefail
IMAGE="${1:-flex-standin/debian:bookworm}"
CACHE="${FLEX_COMPOSE_CACHE:-/var/cache/flex-compose}"
MIRROR="${FLEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TARBALL="$CACHE/bookworm-minbase.tar"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "rootfs: $IMAGE present"
  exit 0
fi
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$CACHE"
  work="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "rootfs: debootstrap bookworm (minbase) from $MIRROR"
  nice -n 10 debootstrap --variant=minbase --include=ca-certificates bookworm "$work" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # Like the official image: no apt lists, no package cache, no documentation the image never needs.
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/cache/apt/archives/*.deb
  tar -C "$work" --numeric-owner -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi
echo "rootfs: docker import $TARBALL as $IMAGE"
docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$TARBALL" "$IMAGE" >/dev/null
