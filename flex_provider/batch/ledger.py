"""The batch ledger's old import path: everything now lives in :mod:`flex_provider.ledger`."""

from __future__ import annotations

from flex_provider import ledger as _ledger
from flex_provider.ledger import *  # the same names, for old imports

__all__ = list(_ledger.__all__)
