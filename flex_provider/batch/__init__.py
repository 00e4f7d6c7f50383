"""
The SFTP batch channel: file writer, delivery ledger, outbound-file parser.

The writer works on whole columns: ``source`` (the extract as Arrow), ``columns`` (the row layout read
from the request models), ``coerce`` (casts), ``checks`` (the rules), ``reasons`` (the reject list),
``encode`` (JSON and CSV rows), ``files`` (cutting and writing), ``manifest`` (what is read back),
``upload`` (the pipelined ship) and ``writer`` (``BatchWriter``, the public entry point).
"""

from __future__ import annotations

#: Outbound files Flex writes (acknowledgements, results); shared by the sensor and its trigger.
OUTBOUND_PATTERNS: tuple[str, ...] = ("ack_*.json", "result_*.json")


def ack_name(inbound_name: str) -> str:
    """Name of the acknowledgement Flex writes for an inbound batch file (ours: docs/batch-files.md)."""
    stem = inbound_name.rsplit(".", 1)[0] if "." in inbound_name else inbound_name
    return f"ack_{stem}.json"
