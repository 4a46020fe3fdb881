"""The `mapping` verb(s) of the cargo-risk command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's verbs to the app (not built yet)."""
