"""The model tests' synthetic world (tests/factories/model_world.py) plants what it says."""

from __future__ import annotations

from tests.factories.model_world import make_world


def test_world_plants_rare_threats_and_a_random_sample() -> None:
    world = make_world(days=4, rows_per_day=2000)
    base_rate = world.truth["truth_cbrn"].mean()
    assert isinstance(base_rate, float)
    assert 0.001 < base_rate < 0.05
    reasons = world.outcomes["selection_reason"].value_counts().sort("selection_reason")
    assert reasons["selection_reason"].to_list() == ["random", "rule"]
    assert world.features.height == 8000
