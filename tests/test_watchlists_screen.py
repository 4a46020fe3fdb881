from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.settings import Settings, load_settings
from pipelines.watchlists.national import load_national
from pipelines.watchlists.screen import DECLARATION_HIT_SCHEMA, screen_declarations
from pipelines.watchlists.shipped import NATIONAL_SAMPLE
from pipelines.watchlists.store import store_list


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    chosen = load_settings(environ={}, home=tmp_path)
    store_list(load_national(NATIONAL_SAMPLE, "national-xx", "2026-11-01"), chosen)
    return chosen


def _declarations() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "declaration_id": ["D1", "D1", "D2", "D3"],
            "item_no": [1, 2, 1, 1],
            "shipper_name": [
                "Kestrel Dual Use Components L.L.C.",
                "Kestrel Dual Use Components L.L.C.",
                "Hamburg Maschinenbau GmbH",
                "Nordic Timber AB",
            ],
            "shipper_country": ["AE", "AE", "DE", "SE"],
            "consignee_name": [
                "Acme Imports Ltd",
                "Acme Imports Ltd",
                "Quist, Orrin",
                "Volkov Tools",
            ],
            "consignee_country": ["GB", "GB", "SE", "RU"],
        }
    )


def test_hits_name_the_role_entry_and_score(settings: Settings) -> None:
    hits = screen_declarations(_declarations(), settings)
    assert hits.schema == pl.Schema(DECLARATION_HIT_SCHEMA)
    assert hits.select("declaration_id", "item_no", "party_role", "entry_id").rows() == [
        ("D1", 1, "shipper", "NAT-0001"),
        ("D1", 2, "shipper", "NAT-0001"),
        ("D2", 1, "consignee", "NAT-0004"),
    ]
    first = hits.row(0, named=True)
    assert first["reason"].startswith(
        "shipper matches NATIONAL-XX NAT-0001 'Kestrel Dual-Use Components LLC' (1.00; name 1.00"
    )
    assert "country match AE" in first["reason"]


def test_no_list_loaded_gives_no_hits(tmp_path: Path) -> None:
    empty = load_settings(environ={}, home=tmp_path / "empty")
    hits = screen_declarations(_declarations(), empty)
    assert hits.is_empty() and hits.schema == pl.Schema(DECLARATION_HIT_SCHEMA)


def test_threshold_is_respected(settings: Settings) -> None:
    strict = screen_declarations(_declarations(), settings, threshold=1.0)
    assert set(strict.get_column("entry_id")) <= {"NAT-0001", "NAT-0004"}
    assert (strict.get_column("score") >= 1.0).all()


def _cache_files(settings: Settings) -> list[Path]:
    from pipelines.watchlists.index_cache import cache_folder

    return sorted(cache_folder(settings).glob("*.pickle"))


def test_index_is_kept_on_disk_and_reused_until_a_list_changes(settings: Settings) -> None:
    from pipelines.watchlists.index_cache import cached_index, index_fingerprint

    first = screen_declarations(_declarations(), settings)
    (kept,) = _cache_files(settings)
    assert kept.stem == index_fingerprint(settings)
    written = kept.stat().st_mtime_ns
    assert len(cached_index(settings)) > 0
    assert screen_declarations(_declarations(), settings).equals(first)
    assert kept.stat().st_mtime_ns == written  # loaded, not rebuilt
    store_list(load_national(NATIONAL_SAMPLE, "national-yy", "2026-11-02"), settings)
    assert index_fingerprint(settings) != kept.stem
    screen_declarations(_declarations(), settings)
    (replaced,) = _cache_files(settings)
    assert replaced.stem == index_fingerprint(settings) != kept.stem
    assert not kept.exists()


def test_unreadable_cached_index_is_rebuilt(settings: Settings) -> None:
    expected = screen_declarations(_declarations(), settings)
    (kept,) = _cache_files(settings)
    kept.write_bytes(b"not a pickle")
    assert screen_declarations(_declarations(), settings).equals(expected)
    assert kept.read_bytes() != b"not a pickle"


def test_screen_day_reads_the_staged_partition(settings: Settings) -> None:
    from datetime import date

    from pipelines.io import write_parquet
    from pipelines.watchlists.screen import screen_day

    day = date(2026, 11, 2)
    staged = _declarations().with_columns(pl.lit("sea").alias("mode"))
    write_parquet(
        staged,
        settings.zone("staging") / "declarations" / f"date={day}" / "declarations.parquet",
    )
    hits = screen_day(settings, day)
    assert hits.equals(screen_declarations(_declarations(), settings))
    with pytest.raises(FileNotFoundError, match="run the validate stage first"):
        screen_day(settings, date(2026, 11, 3))


def test_declarations_without_a_hit_get_the_empty_frame_of_the_full_path(
    settings: Settings,
) -> None:
    """Rows whose names hit nothing skip the joins and clearances: the frame they get has the
    schema (names, order and types) the full path gives when it has hits."""
    with_hits = screen_declarations(_declarations(), settings)
    none = screen_declarations(_declarations().filter(pl.col("declaration_id") == "D3"), settings)
    assert with_hits.height and none.is_empty()
    assert none.schema == with_hits.schema
    assert none.equals(with_hits.clear())
