"""``python -m flex_provider.sandbox serve ...``."""

from __future__ import annotations

from flex_provider.sandbox.cli import app

if __name__ == "__main__":
    app(prog_name="flex-sandbox")
