"""The SFTP batch channel: file writer, delivery ledger, outbound-file parser."""

from __future__ import annotations

#: Outbound files Flex writes (acknowledgements, results); shared by the sensor and its trigger.
OUTBOUND_PATTERNS: tuple[str, ...] = ("ack_*.json", "result_*.json")
