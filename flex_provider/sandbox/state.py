"""The sandbox state: one object the REST routes, the SFTP batch processor and the webhook sender share.

Each idea lives in its own module and adds its methods as a mixin: the store and its events
(``order_store``), idempotency keys (``idempotent``), tokens (``auth``), the card vault (``vault``),
new orders and transmits (``evaluate``), refunds/cancels/captures (``order_actions``), the clock's
expiry of MIT orders (``expiry``) and the reads (``order_queries``). Every public method returns
``(http_status, json_body)`` the way the API answers, so a batch row and an API call behave the same.
"""

from __future__ import annotations

from flex_provider.sandbox.auth import AuthMixin
from flex_provider.sandbox.credentials import MerchantCredentials
from flex_provider.sandbox.evaluate import EvaluateMixin
from flex_provider.sandbox.order_actions import OrderActionsMixin
from flex_provider.sandbox.order_queries import OrderQueriesMixin
from flex_provider.sandbox.order_store import OrderEvent
from flex_provider.sandbox.vault import TEST_CARDS

__all__ = ["TEST_CARDS", "MerchantCredentials", "OrderEvent", "SandboxState"]


class SandboxState(AuthMixin, EvaluateMixin, OrderActionsMixin, OrderQueriesMixin):
    """Everything the sandbox remembers, in ``DIR/sandbox.sqlite3`` (see :class:`OrderStore`)."""
