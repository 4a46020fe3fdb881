"""Disparity figures on small hand-made frames: Wilson intervals, shares, the flag."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines import layout
from pipelines.disparity import (
    WINDOW_DAYS,
    _declarations,
    _outcomes,
    disparity_figures,
    disparity_rows,
    inspected_items,
    night_figures,
    render_html,
    run_report_link,
    size_band,
    wilson,
    with_groups,
    write_night_report,
)
from pipelines.settings import Settings, load_settings


def _items(group: str, n: int, **flags: int) -> pl.DataFrame:
    """`n` items of one origin country; flags give how many of them are True (the first ones)."""
    columns: dict[str, list[object]] = {
        "origin_country": [group] * n,
        "origin_region": ["Asia" if group == "AA" else "Europe"] * n,
        "trader_size": ["1-9 items"] * n,
        "mode": ["sea"] * n,
    }
    for flag in ("selected", "inspected", "finding", "random"):
        columns[flag] = [i < flags.get(flag, 0) for i in range(n)]
    return pl.DataFrame(columns)


def test_wilson_matches_the_textbook_interval() -> None:
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4)
    assert high == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.1 < high < 0.2


def test_a_group_selected_beyond_its_random_sample_findings_is_flagged() -> None:
    # Tonight: AA gets 8 of 10 selections, BB 2.
    selection = pl.concat([_items("AA", 10, selected=8), _items("BB", 10, selected=2)])
    # Window: random inspections found 2 in AA and 18 in BB.
    window = pl.concat(
        [
            _items("AA", 40, inspected=40, random=40, finding=2),
            _items("BB", 40, inspected=40, random=40, finding=18),
        ]
    )
    rows, reference = disparity_rows(selection, window, "origin_country")
    assert reference == "random sample"
    by_group = {r["group"]: r for r in rows}
    aa, bb = by_group["AA"], by_group["BB"]
    assert aa["selection_share"]["value"] == pytest.approx(0.8)
    assert aa["selection_share"]["low"] == pytest.approx(wilson(8, 10)[0], abs=1e-6)
    assert aa["random_finding_share"]["value"] == pytest.approx(0.1)
    assert aa["random_finding_share"]["high"] == pytest.approx(wilson(2, 20)[1], abs=1e-6)
    assert aa["selection_rate"]["value"] == pytest.approx(0.8)
    assert aa["inspection_rate"]["value"] == pytest.approx(1.0)
    assert aa["finding_rate"]["value"] == pytest.approx(0.05)
    assert aa["flag"] is True
    assert bb["flag"] is False


def test_overlapping_intervals_are_not_flagged() -> None:
    selection = pl.concat([_items("AA", 10, selected=6), _items("BB", 10, selected=4)])
    window = pl.concat(
        [
            _items("AA", 40, inspected=40, random=40, finding=4),
            _items("BB", 40, inspected=40, random=40, finding=6),
        ]
    )
    rows, _ = disparity_rows(selection, window, "origin_country")
    assert not any(r["flag"] for r in rows)


def test_few_random_findings_fall_back_to_all_inspections() -> None:
    selection = _items("AA", 10, selected=5)
    window = pl.concat(
        [_items("AA", 30, inspected=30, finding=10, random=3), _items("BB", 30, inspected=30)]
    )
    rows, reference = disparity_rows(selection, window, "origin_country")
    assert reference == "all inspections"
    assert {r["group"] for r in rows} == {"AA", "BB"}
    bb = next(r for r in rows if r["group"] == "BB")
    assert bb["selected"] == 0 and bb["items"] == 0 and bb["finding_rate"]["value"] == 0.0


def test_figures_name_every_dimension_and_render() -> None:
    selection = pl.concat([_items("AA", 10, selected=8), _items("BB", 10, selected=2)])
    window = pl.concat(
        [
            _items("AA", 40, inspected=40, random=40, finding=2),
            _items("BB", 40, inspected=40, random=40, finding=18),
        ]
    )
    about = {"kind": "night", "date": "2026-01-02", "selected_means": "red or yellow"}
    about["window"] = {"first": "2025-10-04", "last": "2026-01-01"}
    figures = disparity_figures(selection, window, about)
    assert set(figures["dimensions"]) == {"origin_country", "origin_region", "trader_size", "mode"}
    assert {(f["dimension"], f["group"]) for f in figures["flags"]} >= {("origin_country", "AA")}
    assert figures["totals"]["random_findings"] == 20
    page = render_html(figures)
    assert "AA" in page and "BB" in page and "data:image/png;base64," in page


def test_an_outcome_without_item_no_covers_every_item_of_its_declaration() -> None:
    items = pl.DataFrame({"declaration_id": ["D1", "D1", "D2"], "item_no": [1, 2, 1]})
    outcomes = pl.DataFrame(
        {
            "declaration_id": ["D1", "D2"],
            "item_no": [None, 1],
            "result": ["finding", "no_finding"],
            "selection_reason": ["random", "risk"],
        },
        schema_overrides={"item_no": pl.Int64},
    )
    marked = inspected_items(items, outcomes).sort("declaration_id", "item_no")
    assert marked["inspected"].to_list() == [True, True, True]
    assert marked["finding"].to_list() == [True, True, False]
    assert marked["random"].to_list() == [True, True, False]


def test_size_bands() -> None:
    frame = pl.DataFrame({"n": [1, 9, 10, 150, 5000]})
    bands = frame.select(size_band(pl.col("n")))["literal"].to_list()
    assert bands == ["1-9 items", "1-9 items", "10-99 items", "100-999 items", "1000+ items"]


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_night_report_reads_the_zones_and_is_linked(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    night = date(2026, 2, 1)
    # Five days of history from two origins, then tonight's list: CN items selected, DE not.
    for offset in range(6):
        day = night - timedelta(days=5 - offset)
        ids = [f"{day.day}-{i}" for i in range(4)]
        pl.DataFrame(
            {
                "declaration_id": ids,
                "item_no": [1] * 4,
                "filed_at": [datetime(day.year, day.month, day.day, 9, tzinfo=UTC)] * 4,
                "country_of_origin": ["CN", "CN", "DE", "DE"],
                "mode": ["sea"] * 4,
                "consignee_id": ["T1", "T2", "T3", "T3"],
            }
        ).write_parquet(_file(layout.staged_declarations_file(settings, day)))
        if day < night:
            # One random inspection per origin a day: CN's never finds, DE's always does.
            pl.DataFrame(
                {
                    "declaration_id": ids[1::2],
                    "item_no": [1, 1],
                    "result": ["no_finding", "finding"],
                    "selection_reason": ["random", "random"],
                }
            ).write_parquet(_file(layout.staged_outcomes_file(settings, day)))
    lanes = ["red", "yellow", "green", "green"]
    pl.DataFrame({"declaration_id": ids, "item_no": [1] * 4, "lane": lanes}).write_parquet(
        _file(layout.lists_dir(settings, night) / layout.LIST_FILE)
    )

    figures = night_figures(settings, night)
    countries = {r["group"]: r for r in figures["dimensions"]["origin_country"]}
    assert set(countries) == {"CN", "DE"}
    assert countries["CN"]["selection_share"]["value"] == 1.0
    assert countries["CN"]["selection_rate"]["value"] == 1.0
    assert countries["DE"]["random_finding_share"]["value"] == 1.0
    assert countries["CN"]["inspection_rate"]["value"] == pytest.approx(5 / 10)
    assert figures["reference"] == "random sample"
    assert {r["group"] for r in figures["dimensions"]["origin_region"]} == {"Asia", "Europe"}
    # T3 files two items a day: 12 in the window, the others 6.
    sizes = {r["group"] for r in figures["dimensions"]["trader_size"]}
    assert sizes == {"1-9 items", "10-99 items"}
    # All of tonight's selections and none of the findings, but two selections are too few:
    # the intervals (2/2 from 0.34, 0/5 up to 0.43) overlap, so nothing is flagged.
    assert (
        countries["CN"]["selection_share"]["low"] < countries["CN"]["random_finding_share"]["high"]
    )
    assert figures["flags"] == []
    page = write_night_report(settings, night)
    assert page.name == "disparity.html" and "CN" in page.read_text(encoding="utf-8")
    assert "disparity.html" in run_report_link(settings, night)


def _whole_frame_figures(settings: Settings, night: date) -> dict[str, object]:
    """The night's figures from whole item frames, as before the window was counted in DuckDB."""
    first = night - timedelta(days=WINDOW_DAYS)
    tonight = _declarations(settings, [night])
    history = _declarations(settings, [first + timedelta(days=i) for i in range(WINDOW_DAYS)])
    traders = pl.concat([history, tonight])
    ranked = pl.read_parquet(layout.lists_dir(settings, night) / layout.LIST_FILE).select(
        "declaration_id",
        pl.col("item_no").cast(pl.Int64),
        pl.col("lane").is_in(["red", "yellow"]).alias("selected"),
    )
    selection = with_groups(
        ranked.join(tonight, on=["declaration_id", "item_no"], how="left"), traders
    ).with_columns(pl.lit(False).alias(f) for f in ("inspected", "finding", "random"))
    window = with_groups(
        inspected_items(history, _outcomes(settings, first, night)), traders
    ).with_columns(pl.lit(False).alias("selected"))
    return disparity_figures(selection, window, {})


