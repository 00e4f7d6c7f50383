# Stand-in for apache/airflow:3.3.2-python3.11, built from Debian packages (no registry reachable here).
# Laid out like the official image where docker-compose.yaml and the Dockerfile depend on it: user
# airflow (uid 50000, group 0), AIRFLOW_HOME=/opt/airflow, AIRFLOW_VERSION set, `pip`, `python`,
# `airflow` and `celery` on PATH for that user, curl for the healthchecks, and the entrypoint
# `dumb-init -- /entrypoint` that waits for the metadata DB and runs `airflow <command>` (or bash/python).
# Python 3.11 is Debian bookworm's python3; Airflow and its dependencies are the versions of this
# repository's requirements.lock (the official image pins its own constraints instead).
ARG BASE_IMAGE=flex-standin/debian:bookworm
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv curl dumb-init procps >/dev/null \
    && rm -rf /var/lib/apt/lists/*
# This machine reaches PyPI through a TLS proxy whose CA the host trusts (/usr/local/share/ca-certificates):
# the image trusts the same local CAs, and pip/uv use the system store (as on the host).
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_VERSION=3.3.2 \
    AIRFLOW_UID=50000 \
    PYTHON_VERSION=3.11 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PATH=/home/airflow/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins \
    && chown -R airflow:0 /opt/airflow /home/airflow && chmod -R g+rwX /opt/airflow /home/airflow
USER airflow
# The official image installs into the airflow user's ~/.local; a venv there gives the same PATH.
RUN python3 -m venv /home/airflow/.local
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -q uv \
    && uv pip install --python /home/airflow/.local/bin/python --no-cache -q -r /tmp/requirements.lock \
    && (python -m compileall -q /home/airflow/.local/lib >/dev/null 2>&1 || true)
COPY airflow-entrypoint.sh /entrypoint
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
