"""Two agencies' homes on one simulated world: A's seizure, shared, makes B's next night select.

Both homes start as copies of one simulated world (14 days of history, a champion model, the
shipped watch lists); each then has its own keys and partners. Agency A records a seizure of
arms parts from a consignor whose shipment is in B's next night, where B's own model left it
green. A's nightly export signs a bundle; B's landing also receives a tampered copy, an expired
bundle and one from an issuer B does not know. B's import refuses those three with their reasons
and imports the good one, and B's night then sends the consignor's item red with a reason naming
A's alert.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from contracts import threats
from pipelines import layout, nightly
from pipelines.alerts.export import export_bundle
from pipelines.alerts.keys import SharingPolicy, add_partner, init_keys, keys_dir, load_identity
from pipelines.alerts.nightly import export_partner_alerts, import_landing_alerts
from pipelines.outcomes import import_outcome_files
from pipelines.settings import Settings
from tests.factories.simulated_home import small_settings, trained_home

START = date(2026, 1, 1)
DAYS = 15
NIGHT = START + timedelta(days=DAYS - 1)
SEIZED_ON = NIGHT - timedelta(days=1)
SALW = threats.THREATS[1].name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("world") / "home"
    trained_home(home, START, DAYS, 300, seed=11)
    return home


def _copy(world: Path, target: Path) -> Settings:
    shutil.copytree(world, target)
    return small_settings(target)


def _staged(settings: Settings, until: date) -> pl.DataFrame:
    files = layout.files_until(
        layout.staged_declarations(settings), layout.DECLARATIONS_FILE, until
    )
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _target(control: Settings) -> tuple[str, pl.DataFrame]:
    """A consignor left green in B's night that shipped before: (its name, its earlier items)."""
    ranked = pl.read_parquet(layout.lists_dir(control, NIGHT) / layout.LIST_FILE)
    night = _staged(control, NIGHT).filter(pl.col("filed_at").dt.date() == NIGHT)
    history = _staged(control, SEIZED_ON).filter(pl.col("filed_at").dt.date() < SEIZED_ON)
    lanes = (
        night.join(ranked, on=["declaration_id", "item_no"])
        .group_by("shipper_name")
        .agg((pl.col("lane") == "green").all().alias("all_green"))
    )
    candidates = (
        lanes.filter("all_green")
        .join(history.group_by("shipper_name").len(), on="shipper_name")
        .sort("len", "shipper_name", descending=[True, False])
    )
    name = candidates["shipper_name"][0]
    return name, history.filter(pl.col("shipper_name") == name).sort("filed_at")


def test_a_partner_seizure_selects_the_consignors_next_shipment(
    world: Path, tmp_path: Path
) -> None:
    control = _copy(world, tmp_path / "control")
    nightly.run_night(control, NIGHT)
    consignor, earlier = _target(control)

    a = _copy(world, tmp_path / "a")
    b = _copy(world, tmp_path / "b")
    init_keys(a, "agency-a")
    init_keys(b, "agency-b")
    add_partner(a, "agency-b", keys_dir(b) / "public.pem", SharingPolicy())
    add_partner(b, "agency-a", keys_dir(a) / "public.pem", SharingPolicy())

    # A's seizure: its inspectors find arms parts in the consignor's last shipment to A.
    seized = earlier.row(-1, named=True)
    seizure = tmp_path / "a_outcomes.csv"
    pl.DataFrame(
        {
            "declaration_id": [seized["declaration_id"]],
            "item_no": [seized["item_no"]],
            "inspected_at": [f"{SEIZED_ON}T12:00:00Z"],
            "selection_reason": ["manual"],
            "result": ["finding"],
            "finding_category": [SALW],
            "inspector_id": ["A-7"],
            "notes": [""],
        }
    ).write_csv(seizure)
    assert sum(import_outcome_files([seizure], a).imported.values()) == 1
    exported = export_partner_alerts(a, SEIZED_ON)["exported"]["agency-b"]
    assert exported["seizures"] >= 1
    sent = Path(exported["file"])

    landing = layout.alerts_landing(b)
    landing.mkdir(parents=True)
    (landing / "a-good.json").write_bytes(sent.read_bytes())
    tampered = sent.read_text(encoding="utf-8").replace(consignor, consignor + " X")
    (landing / "a-tampered.json").write_text(tampered, encoding="utf-8")
    export_bundle(
        a,
        load_identity(a),
        SharingPolicy(),
        landing / "a-expired.json",
        start=SEIZED_ON - timedelta(days=6),
        end=SEIZED_ON,
        issued_on=SEIZED_ON - timedelta(days=5),
        valid_days=3,
        recipient="agency-b",
    )
    stranger = _copy(world, tmp_path / "c")
    init_keys(stranger, "agency-c")
    shutil.copyfile(seizure, tmp_path / "c_outcomes.csv")
    import_outcome_files([tmp_path / "c_outcomes.csv"], stranger)
    export_bundle(
        stranger,
        load_identity(stranger),
        SharingPolicy(),
        landing / "c-unknown.json",
        start=SEIZED_ON,
        end=SEIZED_ON,
    )

    imported = import_landing_alerts(b, NIGHT)
    assert imported["imported"] == [exported["bundle_id"]]
    refused = imported["refused"]
    assert "signature does not verify" in refused["a-tampered.json"]
    assert "expired on" in refused["a-expired.json"]
    assert "unknown issuer 'agency-c'" in refused["c-unknown.json"]

    nightly.run_night(b, NIGHT)
    ranked = pl.read_parquet(layout.lists_dir(b, NIGHT) / layout.LIST_FILE)
    night = _staged(b, NIGHT).filter(
        (pl.col("filed_at").dt.date() == NIGHT) & (pl.col("shipper_name") == consignor)
    )
    selected = night.select("declaration_id", "item_no").join(
        ranked, on=["declaration_id", "item_no"]
    )
    assert selected.height >= 1
    assert selected["lane"].to_list() == ["red"] * selected.height
    assert selected["selection_reason"].to_list() == ["watchlist"] * selected.height
    for reason in selected["reasons"]:
        assert "PARTNER-AGENCY-A PA-" in reason, reason
    control_ranked = pl.read_parquet(layout.lists_dir(control, NIGHT) / layout.LIST_FILE)
    before = selected.select("declaration_id", "item_no").join(
        control_ranked, on=["declaration_id", "item_no"]
    )
    assert before["lane"].to_list() == ["green"] * selected.height
