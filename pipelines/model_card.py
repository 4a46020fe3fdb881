"""The model card of a freshly trained version, written as part of every training.

A card needs an evaluation (the version, and the champion when there is another one, on the
version's validation window), so training evaluates first. A card that cannot be made (no
inspected rows in the window, say) is logged and does not fail the training: the model is good
without its card, and `cargo-risk models card` can write it later.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from pipelines.settings import Settings

log = logging.getLogger(__name__)


def card_after_training(settings: Settings, version: str, evaluated_at: datetime) -> Path | None:
    """Evaluate `version` against the champion (alone when it is the champion) and write its
    card; the card's path, or None when it could not be made."""
    from pipelines.lifecycle import current_champion, evaluate_version, write_card

    try:
        evaluate_version(settings, version, current_champion(settings), evaluated_at)
        return write_card(settings, version)
    except (FileNotFoundError, ValueError) as error:
        log.warning("model card of %s not written: %s", version, error)
        return None