def test_the_night_counted_out_of_core_gives_the_whole_frames_figures(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    night = date(2026, 3, 10)
    rng = random.Random(7)
    origins = ["CN", "DE", "US", "IR", "XX"]  # XX: no region in the country table
    for back in range(6, -1, -1):
        day = night - timedelta(days=back)
        # Some of yesterday's declarations are filed again today, amended, and three of
        # today's twice in the same file: the latest filing counts.
        ids = [f"{day.day}-{i}" for i in range(40)] + [f"{day.day - 1}-{i}" for i in range(5)]
        ids += ids[:3]
        frame = pl.DataFrame(
            {
                "declaration_id": ids,
                "item_no": [1 + i % 2 for i in range(len(ids) - 3)] + [1, 2, 1],
                "filed_at": [datetime(day.year, day.month, day.day, 9, tzinfo=UTC)] * len(ids),
                "country_of_origin": [rng.choice(origins) for _ in ids],
                "mode": [rng.choice(["sea", "air", None]) for _ in ids],
                "consignee_id": [rng.choice(["T1", "T2", "T3", None]) for _ in ids],
            }
        )
        if back == 3:
            frame = frame.drop("mode")  # a file without the column: its items' mode unknown
        frame.write_parquet(_file(layout.staged_declarations_file(settings, day)))
        if back:
            inspected = rng.sample(ids, 12)
            pl.DataFrame(
                {
                    "declaration_id": inspected,
                    # Every third covers the whole declaration.
                    "item_no": [None if i % 3 == 0 else 1 + i % 2 for i in range(12)],
                    "result": [rng.choice(["finding", "no_finding", None]) for _ in inspected],
                    "selection_reason": [rng.choice(["random", "risk"]) for _ in inspected],
                },
                schema_overrides={"item_no": pl.Int64},
            ).write_parquet(_file(layout.staged_outcomes_file(settings, day)))
    listed = [*ids[:30], "not-staged"]
    pl.DataFrame(
        {
            "declaration_id": listed,
            "item_no": [1 + i % 2 for i in range(len(listed))],
            "lane": [rng.choice(["red", "yellow", "green"]) for _ in listed],
        }
    ).write_parquet(_file(layout.lists_dir(settings, night) / layout.LIST_FILE))

    figures = night_figures(settings, night)
    expected = _whole_frame_figures(settings, night)
    for key in ("dimensions", "totals", "flags", "reference", "confidence"):
        assert figures[key] == expected[key], key
    assert figures["totals"]["window_items"] == 6 * 40 + 5  # amended items counted once
    assert figures["totals"]["inspected"] > 0
    assert "1 list items have no staged declaration" in " ".join(figures["notes"])
    # DuckDB's scratch folder is gone.
    assert not list(layout.run_reports(settings).glob(".*"))
