"""The default Airflow connection ids of the provider, defined once (hooks, operators, the UI view)."""

from __future__ import annotations

#: Flex's REST API (type ``flex``): app key + secret, ``mid`` and the webhook secret in extras.
FLEX_CONN_ID = "flex_default"
#: The SFTP exchange (type ``sftp``): key auth, pinned host key, ``inbound_dir`` / ``outbound_dir``.
SFTP_CONN_ID = "flex_sftp_default"
#: The merchant's database (any SQL connection).
MERCHANT_CONN_ID = "flex_merchant_db"
#: The ledger's database (any SQL connection; may be the merchant's).
LEDGER_CONN_ID = "flex_ledger_db"

__all__ = ["FLEX_CONN_ID", "LEDGER_CONN_ID", "MERCHANT_CONN_ID", "SFTP_CONN_ID"]
