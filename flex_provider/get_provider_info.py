"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from flex_provider import FLEX_CONN_ID, LEDGER_CONN_ID, MERCHANT_CONN_ID, __version__


def get_provider_info() -> dict[str, Any]:
    """Return the provider description: modules, and the ``flex`` connection type with its UI form."""
    return {
        "package-name": "airflow-provider-flex",
        "name": "Flex",
        "description": "Flex (FlexFactor) payment recovery: declined MIT over SFTP batches and the REST API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Flex",
                "external-doc-url": "https://docs.flexfactor.io/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Flex",
                "python-modules": ["flex_provider.hooks.api", "flex_provider.hooks.sftp"],
            }
        ],
        "operators": [
            {
                "integration-name": "Flex",
                "python-modules": [
                    "flex_provider.operators.api",
                    "flex_provider.operators.batch",
                    "flex_provider.operators.extract",
                    "flex_provider.operators.ship",
                    "flex_provider.operators.mark",
                    "flex_provider.operators.outbound",
                    "flex_provider.operators.reconcile",
                    "flex_provider.operators.sweep",
                    "flex_provider.operators.project",
                    "flex_provider.operators.replay",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Flex",
                "python-modules": [
                    "flex_provider.sensors.order_status",
                    "flex_provider.sensors.outbound",
                ],
            }
        ],
        "notifications": ["flex_provider.notifications.oncall.FlexOnCallNotifier"],
        "triggers": [
            {
                "integration-name": "Flex",
                "python-modules": [
                    "flex_provider.triggers.order_status",
                    "flex_provider.triggers.outbound",
                    "flex_provider.triggers.webhook_events",
                ],
            }
        ],
        "config": {
            "flex": {
                "description": "Settings of the Flex provider's operators, sensors and webhook receiver.",
                "options": {
                    "batch_dir": {
                        "description": "Local folder for batch files, rejects and manifests (one subfolder "
                        "per kind and business date). Every worker must see the same folder: the extract "
                        "task writes the files another worker may ship.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airflow/flex_batches",
                        "default": "{AIRFLOW_HOME}/flex_batches",
                    },
                    "expiry_days": {
                        "description": "Rescue window: days after the business date until the default "
                        "expiryDateUtc of an evaluate row (Flex stops retrying after it).",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "21",
                        "default": "21",
                    },
                    "ack_poke_interval": {
                        "description": "Seconds between listings of the outbound folder while FlexAckSensor "
                        "waits for Flex's acknowledgements.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "30",
                    },
                    "ack_timeout": {
                        "description": "Seconds FlexAckSensor waits for the acknowledgements of a run's "
                        "uploads before it fails (the files stay uploaded; a rerun waits again).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "3600",
                        "default": "3600",
                    },
                    "merchant_conn_id": {
                        "description": "SQL connection of the merchant database the Flex UI page reads.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": MERCHANT_CONN_ID,
                        "default": MERCHANT_CONN_ID,
                    },
                    "ledger_conn_id": {
                        "description": "SQL connection of the ledger: the webhook receiver stores events there, the UI page "
                        "reads it. Unset: the receiver needs webhook_db_url.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": LEDGER_CONN_ID,
                        "default": None,
                    },
                    "webhook_conn_id": {
                        "description": "Flex connection whose webhook_secret extra verifies webhook signatures.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": FLEX_CONN_ID,
                        "default": FLEX_CONN_ID,
                    },
                    "webhook_db_url": {
                        "description": "SQLAlchemy URL of the webhook event store, instead of ledger_conn_id.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "postgresql://flex@db/ledger",
                        "default": None,
                    },
                    "webhook_public_hosts": {
                        "description": "Comma-separated Host headers the receiver accepts (its public names); empty: any.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "flex.example.com",
                        "default": "",
                    },
                    "webhook_tolerance_seconds": {
                        "description": "How far a webhook's signed date may be from now before it is refused.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "300",
                        "default": "300",
                    },
                    "webhook_max_body_bytes": {
                        "description": "Largest webhook body accepted.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "65536",
                        "default": "65536",
                    },
                    "webhook_notify_asset": {
                        "description": "Asset to emit an event for when webhooks arrive (starts flex_reconcile soon).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "flex_webhook_events",
                        "default": None,
                    },
                    "webhook_notify_api_url": {
                        "description": "Airflow API the receiver posts that asset event to.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "http://airflow-apiserver:8080",
                        "default": "http://127.0.0.1:8080",
                    },
                    "webhook_notify_username": {
                        "description": "User for that API call.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "flex-webhooks",
                        "default": None,
                    },
                    "webhook_notify_password": {
                        "description": "Password for that API call.",
                        "sensitive": True,
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": None,
                    },
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "flex",
                "hook-class-name": "flex_provider.hooks.api.FlexApiHook",
                "hook-name": "Flex",
                "ui-field-behaviour": {
                    # The port stays visible: Airflow's Test button sends the stored port back (0 when
                    # the field is hidden and empty), and a port that differs from the stored one is
                    # refused with "The host or port to test differs from the stored connection".
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "Base URL",
                        "port": "Port (the Base URL's)",
                        "login": "App key",
                        "password": "App secret",
                    },
                    "placeholders": {
                        "host": "https://api-sandbox.flexfactor.io/v1 (empty = Flex sandbox)",
                        "port": "443",
                        "login": "AppKey from Developers > Api Keys",
                        "password": "AppSecret",
                    },
                },
                "conn-fields": {
                    "mid": {
                        "label": "Merchant id (MID)",
                        "schema": {"type": ["string", "null"], "format": "uuid"},
                        "description": "Your MID (GUID); sent with every evaluate, transmit and batch file.",
                    },
                    "site_id": {
                        "label": "Site id",
                        "schema": {"type": ["string", "null"]},
                        "description": "Only when one MID has several sites or descriptors.",
                    },
                    "tokenization_key": {
                        "label": "Tokenization key",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "The 'environment' key for /tokenize.",
                    },
                    # "secret" in the name makes Airflow mask the value in the API and the edit form
                    # (the old name webhook_subscriber_key was shown in clear text).
                    "webhook_secret": {
                        "label": "Webhook subscriber key",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "Base64 key from Developers > Webhooks; verifies x-fc-* signatures.",
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 10, "default": 4},
                        "description": "Retries of 5xx, 429 and network errors, with the same idempotency key.",
                    },
                },
            }
        ],
    }
