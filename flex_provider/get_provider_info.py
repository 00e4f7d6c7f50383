"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from flex_provider import __version__


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
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Flex",
                "python-modules": ["flex_provider.sensors.order_status", "flex_provider.sensors.outbound"],
            }
        ],
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
