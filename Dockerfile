# The official Airflow image with airflow-provider-flex (and its celery + postgres extras) installed.
# Built by docker-compose.yaml; see docs/deployment.md. Build context: the repository root.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# Folders the stack mounts named volumes on: a fresh named volume takes the owner and mode of the image
# folder it is mounted over, so they belong to the image's airflow user (group 0, group-writable, which
# also covers an AIRFLOW_UID other than 50000 running with group 0).
USER root
RUN mkdir -p /opt/flex /sandbox /opt/airflow/flex_batches /opt/airflow/auth \
    && chown -R airflow:0 /opt/flex /sandbox /opt/airflow/flex_batches /opt/airflow/auth \
    && chmod -R g+rwX /opt/flex /sandbox /opt/airflow/flex_batches /opt/airflow/auth
USER airflow

COPY --chown=airflow:0 pyproject.toml README.md /opt/flex/
COPY --chown=airflow:0 flex_provider /opt/flex/flex_provider
# Pin the image's own Airflow so pip never up- or downgrades it while resolving the provider.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/flex[celery,postgres]"

# The sample DAGs, used when FLEX_DAGS_DIR is not bind-mounted over them.
COPY --chown=airflow:0 dags /opt/airflow/dags
