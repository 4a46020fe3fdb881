"""The seed spread of `benchmarks.model_options`: what a choice must beat (decision 0045)."""

from __future__ import annotations

from typing import Any

from benchmarks.model_options import CHOSEN, SEEDS, PlainBaseline, project_option, seed_summary


def _recall(found: tuple[int, int, int], threats: int) -> dict[str, float]:
    return {f"all@{rate}": n / threats for rate, n in zip(("1%", "2%", "5%"), found, strict=True)}


def test_the_first_seed_is_the_default_so_one_seed_gives_the_figures_as_before() -> None:
    option = project_option(CHOSEN)
    assert SEEDS[0] == CHOSEN.seed
    assert option.seeded(SEEDS[0]) == option
    other = option.seeded(SEEDS[1])
    assert other.params.seed == SEEDS[1]
    assert other.params.learning_rate == CHOSEN.learning_rate
    assert PlainBaseline().seeded(7).seed == 7


def test_seed_summary_gives_each_splits_mean_and_range_over_seeds() -> None:
    results: dict[str, Any] = {
        "a/tell-tale/1": {
            "split": "tuning",
            "threats": 10,
            "chosen/seeds": {"1": _recall((8, 9, 10), 10), "2": _recall((6, 9, 10), 10)},
            "plain/seeds": {"1": _recall((5, 7, 9), 10)},
        },
        "b/tell-tale/2": {
            "split": "tuning",
            "threats": 20,
            "chosen/seeds": {"1": _recall((10, 15, 20), 20), "2": _recall((11, 16, 20), 20)},
        },
        "c/ordinary-wording/3": {
            "split": "held_out",
            "threats": 5,
            "chosen/seeds": {"1": _recall((4, 5, 5), 5), "2": _recall((5, 5, 5), 5)},
        },
    }
    text = seed_summary(results)
    # Seed 1 finds 18 at 1 %, seed 2 finds 17: mean 17.5, range 17-18.
    assert "| tuning | chosen | 2 | 2 | 30 | 17.5 (17-18) | 24.5 (24-25) | 30.0 (30-30) |" in text
    assert "| held_out | chosen | 2 | 1 | 5 | 4.5 (4-5) | 5.0 (5-5) | 5.0 (5-5) |" in text
    # An option missing on a world of the split has no total there rather than a partial one.
    assert "| tuning | plain |" not in text
