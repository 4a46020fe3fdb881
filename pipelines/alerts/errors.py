"""The one error of the alert exchange."""

from __future__ import annotations


class AlertError(ValueError):
    """A bundle, key or partner that cannot be used; the message is one line with the reason."""
