"""Apache Airflow provider for Flex (FlexFactor) payment recovery: REST API and SFTP batch exchange."""

from __future__ import annotations

__version__ = "0.1.0"
