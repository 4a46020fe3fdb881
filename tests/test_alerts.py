"""Alert exchange between two agencies' homes: format, signatures, policy, refusals, effects.

Homes here hold a few inline staged rows (tests/factories/feature_world); the whole-night effect
on a simulated world is in tests/test_alerts_two_homes.py.
"""

from __future__ import annotations

import json
import stat
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contracts import threats
from contracts.alerts import SCHEMA_FILE, bundle_schema
from features.rules import evaluate_rules, rules_valid_on
from pipelines import layout
from pipelines.alerts.bundle import schema_errors
from pipelines.alerts.errors import AlertError
from pipelines.alerts.export import export_bundle
from pipelines.alerts.inbound import LIST_PREFIX, import_bundle, imported_dir
from pipelines.alerts.keys import (
    SharingPolicy,
    add_partner,
    init_keys,
    keys_dir,
    load_identity,
)
from pipelines.alerts.nightly import export_partner_alerts, import_landing_alerts
from pipelines.cli import app
from pipelines.io import write_parquet
from pipelines.rules import load_partner_rules
from pipelines.settings import Settings, load_settings
from pipelines.watchlists.store import current_version, manifests, read_entries
from tests.factories.feature_world import declarations, outcomes

SALW = threats.THREATS[1].name
CBRN = threats.THREATS[0].name
FOUND = date(2026, 3, 10)
SEIZED_SHIPPER = "Zaklad Mechaniczny Kowalski Sp. z o.o."


def _home(tmp_path: Path, name: str) -> Settings:
    return load_settings(environ={}, home=tmp_path / name)


def _stage_findings(settings: Settings) -> None:
    """A salw seizure (rifle parts declared as machine parts), a cbrn one, a clean inspection."""
    filed = declarations(
        FOUND - timedelta(days=1),
        {
            "declaration_id": "A-100",
            "item_no": 1,
            "hs_code": "930591",
            "goods_description": "machine parts",
            "shipper_name": SEIZED_SHIPPER,
            "shipper_country": "PL",
            "country_of_origin": "RS",
            "country_of_dispatch": "PL",
            "port_of_discharge": "XAPRT",
            "transshipment_ports": ["PLGDN"],
        },
        {"declaration_id": "A-101", "item_no": 1, "hs_code": "281211"},
        {"declaration_id": "A-102", "item_no": 1},
    )
    write_parquet(filed, layout.staged_declarations_file(settings, FOUND - timedelta(days=1)))
    inspected = outcomes(
        FOUND,
        {
            "declaration_id": "A-100",
            "item_no": 1,
            "result": "finding",
            "finding_category": SALW,
            "selection_reason": "rule",
        },
        {"declaration_id": "A-101", "result": "finding", "finding_category": CBRN},
        {"declaration_id": "A-102"},
    )
    write_parquet(inspected, layout.staged_outcomes_file(settings, FOUND))


@pytest.fixture
def agencies(tmp_path: Path) -> tuple[Settings, Settings]:
    """Agency A (with findings) and agency B, each trusting the other's key."""
    a, b = _home(tmp_path, "a"), _home(tmp_path, "b")
    init_keys(a, "agency-a")
    init_keys(b, "agency-b")
    add_partner(a, "agency-b", keys_dir(b) / "public.pem", SharingPolicy())
    add_partner(b, "agency-a", keys_dir(a) / "public.pem", SharingPolicy())
    _stage_findings(a)
    return a, b


def _export(a: Settings, out: Path, policy: SharingPolicy | None = None, **kw: object) -> dict:
    return export_bundle(
        a,
        load_identity(a),
        policy or SharingPolicy(),
        out,
        start=FOUND,
        end=FOUND,
        recipient="agency-b",
        **kw,  # type: ignore[arg-type]
    )


def test_the_shipped_schema_is_the_one_built_from_the_threat_registry() -> None:
    shipped = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert shipped == bundle_schema()
    categories = shipped["properties"]["seizures"]["items"]["properties"]["threat_category"]
    assert categories["enum"] == [*threats.NAMES, "other"]


def test_keys_are_made_once_with_an_owner_only_private_key(tmp_path: Path) -> None:
    home = _home(tmp_path, "x")
    identity = init_keys(home, "agency-x")
    mode = stat.S_IMODE((keys_dir(home) / "private.pem").stat().st_mode)
    assert mode == 0o600
    assert load_identity(home).key_id == identity.key_id
    with pytest.raises(AlertError, match="exists already"):
        init_keys(home, "agency-x")
    with pytest.raises(AlertError, match="agency name"):
        init_keys(home, "Agency X", replace=True)


