"""The model card is written by every training, and its reliability plot spreads the bins."""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib.pyplot as plt

from models.card import _reliability_plot
from models.registry import CARD_FILE
from models.training import TrainingParams
from pipelines.settings import Settings
from pipelines.train import train_models
from tests.factories.model_world import CREATED, FEATURES, LAST_TRAIN_DAY, PHRASES


def test_training_writes_the_card_of_the_new_version(model_home: Settings) -> None:
    first = train_models(
        model_home,
        LAST_TRAIN_DAY,
        CREATED,
        TrainingParams(num_boost_round=60),
        feature_names=FEATURES,
        phrases=PHRASES,
    )
    card = (first / CARD_FILE).read_text(encoding="utf-8")
    assert f"Model card {first.name}" in card
    assert "without a champion to compare with" in card
    challenger = train_models(
        model_home,
        LAST_TRAIN_DAY,
        datetime(2026, 2, 2, tzinfo=UTC),
        TrainingParams(num_boost_round=60),
        feature_names=FEATURES,
        phrases=PHRASES,
        promote=False,
    )
    second = (challenger / CARD_FILE).read_text(encoding="utf-8")
    assert f"against {first.name}" in second


def test_the_reliability_plot_spreads_near_zero_bins_on_log_axes() -> None:
    # A 1 % base rate: nine bins predict under 0.01, seven of them with no finding at all.
    bins = [{"predicted": 0.0005 * (i + 1), "observed": 0.0} for i in range(7)]
    bins += [{"predicted": 0.006, "observed": 0.004}, {"predicted": 0.009, "observed": 0.01}]
    bins += [{"predicted": 0.08, "observed": 0.07}]
    figure = _reliability_plot(bins, "cbrn")
    axis = figure.axes[0]
    assert axis.get_xscale() == "log" and axis.get_yscale() == "log"
    empty = axis.collections[0].get_offsets()
    assert len(empty) == 7
    # The empty bins keep their own predicted value: they no longer pile on one point.
    assert len({round(float(x), 6) for x, _ in empty}) == 7
    assert "7 bin(s) without a finding" in [t.get_text() for t in axis.get_legend().get_texts()]
    plt.close(figure)
