"""The two nightly tasks: import partners' bundles before scoring, export ours after publishing.

Import reads every `*.json` in `landing/alerts/`; a refused file is copied to `quarantine/alerts/`
with a `.reason.txt` and the night goes on (a partner's bad file must not stop our lists). The
partner lists and rules are then rebuilt as of the night, so alerts expire on time even on a night
with no new file. Export writes, for every trusted partner, one bundle of the findings inspected
in the `alerts_window_days` up to the night, under that partner's policy, to
`outbox/alerts/<partner>/<bundle_id>.json`; a night with nothing to share writes nothing, and a
rerun writes the same bytes (Ed25519 signatures are deterministic).
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from typing import Any

from pipelines import layout
from pipelines.alerts.bundle import to_text
from pipelines.alerts.errors import AlertError
from pipelines.alerts.export import build_bundle, bundle_summary, findings
from pipelines.alerts.inbound import import_bundle, refresh_partner_inputs
from pipelines.alerts.keys import load_identity, load_partners
from pipelines.io import write_text
from pipelines.settings import Settings


def _day(day: str | date) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def import_landing_alerts(settings: Settings, day: str | date) -> dict[str, Any]:
    """Import every bundle waiting in landing/alerts as of `day`; refuse the bad ones aside."""
    day = _day(day)
    imported: list[str] = []
    already: list[str] = []
    refused: dict[str, str] = {}
    updated: list[dict[str, Any]] = []
    folder = layout.alerts_landing(settings)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in files:
        try:
            result = import_bundle(settings, path, day)
        except AlertError as exc:
            refused[path.name] = str(exc)
            quarantine = layout.alerts_quarantine(settings)
            quarantine.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, quarantine / path.name)
            write_text(f"{exc}\n", quarantine / f"{path.name}.reason.txt")
            continue
        (already if result.already_imported else imported).append(result.bundle["bundle_id"])
        updated.extend(result.lists)
    lists, rules = refresh_partner_inputs(settings, day)
    updated.extend(lists)
    return {
        "imported": imported,
        "already_imported": already,
        "refused": refused,
        "lists_updated": sorted({f"{m['list']} {m['version']}" for m in updated}),
        "partner_rules": rules,
    }


def export_partner_alerts(settings: Settings, day: str | date) -> dict[str, Any]:
    """One signed bundle per trusted partner of the findings up to `day` (none without keys)."""
    day = _day(day)
    partners = load_partners(settings)
    if not partners:
        return {"exported": {}, "note": "no partners registered"}
    identity = load_identity(settings)
    start = day - timedelta(days=settings.alerts_window_days - 1)
    rows = findings(settings, start, day)
    exported: dict[str, Any] = {}
    for name, partner in sorted(partners.items()):
        bundle = build_bundle(
            rows,
            identity,
            partner.policy,
            start=start,
            end=day,
            issued_on=day,
            valid_days=settings.alerts_valid_days,
            recipient=name,
        )
        if not (bundle["seizures"] or bundle["party_alerts"] or bundle["indicators"]):
            continue
        target = layout.alerts_outbox(settings) / name / f"{bundle['bundle_id']}.json"
        write_text(to_text(bundle), target)
        exported[name] = {**bundle_summary(bundle), "file": str(target)}
    return {"exported": exported}
