"""Apache Airflow provider for Flex (FlexFactor) payment recovery: REST API and SFTP batch exchange."""

from __future__ import annotations

__version__ = "0.1.0"

# The provider's default Airflow connection ids, defined once: the hooks, operators, the UI view and the
# ``[flex]`` config defaults take them from here (this package is loaded before any DAG file is parsed,
# so they cost a parse nothing).
#: Flex's REST API (type ``flex``): app key + secret, ``mid`` and the webhook secret in extras.
FLEX_CONN_ID = "flex_default"
#: The SFTP exchange (type ``sftp``): key auth, pinned host key, ``inbound_dir`` / ``outbound_dir``.
SFTP_CONN_ID = "flex_sftp_default"
#: The merchant's database (any SQL connection).
MERCHANT_CONN_ID = "flex_merchant_db"
#: The ledger's database (any SQL connection; may be the merchant's).
LEDGER_CONN_ID = "flex_ledger_db"

__all__ = ["FLEX_CONN_ID", "LEDGER_CONN_ID", "MERCHANT_CONN_ID", "SFTP_CONN_ID", "__version__"]
