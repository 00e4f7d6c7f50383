"""A sample merchant database (schema + demo data) that the sample DAGs read declines from and write outcomes to."""

from __future__ import annotations
