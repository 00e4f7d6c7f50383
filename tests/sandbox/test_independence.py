"""The sandbox checks the provider, so the parts of it that judge the protocol use none of the provider's code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parents[2] / "flex_provider" / "sandbox"


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


#: Modules that play the merchant, not Flex: the demo checkout's backend writes the merchant's own tables.
MERCHANT_SIDE = {"checkout.py": ("flex_provider.merchant.schema",)}


CHECKED = sorted(p.relative_to(SANDBOX).as_posix() for p in SANDBOX.rglob("*.py"))


def test_every_sandbox_module_is_checked() -> None:
    """The modules the state, batch processor, API, schemas and webhooks were split into are checked below."""
    split = {"order_store.py", "idempotent.py", "auth.py", "vault.py", "evaluate.py", "order_actions.py",
             "expiry.py", "order_queries.py", "credentials.py", "state.py", "batches.py", "batch_files.py",
             "batch_results.py", "batch_admin.py", "problems.py", "schemas.py", "sense_schemas.py",
             "checkout_schemas.py", "faults.py", "admin.py", "api.py", "webhook_payload.py", "webhook_admin.py",
             "webhooks.py"}
    assert split <= set(CHECKED), sorted(split - set(CHECKED))


@pytest.mark.parametrize("name", CHECKED)
def test_sandbox_module_imports_no_provider_code(name: str) -> None:
    borrowed = {
        m for m in _imported_modules(SANDBOX / name)
        if m.startswith("flex_provider.") and not m.startswith("flex_provider.sandbox")
        and m not in MERCHANT_SIDE.get(name, ())
    }
    assert not borrowed, f"sandbox/{name} imports provider code: {sorted(borrowed)}"
