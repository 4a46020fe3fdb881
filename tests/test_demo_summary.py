"""What the demo says about detection beyond its own world: the shipped held-out figures."""

from __future__ import annotations

from pathlib import Path


def test_the_demo_quotes_the_held_out_figures_of_the_shipped_results(tmp_path: Path) -> None:
    from pipelines.demo import DETECTION_RESULTS, held_out_line

    line = held_out_line()
    assert line is not None
    shipped = DETECTION_RESULTS.read_text(encoding="utf-8")
    rank = next(r for r in shipped.splitlines() if r.startswith("| held_out | rank |"))
    first_cell = rank.split("|")[4].strip().split(" ")[0]
    assert f"the list's order finds {first_cell} / " in line
    assert "benchmarks/results/detection.md" in line
    # A results file without the held-out rows gives no sentence rather than a wrong one.
    bare = tmp_path / "benchmarks" / "results" / "detection.md"
    bare.parent.mkdir(parents=True)
    bare.write_text("# Cross-world detection\n\n| split | method |\n", encoding="utf-8")
    assert held_out_line(bare) is None
    assert held_out_line(tmp_path / "missing.md") is None


def test_the_demo_adds_the_fresh_held_out_figures_when_their_results_are_shipped(
    tmp_path: Path,
) -> None:
    from pipelines.demo import DETECTION_RESULTS, held_out_line

    folder = tmp_path / "benchmarks" / "results"
    folder.mkdir(parents=True)
    fresh = folder / "detection-fresh-held-out.md"
    fresh.write_text(
        "| split | method | planted | @1% | @2% | @5% |\n"
        "| held_out | rank | 77 | 0.91 (0.2) | 0.97 (0.1) | 1.00 (0.05) |\n"
        "| held_out | baseline | 77 | 0.70 (0.2) | 0.90 (0.1) | 0.99 (0.05) |\n",
        encoding="utf-8",
    )
    second = folder / "detection-second-fresh.md"
    second.write_text(fresh.read_text(encoding="utf-8").replace("77", "81"), encoding="utf-8")
    line = held_out_line(DETECTION_RESULTS, (fresh, tmp_path / "none.md", second))
    assert line is not None
    assert "fresh held-out worlds no choice was made on (77 planted threats" in line
    assert ": 0.91 / 0.97 / 1.00, a plain LightGBM 0.70 / 0.90 / 0.99." in line
    assert "(81 planted threats, benchmarks/results/detection-second-fresh.md)" in line
    assert "fresh" not in (held_out_line(DETECTION_RESULTS, (tmp_path / "none.md",)) or "")