def test_an_export_carries_the_period_s_findings_under_the_policy(
    agencies: tuple[Settings, Settings], tmp_path: Path
) -> None:
    a, _ = agencies
    bundle = _export(a, tmp_path / "out.json")
    assert schema_errors(bundle) == []
    assert bundle["issuer"] == "agency-a" and bundle["recipient"] == "agency-b"
    assert bundle["expires_on"] == (FOUND + timedelta(days=a.alerts_valid_days)).isoformat()
    seizures = {s["threat_category"]: s for s in bundle["seizures"]}
    assert set(seizures) == {SALW, CBRN}  # the clean inspection is not a seizure
    rifle = seizures[SALW]
    assert rifle["hs_code"] == "930591" and rifle["port"] == "XAPRT"
    assert rifle["route"]["origin"] == "RS" and rifle["route"]["transshipment_ports"] == ["PLGDN"]
    assert rifle["detection_method"] == "risk profile (expert rule)"
    assert rifle["shipper"]["name"] == SEIZED_SHIPPER
    [party] = [p for p in bundle["party_alerts"] if p["name"] == SEIZED_SHIPPER]
    assert party["related_seizure"] == rifle["alert_id"] and party["countries"] == ["PL"]
    assert {i["hs_prefix"] for i in bundle["indicators"]} == {"930591", "281211"}
    # Same findings, same bytes: ids are digests and Ed25519 signs deterministically.
    again = _export(a, tmp_path / "again.json")
    assert (tmp_path / "out.json").read_bytes() == (tmp_path / "again.json").read_bytes()
    assert again["bundle_id"] == bundle["bundle_id"]


def test_a_policy_withholds_fields_categories_and_names(
    agencies: tuple[Settings, Settings], tmp_path: Path
) -> None:
    a, _ = agencies
    policy = SharingPolicy(fields=("hs_code", "shipper"), pseudonymise=True, categories=(SALW,))
    bundle = _export(a, tmp_path / "p.json", policy)
    assert schema_errors(bundle) == []
    [seizure] = bundle["seizures"]
    assert seizure["threat_category"] == SALW
    assert set(seizure) == {"alert_id", "date", "threat_category", "severity", "hs_code", "shipper"}
    assert seizure["shipper"]["name"].startswith("pseud:")
    assert SEIZED_SHIPPER not in (tmp_path / "p.json").read_text(encoding="utf-8")
    high_only = _export(a, tmp_path / "h.json", SharingPolicy(categories=("other",)))
    assert high_only["seizures"] == []
    with pytest.raises(AlertError, match="unknown seizure field"):
        SharingPolicy(fields=("inspector_id",))


def test_an_imported_bundle_becomes_a_watch_list_and_rules_at_once(
    agencies: tuple[Settings, Settings], tmp_path: Path
) -> None:
    a, b = agencies
    bundle = _export(a, tmp_path / "out.json")
    result = import_bundle(b, tmp_path / "out.json", FOUND + timedelta(days=1))
    assert not result.already_imported
    entries = read_entries(b, LIST_PREFIX + "agency-a")
    seized = entries.filter(pl.col("name") == SEIZED_SHIPPER)
    assert seized.height == 1 and seized["countries"].to_list() == [["PL"]]
    assert seized["entry_id"][0].startswith("PA-")
    [manifest] = [m for m in manifests(b) if m["list"] == "partner-agency-a"]
    assert manifest["provenance"][0]["bundle_id"] == bundle["bundle_id"]
    assert manifest["expires_on"] == bundle["expires_on"]
    assert manifest["sources"][0]["file"] == f"{bundle['bundle_id']}.json"

    rules = load_partner_rules(b)
    assert {r.id.split("-IN-")[0] for r in rules} == {"PARTNER-AGENCY-A"}
    assert all(r.valid_from == FOUND and r.force == "none" for r in rules)
    items = declarations(
        FOUND + timedelta(days=2),
        {
            "declaration_id": "B-1",
            "hs_code": "930591",
            "country_of_origin": "RS",
            "country_of_dispatch": "PL",
        },
        {
            "declaration_id": "B-2",
            "hs_code": "930591",
            "country_of_origin": "DE",
            "country_of_dispatch": "PL",
        },
    )
    hits = evaluate_rules(rules, items, FOUND + timedelta(days=2))
    assert hits["declaration_id"].to_list() == ["B-1"]
    [indicator] = [i for i in bundle["indicators"] if i["hs_prefix"] == "930591"]
    assert indicator["alert_id"] in hits["title"][0]
    expired_day = date.fromisoformat(bundle["expires_on"]) + timedelta(days=1)
    assert rules_valid_on(rules, expired_day) == []

    again = import_bundle(b, tmp_path / "out.json", FOUND + timedelta(days=1))
    assert again.already_imported and again.lists == []  # nothing changed, no new version


def _refused(b: Settings, path: Path, on: date, reason: str) -> None:
    with pytest.raises(AlertError, match=reason) as caught:
        import_bundle(b, path, on)
    assert "\n" not in str(caught.value)
    assert not imported_dir(b).exists()
    assert current_version(b, LIST_PREFIX + "agency-a") is None
    assert load_partner_rules(b) == []


