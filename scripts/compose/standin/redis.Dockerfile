# Stand-in for the official redis image, from Debian bookworm's redis-server (7.0; no registry here).
# Same interface as docker-compose.yaml uses it: `redis-server ...` as the command, data in /data,
# redis-cli on PATH; run as the redis user; protected mode off when no config file is given, as there.
ARG BASE_IMAGE=flex-standin/debian:bookworm
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
