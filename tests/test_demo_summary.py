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