def test_a_tampered_copy_is_refused_and_nothing_is_imported(
    agencies: tuple[Settings, Settings], tmp_path: Path
) -> None:
    a, b = agencies
    _export(a, tmp_path / "out.json")
    text = (tmp_path / "out.json").read_text(encoding="utf-8")
    (tmp_path / "name.json").write_text(text.replace(SEIZED_SHIPPER, "Innocent Trading Co"))
    _refused(b, tmp_path / "name.json", FOUND, "signature does not verify")
    longer = json.loads(text)
    longer["expires_on"] = "2099-01-01"
    (tmp_path / "expiry.json").write_text(json.dumps(longer))
    _refused(b, tmp_path / "expiry.json", FOUND, "signature does not verify")
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    _refused(b, tmp_path / "cut.json", FOUND, "not JSON")


def test_expired_unknown_and_misaddressed_bundles_are_refused(
    agencies: tuple[Settings, Settings], tmp_path: Path
) -> None:
    a, b = agencies
    _export(a, tmp_path / "short.json", valid_days=3)
    _refused(b, tmp_path / "short.json", FOUND + timedelta(days=4), "expired on 2026-03-13")

    stranger = _home(tmp_path, "c")
    init_keys(stranger, "agency-c")
    _stage_findings(stranger)
    _export(stranger, tmp_path / "stranger.json")
    _refused(b, tmp_path / "stranger.json", FOUND, "unknown issuer 'agency-c'")

    # An impostor using A's name but its own key.
    impostor = _home(tmp_path, "i")
    init_keys(impostor, "agency-a")
    _stage_findings(impostor)
    _export(impostor, tmp_path / "impostor.json")
    _refused(b, tmp_path / "impostor.json", FOUND, "not agency-a's trusted key")

    other = _home(tmp_path, "d")
    init_keys(other, "agency-d")
    add_partner(other, "agency-a", keys_dir(a) / "public.pem", SharingPolicy())
    _export(a, tmp_path / "for-b.json")
    with pytest.raises(AlertError, match="addressed to agency-b, not to this agency"):
        import_bundle(other, tmp_path / "for-b.json", FOUND)


def test_the_nightly_tasks_move_bundles_through_outbox_and_landing(
    agencies: tuple[Settings, Settings], tmp_path: Path
) -> None:
    a, b = agencies
    summary = export_partner_alerts(a, FOUND)
    sent = Path(summary["exported"]["agency-b"]["file"])
    assert sent.parent == layout.alerts_outbox(a) / "agency-b"
    landing = layout.alerts_landing(b)
    landing.mkdir(parents=True)
    (landing / "good.json").write_bytes(sent.read_bytes())
    (landing / "bad.json").write_text(sent.read_text(encoding="utf-8").replace("930591", "930592"))
    result = import_landing_alerts(b, FOUND + timedelta(days=1))
    assert len(result["imported"]) == 1
    assert "signature does not verify" in result["refused"]["bad.json"]
    reason = layout.alerts_quarantine(b) / "bad.json.reason.txt"
    assert "signature does not verify" in reason.read_text(encoding="utf-8")
    assert result["lists_updated"] == [f"partner-agency-a {FOUND + timedelta(days=1)}"]
    assert import_landing_alerts(b, FOUND + timedelta(days=2))["lists_updated"] == []

    # After expiry the nightly refresh retires the partner's names (an empty version in force).
    after = FOUND + timedelta(days=a.alerts_valid_days + 1)
    (landing / "good.json").unlink()
    retired = import_landing_alerts(b, after)
    assert retired["lists_updated"] == [f"partner-agency-a {after}"]
    assert read_entries(b, LIST_PREFIX + "agency-a").is_empty()
    # Nothing to share on a day without findings: no file.
    assert export_partner_alerts(a, FOUND + timedelta(days=30))["exported"] == {}


def test_the_cli_exchanges_a_bundle_and_refuses_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = _home(tmp_path, "a"), _home(tmp_path, "b")
    _stage_findings(a)

    def run(home: Settings, *args: str) -> tuple[int, str]:
        done = runner.invoke(app, ["--home", str(home.home), "alerts", *args])
        return done.exit_code, done.output

    assert run(a, "keys", "init", "--issuer", "agency-a")[0] == 0
    assert run(b, "keys", "init", "--issuer", "agency-b")[0] == 0
    code, out = run(
        a,
        "partners",
        "add",
        "agency-b",
        "--key",
        str(keys_dir(b) / "public.pem"),
        "--min-severity",
        "high",
    )
    assert code == 0, out
    assert run(b, "partners", "add", "agency-a", "--key", str(keys_dir(a) / "public.pem"))[0] == 0
    code, out = run(b, "partners", "list")
    assert "agency-a" in out
    bundle = tmp_path / "bundle.json"
    code, out = run(
        a,
        "export",
        "--from",
        str(FOUND),
        "--to",
        str(FOUND),
        "--partner",
        "agency-b",
        "--out",
        str(bundle),
    )
    assert code == 0, out
    assert json.loads(out)["seizures"] == 2
    code, out = run(b, "import", str(bundle), "--on", str(FOUND))
    assert code == 0, out
    assert "imported: 2 seizures" in out and "partner-agency-a" in out
    bundle.write_text(bundle.read_text(encoding="utf-8").replace("XAPRT", "XAPRU"))
    code, out = run(b, "import", str(bundle), "--on", str(FOUND))
    assert code == 1
    assert "signature does not verify" in out and "nothing was imported" in out
