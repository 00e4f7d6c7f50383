"""The provider's one file digest: SHA-256 of a file, read in blocks so memory stays flat at any size."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["BLOCK_SIZE", "sha256_file"]

BLOCK_SIZE = 1 << 20


def sha256_file(path: str | os.PathLike[str], *, block_size: int = BLOCK_SIZE) -> str:
    """Hex SHA-256 of the file at ``path`` (batch files, rejects files, sidecars, manifests)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
    return digest.hexdigest()
