"""Local Flex sandbox: an independent emulator of Flex's API, SFTP batches and webhooks (docs/sandbox.md).

Test and demo tooling only; the provider's runtime code never imports this package.
"""

from __future__ import annotations
